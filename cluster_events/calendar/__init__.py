"""Calendar feeds, per-event .ics downloads and the subscription page."""

from cluster_events.calendar import sequence  # noqa: F401  (installs the SEQUENCE rule)
