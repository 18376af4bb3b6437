"""The undelivered-email screen (admins only)."""
