"""Attendee lists, check-in, exports, the reception roster, messages to registrants
and the purge of personal data (views register on the admin blueprint)."""
