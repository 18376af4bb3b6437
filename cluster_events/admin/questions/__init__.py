"""Console screens for an event's own questions on its registration form: list, add,
edit, move, remove."""
