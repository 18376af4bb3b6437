"""The SEQUENCE rule of the calendar, applied to every change of an event however
it is made (console, CLI, registration services): whenever the time, place,
title or status of an event that people may already hold in their calendars
changes, its SEQUENCE rises by one, so calendar clients replace their copy.

It runs as a ``before_flush`` hook so that no code path can forget it. Bulk
``UPDATE`` statements bypass the ORM and therefore this rule; change events
through the ORM.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from cluster_events.models import Event, EventStatus

#: What a calendar entry shows as its time, place, title and status.
CALENDAR_FIELDS = (
    "starts_at",
    "ends_at",
    "venue_id",
    "venue",
    "online_url",
    "title",
    "title_en",
    "status",
)


def calendar_fields_changed(event: Event) -> bool:
    """True when a pending change touches what calendars show."""
    state = inspect(event)
    for name in CALENDAR_FIELDS:
        history = state.attrs[name].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old != new:
            return True
    return False


def _was_draft(event: Event) -> bool:
    history = inspect(event).attrs.status.history
    before = history.deleted[0] if history.deleted else event.status
    return before == EventStatus.draft


def bump_sequence_if_changed(event: Event) -> bool:
    """Raise ``event.sequence`` when a pending change touches what calendars show.
    Drafts are nobody's calendar entry yet, so editing or publishing one does not
    count. Returns whether it was raised."""
    if _was_draft(event) or not calendar_fields_changed(event):
        return False
    if inspect(event).attrs.sequence.history.has_changes():
        return False
    event.sequence = (event.sequence or 0) + 1
    return True


_RAISED_KEY = "calendar_sequence_raised"


@sa_event.listens_for(Session, "before_flush")
def _raise_sequences(session: Session, flush_context: Any, instances: Any) -> None:
    # Once per transaction: subscribers only ever see committed states, so an
    # autoflush halfway through a change must not count as a change of its own.
    raised: set[Any] = session.info.setdefault(_RAISED_KEY, set())
    for instance in session.dirty:
        if not isinstance(instance, Event):
            continue
        key = inspect(instance).identity_key
        if key not in raised and bump_sequence_if_changed(instance):
            raised.add(key)


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_raised(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_RAISED_KEY, None)


def _keep_old_value(target: Event, value: Any, oldvalue: Any, initiator: Any) -> Any:
    return value


# With active_history the ORM loads the previous value before a change even when
# it was expired, so "set to the same time" is not mistaken for a move.
for _name in CALENDAR_FIELDS:
    sa_event.listen(getattr(Event, _name), "set", _keep_old_value, active_history=True, retval=True)
