"""Console screens for organizer accounts (admins only) and every organizer's own password."""
