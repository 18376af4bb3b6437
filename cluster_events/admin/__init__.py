"""Organizer console (事務局): events, attendee lists, check-in, exports.

View modules add their routes to the one blueprint; importing them here registers them.
"""

from cluster_events.admin import access  # noqa: F401  (login required for every /admin URL)
from cluster_events.admin.attendees import views as attendee_views  # noqa: F401
from cluster_events.admin.blueprint import bp

__all__ = ["bp"]
