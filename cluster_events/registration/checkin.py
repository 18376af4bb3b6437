"""Check-in at the door (受付): who is expected, and marking who came, each person of a
party (the registrant and each companion) on their own."""

from __future__ import annotations

from flask_babel import gettext as _

from cluster_events.audit import record_change
from cluster_events.database import utcnow
from cluster_events.errors import Conflict, NotFound
from cluster_events.models import Registration, RegistrationCompanion, RegistrationStatus
from cluster_events.registration.attendees import AttendeeFilter, list_attendees, lock_registration
from cluster_events.transactions import write_transaction


def checkin_list(event_id: int, query: str = "") -> list[Registration]:
    """Confirmed parties for the door, in kana order, each with its companions."""
    return list_attendees(
        event_id, AttendeeFilter(query=query, status=RegistrationStatus.confirmed)
    )


def people_count(registrations: list[Registration]) -> int:
    return sum(registration.party_size for registration in registrations)


def check_in(
    event_id: int,
    registration_id: int,
    *,
    arrived: bool = True,
    companion_id: int | None = None,
    whole_party: bool = False,
) -> Registration:
    """Mark someone as arrived (or undo it): the registrant, one of their companions
    (``companion_id``), or everyone of the party (``whole_party``). Pressing the button
    twice changes nothing."""
    with write_transaction():
        registration = lock_registration(event_id, registration_id)
        if registration.status != RegistrationStatus.confirmed:
            raise Conflict(_("Only confirmed participants can be checked in."))
        people: list[tuple[int | None, Registration | RegistrationCompanion]] = []
        if companion_id is not None:
            companion = next((c for c in registration.companions if c.id == companion_id), None)
            if companion is None:
                raise NotFound(_("This companion does not belong to this registration."))
            people.append((companion.position, companion))
        else:
            people.append((None, registration))
            if whole_party:
                people += [(companion.position, companion) for companion in registration.companions]
        now = utcnow() if arrived else None
        for position, person in people:
            before = person.checked_in_at
            if (before is not None) == arrived:
                continue
            person.checked_in_at = now
            details = {} if position is None else {"companion": position}
            record_change(
                "registration.check_in" if arrived else "registration.undo_check_in",
                "registration",
                registration.id,
                event_id=event_id,
                before={"checked_in_at": before, **details},
                after={"checked_in_at": now, **details},
            )
    return registration
