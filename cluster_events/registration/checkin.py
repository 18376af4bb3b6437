"""Check-in at the door (受付): who is expected, and marking who came."""

from __future__ import annotations

from flask_babel import gettext as _

from cluster_events.audit import record_change
from cluster_events.database import utcnow
from cluster_events.errors import Conflict
from cluster_events.models import Registration, RegistrationStatus
from cluster_events.registration.attendees import AttendeeFilter, list_attendees, lock_registration
from cluster_events.transactions import write_transaction


def checkin_list(event_id: int, query: str = "") -> list[Registration]:
    """Confirmed people for the door, in kana order."""
    return list_attendees(
        event_id, AttendeeFilter(query=query, status=RegistrationStatus.confirmed)
    )


def check_in(event_id: int, registration_id: int, *, arrived: bool = True) -> Registration:
    """Mark someone as arrived (or undo it). Pressing the button twice changes nothing."""
    with write_transaction():
        registration = lock_registration(event_id, registration_id)
        if registration.status != RegistrationStatus.confirmed:
            raise Conflict(_("Only confirmed participants can be checked in."))
        if (registration.checked_in_at is not None) == arrived:
            return registration
        before = {"checked_in_at": registration.checked_in_at}
        registration.checked_in_at = utcnow() if arrived else None
        record_change(
            "registration.check_in" if arrived else "registration.undo_check_in",
            "registration",
            registration.id,
            event_id=event_id,
            before=before,
            after={"checked_in_at": registration.checked_in_at},
        )
    return registration
