"""Organizer console (事務局): events, attendee lists, check-in, exports."""

from cluster_events.admin.blueprint import bp

__all__ = ["bp"]
