"""The audit log screen (admins only)."""
