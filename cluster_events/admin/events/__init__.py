"""Console screens for events: the dashboard, the list, create, edit, publish, duplicate, cancel."""
