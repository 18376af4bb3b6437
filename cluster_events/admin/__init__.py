"""Organizer console (事務局): the screens for events and the questions of their
registration forms, venues and categories, attendee lists, check-in, exports, messages,
undelivered emails, the member list, accounts and the audit log.

Only routes, forms and access control live here; every rule they apply is a domain
service (events/, registration/, auth/). Each screen group adds its routes to the
one blueprint; importing them here registers them (``access`` first: login is
required for every /admin URL).
"""

from cluster_events.admin import access  # noqa: F401
from cluster_events.admin.accounts import routes as account_routes  # noqa: F401
from cluster_events.admin.attendees import routes as attendee_routes  # noqa: F401
from cluster_events.admin.audit import routes as audit_routes  # noqa: F401
from cluster_events.admin.blueprint import bp
from cluster_events.admin.events import frames as frame_routes  # noqa: F401
from cluster_events.admin.events import routes as event_routes  # noqa: F401
from cluster_events.admin.events import sessions as session_routes  # noqa: F401
from cluster_events.admin.mail import routes as mail_routes  # noqa: F401
from cluster_events.admin.members import routes as member_routes  # noqa: F401
from cluster_events.admin.members import spreadsheets as member_file_routes  # noqa: F401
from cluster_events.admin.questions import routes as question_routes  # noqa: F401
from cluster_events.admin.venues_categories import routes as venue_category_routes  # noqa: F401

__all__ = ["bp"]
