"""Check-in at the door (受付): who is expected, and marking who came, each person of a
party (the registrant and each companion) on their own. For a course (an event with
sessions) an arrival is per session (``SessionAttendance``: one per registration,
person and session); the door works on one session at a time, today's by default."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import delete, select

from cluster_events.audit import record_change
from cluster_events.database import utcnow
from cluster_events.errors import Conflict, NotFound
from cluster_events.extensions import db
from cluster_events.models import (
    Event,
    EventSession,
    Registration,
    RegistrationCompanion,
    RegistrationStatus,
    SessionAttendance,
)
from cluster_events.registration.attendees import AttendeeFilter, list_attendees, lock_registration
from cluster_events.timefmt import to_tokyo
from cluster_events.transactions import write_transaction


def checkin_list(event_id: int, query: str = "") -> list[Registration]:
    """Confirmed parties for the door, in kana order, each with its companions."""
    return list_attendees(
        event_id, AttendeeFilter(query=query, status=RegistrationStatus.confirmed)
    )


def people_count(registrations: list[Registration]) -> int:
    return sum(registration.party_size for registration in registrations)


def door_session(
    event: Event, session_id: int | None, now: datetime | None = None
) -> EventSession | None:
    """The session the door works on: the one asked for, else today's (Tokyo), else the
    next one to start, else the last. None for an event without sessions; NotFound for
    a session of another event."""
    if not event.session_count:
        return None
    if session_id is not None:
        session = event.session_by_id(session_id)
        if session is None:
            raise NotFound(_("This session does not belong to this event."))
        return session
    now = now or utcnow()
    today = to_tokyo(now).date()
    sessions = event.sessions
    for session in sessions:
        if to_tokyo(session.starts_at).date() <= today <= to_tokyo(session.ends_at).date():
            return session
    upcoming = [session for session in sessions if session.starts_at > now]
    return upcoming[0] if upcoming else sessions[-1]


def session_arrivals(session_id: int) -> dict[tuple[int, int], datetime]:
    """Who came to one session: (registration id, person) -> when; person 0 is the
    registrant, n the companion at position n."""
    rows = db.session.execute(
        select(
            SessionAttendance.registration_id,
            SessionAttendance.person,
            SessionAttendance.checked_in_at,
        ).where(SessionAttendance.session_id == session_id)
    )
    return {(registration_id, person): at for registration_id, person, at in rows}


def event_arrivals(event_id: int) -> dict[tuple[int, int, int], datetime]:
    """Every arrival at the event's sessions: (session, registration, person) -> when."""
    rows = db.session.execute(
        select(
            SessionAttendance.session_id,
            SessionAttendance.registration_id,
            SessionAttendance.person,
            SessionAttendance.checked_in_at,
        )
        .join(EventSession, EventSession.id == SessionAttendance.session_id)
        .where(EventSession.event_id == event_id)
    )
    return {(session, registration, person): at for session, registration, person, at in rows}


def check_in(
    event_id: int,
    registration_id: int,
    *,
    arrived: bool = True,
    companion_id: int | None = None,
    whole_party: bool = False,
    session_id: int | None = None,
) -> Registration:
    """Mark someone as arrived (or undo it): the registrant, one of their companions
    (``companion_id``), or everyone of the party (``whole_party``). Pressing the button
    twice changes nothing. For a course, at one session (``session_id``, by default
    the door's: ``door_session``)."""
    with write_transaction():
        registration = lock_registration(event_id, registration_id)
        session = door_session(registration.event, session_id)
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
        if session is not None:
            _session_check_in(registration, session, people, now)
            return registration
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


def _session_check_in(
    registration: Registration,
    session: EventSession,
    people: list[tuple[int | None, Registration | RegistrationCompanion]],
    now: datetime | None,
) -> None:
    arrivals = session_arrivals(session.id)
    for position, _person in people:
        key = (registration.id, position or 0)
        before = arrivals.get(key)
        if (before is not None) == (now is not None):
            continue
        if now is not None:
            db.session.add(
                SessionAttendance(
                    session_id=session.id,
                    registration_id=registration.id,
                    person=position or 0,
                    checked_in_at=now,
                )
            )
        else:
            db.session.execute(
                delete(SessionAttendance).where(
                    SessionAttendance.session_id == session.id,
                    SessionAttendance.registration_id == registration.id,
                    SessionAttendance.person == (position or 0),
                )
            )
        details: dict[str, object] = {"session": session.position}
        if position is not None:
            details["companion"] = position
        record_change(
            "registration.check_in" if now is not None else "registration.undo_check_in",
            "registration",
            registration.id,
            event_id=registration.event_id,
            before={"checked_in_at": before, **details},
            after={"checked_in_at": now, **details},
        )
