"""Organizer console (事務局): events, attendee lists, check-in, exports.

View modules add their routes to the one blueprint; importing them here registers them
(``access`` first: login is required for every /admin URL).
"""

from cluster_events.admin import (  # noqa: F401
    access,
    accounts,
    audit_log,
    categories,
    dashboard,
    events,
    venues,
)
from cluster_events.admin.attendees import views as attendee_views  # noqa: F401
from cluster_events.admin.blueprint import bp

__all__ = ["bp"]
