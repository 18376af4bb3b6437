"""The SEQUENCE rule of the calendar, applied to every change of an event however
it is made (console, CLI, registration services): whenever the time, place,
title or status of an event that people may already hold in their calendars
changes, its SEQUENCE rises by one, so calendar clients replace their copy.

A course's sessions (``EventSession``) each have their own calendar entry and their
own SEQUENCE (``SESSION_CALENDAR_FIELDS``); the entry's SEQUENCE is the event's plus the
session's, so a change of the event's title, place or status raises every session's
entry, and moving one session raises only its own. For an event with sessions, its own
start and end merely follow the first and the last session: they raise nothing.

It runs as a ``before_flush`` hook so that no code path can forget it. Bulk
``UPDATE`` statements bypass the ORM and therefore this rule; change events
through the ORM.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from cluster_events.models import Event, EventSession, EventStatus

#: What a calendar entry shows as its time, place, title and status.
CALENDAR_FIELDS = (
    "starts_at",
    "ends_at",
    "is_all_day",
    "venue_id",
    "venue",
    "online_url",
    "title",
    "title_en",
    "status",
)
#: The event's times, which a course's sessions carry instead.
TIME_FIELDS = ("starts_at", "ends_at", "is_all_day")
#: What a session's own entry shows of the session: its times, place, number and status.
SESSION_CALENDAR_FIELDS = (
    "starts_at",
    "ends_at",
    "is_all_day",
    "venue_id",
    "venue",
    "position",
    "status",
)


def _has_sessions(event: Event) -> bool:
    history = inspect(event).attrs.session_count.history
    return bool(event.session_count) or any(history.deleted)


def calendar_fields_changed(instance: Event | EventSession) -> bool:
    """True when a pending change touches what calendars show."""
    state = inspect(instance)
    if isinstance(instance, EventSession):
        names: tuple[str, ...] = SESSION_CALENDAR_FIELDS
    elif _has_sessions(instance):
        names = tuple(name for name in CALENDAR_FIELDS if name not in TIME_FIELDS)
    else:
        names = CALENDAR_FIELDS
    for name in names:
        history = state.attrs[name].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old != new:
            return True
    return False


def _was_draft(instance: Event | EventSession) -> bool:
    if isinstance(instance, EventSession):
        # A session being removed (no event any more) is nobody's entry either.
        return instance.event is None or instance.event.is_draft
    event = instance
    history = inspect(event).attrs.status.history
    before = history.deleted[0] if history.deleted else event.status
    return before == EventStatus.draft


def bump_sequence_if_changed(instance: Event | EventSession) -> bool:
    """Raise the event's (or the session's) ``sequence`` when a pending change touches
    what calendars show. Drafts are nobody's calendar entry yet, so editing or
    publishing one does not count. Returns whether it was raised."""
    if _was_draft(instance) or not calendar_fields_changed(instance):
        return False
    if inspect(instance).attrs.sequence.history.has_changes():
        return False
    instance.sequence = (instance.sequence or 0) + 1
    return True


_RAISED_KEY = "calendar_sequence_raised"


@sa_event.listens_for(Session, "before_flush")
def _raise_sequences(session: Session, flush_context: Any, instances: Any) -> None:
    # Once per transaction: subscribers only ever see committed states, so an
    # autoflush halfway through a change must not count as a change of its own.
    raised: set[Any] = session.info.setdefault(_RAISED_KEY, set())
    for instance in session.dirty:
        if not isinstance(instance, (Event, EventSession)):
            continue
        key = inspect(instance).identity_key
        if key not in raised and bump_sequence_if_changed(instance):
            raised.add(key)


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_raised(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_RAISED_KEY, None)


def _keep_old_value(target: object, value: Any, oldvalue: Any, initiator: Any) -> Any:
    return value


# With active_history the ORM loads the previous value before a change even when
# it was expired, so "set to the same time" is not mistaken for a move.
for _name in CALENDAR_FIELDS:
    sa_event.listen(getattr(Event, _name), "set", _keep_old_value, active_history=True, retval=True)
for _name in SESSION_CALENDAR_FIELDS:
    sa_event.listen(
        getattr(EventSession, _name), "set", _keep_old_value, active_history=True, retval=True
    )
sa_event.listen(Event.session_count, "set", _keep_old_value, active_history=True, retval=True)
