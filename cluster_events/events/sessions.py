"""The sessions of a course (全N回), as the office runs them: add, move, cancel and
remove one session; and the rules each follows.

- Sessions are numbered in date order (``EventSession.position``, 第1回, 第2回...) and
  never overlap: a session ends before the next one starts. A new session comes after
  the last one; a moved one stays between its neighbours (else "out of order").
- The event's ``starts_at`` and ``ends_at`` are the first session's start and the
  last one's end, ``is_all_day`` whether every session is all-day, and
  ``session_count`` their number, kept in step here under the event row lock
  (``_sync_event``), so lists, pages, cache keys and status rules read the event row
  as before.
- The first session added to an event of one date makes that date session 1.
- Moving or cancelling one session tells the registrants about that session only
  (events.notifications), and raises only its entry's SEQUENCE (calendar.sequence).
- A session is removed only while nobody is registered (or the event is a draft);
  otherwise it is cancelled. The last session is never removed.

Each public function runs in one ``write_transaction(lock_event=...)``: it validates,
changes, audits, queues emails and commits, or changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import LazyString
from flask_babel import gettext as _
from sqlalchemy import delete

from cluster_events.audit import record_change
from cluster_events.errors import Conflict, NotFound, ServiceError
from cluster_events.events import notifications
from cluster_events.events.queries import active_registrations
from cluster_events.extensions import db
from cluster_events.i18n import current_locale
from cluster_events.models import (
    Event,
    EventSession,
    SessionAttendance,
    SessionReminder,
    SessionStatus,
    Venue,
)
from cluster_events.schedule import session_dates, session_label
from cluster_events.timefmt import format_datetime, to_tokyo
from cluster_events.transactions import write_transaction


@dataclass
class SessionData:
    """A session's editable fields, parsed by the form (datetimes aware; an all-day
    session from 00:00 Tokyo of its first day to 00:00 of the day after its last)."""

    starts_at: datetime
    ends_at: datetime
    is_all_day: bool = False
    #: None: the event's venue.
    venue_id: int | None = None

    @classmethod
    def from_session(cls, session: EventSession) -> SessionData:
        return cls(session.starts_at, session.ends_at, session.is_all_day, session.venue_id)


@dataclass
class SessionUpdate:
    session: EventSession
    changes: list[str]
    notified: int


def _is_midnight(value: datetime) -> bool:
    local = to_tokyo(value)
    return (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)


def time_errors(starts_at: datetime, ends_at: datetime, is_all_day: bool) -> dict[str, str]:
    """The span itself: it ends after it starts; an all-day span has no time. Keys are
    the form's fields (an all-day span is typed as its first and last day)."""
    if is_all_day:
        if not (_is_midnight(starts_at) and _is_midnight(ends_at)):
            return {
                "starts_at": _(
                    "An all-day event has dates only, no time. Clear the start and end "
                    "times, or untick “All day”."
                )
            }
        if ends_at <= starts_at:
            return {"last_day": _("The last day cannot be before the first day.")}
        return {}
    if ends_at <= starts_at:
        return {"ends_at": _("The end must be after the start.")}
    return {}


def _neighbour_errors(
    event: Event, data: SessionData, position: int, others: list[EventSession]
) -> dict[str, str]:
    """Sessions in date order without overlapping: the one before ends before this one
    starts, the one after starts after this one ends."""
    field = "first_day" if data.is_all_day else "starts_at"
    before = [s for s in others if s.position < position]
    after = [s for s in others if s.position > position]
    if before:
        previous = before[-1]
        if data.starts_at < previous.starts_at:
            return {
                field: _(
                    "Out of order: session %(number)d cannot start before session %(before)d "
                    "(%(when)s). Sessions are numbered in date order; add a later session "
                    "instead.",
                    number=position,
                    before=previous.position,
                    when=session_dates(previous, current_locale()),
                )
            }
        if data.starts_at < previous.ends_at:
            return {
                field: _(
                    "This overlaps session %(before)d (%(when)s). A session must start "
                    "after the one before it ends.",
                    before=previous.position,
                    when=session_dates(previous, current_locale()),
                )
            }
    if after:
        following = after[0]
        end_field = "last_day" if data.is_all_day else "ends_at"
        if data.starts_at >= following.starts_at:
            return {
                field: _(
                    "Out of order: session %(number)d cannot start after session %(after)d "
                    "(%(when)s). Sessions are numbered in date order.",
                    number=position,
                    after=following.position,
                    when=session_dates(following, current_locale()),
                )
            }
        if data.ends_at > following.starts_at:
            return {
                end_field: _(
                    "This overlaps session %(after)d (%(when)s). A session must end before "
                    "the next one starts.",
                    after=following.position,
                    when=session_dates(following, current_locale()),
                )
            }
    return {}


def _registration_errors(event: Event, data: SessionData, position: int) -> dict[str, str]:
    """Registration closes before the course starts (its first session)."""
    if position != 1:
        return {}
    field = "first_day" if data.is_all_day else "starts_at"
    closes, opens = event.registration_closes_at, event.registration_opens_at
    if closes is not None and closes > data.starts_at:
        return {
            field: _(
                "Registration closes on %(when)s, after this start. Move the registration "
                "deadline on the event's form first.",
                when=format_datetime(closes, current_locale()),
            )
        }
    if opens is not None and opens >= data.starts_at:
        return {
            field: _(
                "Registration opens on %(when)s, after this start. Change the registration "
                "period on the event's form first.",
                when=format_datetime(opens, current_locale()),
            )
        }
    return {}


def _validate(
    event: Event, data: SessionData, position: int, others: list[EventSession]
) -> dict[str, str]:
    errors = time_errors(data.starts_at, data.ends_at, data.is_all_day)
    if not errors:
        errors = _neighbour_errors(event, data, position, others) or _registration_errors(
            event, data, position
        )
    if data.venue_id is not None and db.session.get(Venue, data.venue_id) is None:
        errors["venue_id"] = _("Choose a venue from the list.")
    return errors


def _sync_event(event: Event) -> None:
    """The event's span, all-day flag and count from its sessions (in position order)."""
    sessions = sorted(event.sessions, key=lambda s: s.position)
    event.session_count = len(sessions)
    if sessions:
        event.starts_at = sessions[0].starts_at
        event.ends_at = sessions[-1].ends_at
        event.is_all_day = all(s.is_all_day for s in sessions)


def _new_session(event: Event, position: int, data: SessionData) -> EventSession:
    session = EventSession(
        position=position,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        is_all_day=data.is_all_day,
        venue_id=data.venue_id,
        status=SessionStatus.scheduled,
        uid=Event.new_uid(current_app.config["CALENDAR_UID_DOMAIN"]),
        sequence=0,
    )
    event.sessions.append(session)
    return session


def _snapshot(session: EventSession) -> dict[str, Any]:
    return {
        "position": session.position,
        "starts_at": to_tokyo(session.starts_at).isoformat(timespec="minutes"),
        "ends_at": to_tokyo(session.ends_at).isoformat(timespec="minutes"),
        "is_all_day": session.is_all_day,
        "venue_id": session.venue_id,
        "status": session.status,
    }


def _audit(action: str, event: Event, session: EventSession, before: dict, after: dict) -> None:
    record_change(
        action, "event_session", session.id, event_id=event.id, before=before, after=after
    )


def _session_of(event: Event, session_id: int) -> EventSession:
    session = event.session_by_id(session_id)
    if session is None:
        raise NotFound(_("This session does not belong to this event."))
    return session


def add_session(event_id: int, data: SessionData) -> EventSession:
    """A new session after the last one. An event of one date first becomes a course
    whose session 1 is that date."""
    with write_transaction(lock_event=event_id) as event:
        assert event is not None
        if event.is_cancelled:
            raise Conflict(_("A cancelled event gets no new sessions."))
        if not event.sessions:
            first = _new_session(
                event,
                1,
                SessionData(event.starts_at, event.ends_at, event.is_all_day, None),
            )
            db.session.flush()
            _audit("event_session.add", event, first, {}, _snapshot(first))
        others = list(event.sessions)
        position = others[-1].position + 1
        if errors := _validate(event, data, position, others):
            raise ServiceError(field_errors=errors)
        session = _new_session(event, position, data)
        _sync_event(event)
        db.session.flush()
        _audit("event_session.add", event, session, {}, _snapshot(session))
    return session


def preview_changes(session: EventSession, data: SessionData) -> list[str]:
    """Which of "time" and "place" would change."""
    changes = []
    if (session.starts_at, session.ends_at, session.is_all_day) != (
        data.starts_at,
        data.ends_at,
        data.is_all_day,
    ):
        changes.append("time")
    if session.venue_id != data.venue_id:
        changes.append("place")
    return changes


def _place_name(event: Event, venue_id: int | None) -> str:
    venue = db.session.get(Venue, venue_id) if venue_id is not None else event.venue
    if venue is not None:
        return venue.display_name(current_locale())
    return _("Online") if event.online_url else _("To be announced")


def _change_lines(
    event: Event, session: EventSession, data: SessionData, changes: list[str]
) -> list[Any]:
    """Lines for the registrants' email, rendered in each reader's language."""
    position = session.position
    old = SessionData.from_session(session)
    old_venue, new_venue = old.venue_id, data.venue_id
    lines: list[Any] = []

    def dates(values: SessionData) -> str:
        probe = EventSession(
            position=position,
            starts_at=values.starts_at,
            ends_at=values.ends_at,
            is_all_day=values.is_all_day,
        )
        return session_dates(probe, current_locale())

    if "time" in changes:
        lines.append(
            LazyString(
                lambda: _(
                    "%(session)s: date and time now %(new)s (was %(old)s)",
                    session=session_label(position, current_locale()),
                    new=dates(data),
                    old=dates(old),
                )
            )
        )
    if "place" in changes:
        lines.append(
            LazyString(
                lambda: _(
                    "%(session)s: venue now %(new)s (was %(old)s)",
                    session=session_label(position, current_locale()),
                    new=_place_name(event, new_venue),
                    old=_place_name(event, old_venue),
                )
            )
        )
    return lines


def update_session(
    event_id: int, session_id: int, data: SessionData, *, notify: bool = True
) -> SessionUpdate:
    """Move a session or change its venue. With ``notify`` (and a published event with
    active registrations), each registrant is told about this session only, with its
    calendar entry alone; the other sessions' entries stay as they were."""
    with write_transaction(lock_event=event_id) as event:
        assert event is not None
        session = _session_of(event, session_id)
        others = [s for s in event.sessions if s.id != session.id]
        if errors := _validate(event, data, session.position, others):
            raise ServiceError(field_errors=errors)
        changes = preview_changes(session, data)
        if not changes:
            return SessionUpdate(session, [], 0)
        before = _snapshot(session)
        lines = _change_lines(event, session, data, changes)
        session.starts_at = data.starts_at
        session.ends_at = data.ends_at
        session.is_all_day = data.is_all_day
        session.venue_id = data.venue_id
        _sync_event(event)
        db.session.flush()
        db.session.expire(session, ["venue"])
        notified = 0
        if notify and event.is_published and not session.is_cancelled:
            registrations = active_registrations(event.id)
            notifications.queue_session_changed(event, session, registrations, lines)
            notified = len(notifications.active(registrations))
        after = _snapshot(session)
        after["recipients"] = notified
        _audit("event_session.update", event, session, before, after)
    return SessionUpdate(session, changes, notified)


def cancel_session(event_id: int, session_id: int, reason: str) -> tuple[EventSession, int]:
    """Cancel one session (中止): it stays listed, marked cancelled, and every
    registrant is told about it alone, with a METHOD:CANCEL of its entry. The course
    goes on; registrations are unchanged."""
    reason = reason.strip()
    if not reason:
        raise ServiceError(
            field_errors={"reason": _("Write the reason; registrants will read it.")}
        )
    with write_transaction(lock_event=event_id) as event:
        assert event is not None
        session = _session_of(event, session_id)
        if session.is_cancelled or event.is_cancelled:
            raise Conflict(_("This session has already been cancelled."))
        before = _snapshot(session)
        session.status = SessionStatus.cancelled
        session.cancellation_reason = reason
        db.session.flush()
        count = 0
        if event.is_published:
            registrations = active_registrations(event.id)
            notifications.queue_session_cancelled(event, session, registrations, reason)
            count = len(notifications.active(registrations))
        after = _snapshot(session)
        after.update(cancellation_reason=reason, recipients=count)
        _audit("event_session.cancel", event, session, before, after)
    return session, count


def remove_session(event_id: int, session_id: int) -> None:
    """Remove a session while nobody is registered (or the event is a draft); the later
    ones move up a number. The last session stays: an event always has a date."""
    with write_transaction(lock_event=event_id) as event:
        assert event is not None
        session = _session_of(event, session_id)
        if len(event.sessions) <= 1:
            raise Conflict(_("The last session cannot be removed: an event needs a date."))
        if not event.is_draft and active_registrations(event.id):
            raise Conflict(
                _(
                    "People are registered for this course: cancel the session instead, "
                    "so that they are told."
                )
            )
        before = _snapshot(session)
        position = session.position
        for model in (SessionAttendance, SessionReminder):  # of cancelled registrations
            db.session.execute(delete(model).where(model.session_id == session.id))
        event.sessions.remove(session)
        db.session.flush()
        # Renumber the later ones in two steps: (event_id, position) is unique.
        later = sorted(
            (s for s in event.sessions if s.position > position), key=lambda s: s.position
        )
        for offset, other in enumerate(later):
            other.position = -1 - offset
        db.session.flush()
        for offset, other in enumerate(later):
            other.position = position + offset
        _sync_event(event)
        db.session.flush()
        _audit("event_session.remove", event, session, before, {})


def copy_sessions(source: Event, copy: Event, shift: Any) -> None:
    """A duplicate's sessions: the source's, moved by ``shift`` (a timedelta), each
    with its own new UID, scheduled (a cancelled one too), SEQUENCE 0."""
    for session in source.sessions:
        _new_session(
            copy,
            session.position,
            SessionData(
                session.starts_at + shift,
                session.ends_at + shift,
                session.is_all_day,
                session.venue_id,
            ),
        )
    _sync_event(copy)
