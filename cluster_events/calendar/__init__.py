"""Calendar feeds, per-event .ics downloads and the subscription page."""

from cluster_events.calendar import services  # noqa: F401  (installs the SEQUENCE rule)
