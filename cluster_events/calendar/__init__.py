"""Calendar feeds, per-event .ics downloads and the subscription page."""

# Both install flush hooks: what calendars show changed, and the SEQUENCE rule.
from cluster_events.calendar import content_version, sequence  # noqa: F401
