"""When what the calendars show changes: ``Event.content_updated_at`` and the one-row
``calendar_version``.

A calendar entry shows only part of an event (title, times, place, summary, fee,
status, ...), with its venue and category; not its seats, waiting list, registration
window, participation frames or page text. Registering changes seat counts and so
``Event.updated_at``, and feeds used to change with every registration although
nothing in them had. Whenever a flush changes something calendars show, however it is
made (console, CLI, services), this ``before_flush`` hook

- sets the event's ``content_updated_at`` (its entry's LAST-MODIFIED and DTSTAMP, and
  the per-event file's validator), and
- gives the row of ``calendar_version`` a new random token, in the same transaction
  (not for a draft that stays a draft: no calendar shows it).

The public feeds' ETags and the feeds each process keeps built are keyed by that token
(read from the database on every poll), so a poll costs one read of one row, whatever
the number of events, and no worker or host can serve a feed older than the data. A
random token rather than a counter: a database restored from a backup never pairs a
number seen before with other data.

A course's sessions (``EventSession``) count too: a change of one sets its own
``content_updated_at`` (its entry's stamps) and the event's (so every version that
reads the event sees it), and a change the event's entries share (title, place,
status...: not its start and end, which follow the sessions) sets every session's, so
moving one session leaves the other entries byte for byte as they were.

Every column counts unless it is listed in ``NOT_SHOWN_IN_CALENDARS``: a new column
costs at worst a rebuilt feed, never a stale one. Like ``calendar.sequence``, bulk
``UPDATE`` statements bypass the hook; change events through the ORM.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, inspect, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from cluster_events.database import utcnow
from cluster_events.models import (
    CalendarVersion,
    Category,
    Event,
    EventSession,
    EventStatus,
    Venue,
)

#: Event columns no calendar shows (feeds, .ics files, email attachments); changing
#: them changes neither content_updated_at nor the token.
NOT_SHOWN_IN_CALENDARS = frozenset(
    {
        "body",
        "capacity",
        "registration_opens_at",
        "registration_closes_at",
        "accepts_registrations",
        "confirmed_count",
        "waiting_count",
        "question_count",
        "questions_revision",
        "frame_count",
        "updated_at",
        "content_updated_at",
    }
)
#: An event's columns that its sessions' entries do not share: a course's start and end
#: follow its sessions, which count for themselves.
NOT_SHARED_WITH_SESSIONS = frozenset({"starts_at", "ends_at", "is_all_day", "session_count"})
_SHOWN_CLASSES = (Event, Venue, Category, EventSession)
_ROW_ID = 1
_TABLE = CalendarVersion.__table__

#: The only statement of a poll answered before Flask (calendar.polls): no parameter,
#: so it reads the same on every driver.
TOKEN_SQL = f"SELECT token FROM {_TABLE.name} WHERE id = {_ROW_ID}"
TOKEN_QUERY = select(CalendarVersion.token, CalendarVersion.changed_at).where(
    CalendarVersion.id == _ROW_ID
)


def _changed(value_before: list[Any], value_after: list[Any]) -> bool:
    if not value_after:
        return bool(value_before)
    if not value_before:
        return True  # the old value was not loaded: count it
    return value_before[0] != value_after[0]


def shows_a_change(instance: object, also_ignored: frozenset[str] = frozenset()) -> bool:
    """True when a pending change of this event, venue, category or session shows in
    calendars (relationships count too: ``event.venue = other`` sets venue_id only at
    the flush)."""
    state = inspect(instance)
    if isinstance(instance, Event):
        ignored = NOT_SHOWN_IN_CALENDARS | also_ignored
    elif isinstance(instance, EventSession):
        ignored = frozenset({"content_updated_at", "event"})
    else:
        ignored = frozenset()
    for attribute in state.mapper.attrs:
        if attribute.key in ignored:
            continue
        if getattr(attribute, "uselist", False):
            continue  # a collection (category.events): each event counts for itself
        history = state.attrs[attribute.key].history
        if history.has_changes() and _changed(list(history.deleted), list(history.added)):
            return True
    return False


def new_token(connection: Connection) -> None:
    """A new token for every public calendar, in the connection's transaction. The row
    is written again if it is missing (a database emptied by hand)."""
    values = {"token": uuid.uuid4().hex, "changed_at": utcnow()}
    result = connection.execute(update(_TABLE).where(_TABLE.c.id == _ROW_ID).values(**values))
    if result.rowcount == 0:
        connection.execute(_TABLE.insert().values(id=_ROW_ID, **values))


def _in_no_calendar(event: Event) -> bool:
    """A draft, before and after the pending change: nobody's calendar shows it."""
    history = inspect(event).attrs.status.history
    before = history.deleted[0] if history.deleted else event.status
    return before in (None, EventStatus.draft) and event.status in (None, EventStatus.draft)


def _counts(instance: object) -> bool:
    if isinstance(instance, EventSession):
        return instance.event is not None and not _in_no_calendar(instance.event)
    return isinstance(instance, _SHOWN_CLASSES) and not (
        isinstance(instance, Event) and _in_no_calendar(instance)
    )


def _session_changed(session_row: EventSession, now: Any) -> None:
    session_row.content_updated_at = now
    if session_row.event is not None:
        session_row.event.content_updated_at = now


@sa_event.listens_for(Session, "before_flush")
def _note_calendar_changes(session: Session, flush_context: Any, instances: Any) -> None:
    # A new venue or category shows nowhere until an event names it (that event counts).
    changed = any(
        isinstance(instance, (Event, EventSession)) and _counts(instance)
        for instance in session.new
    ) or any(_counts(instance) for instance in session.deleted)
    now = None
    for instance in [*session.new, *session.deleted]:
        if isinstance(instance, EventSession) and instance.event is not None:
            now = now or utcnow()
            instance.event.content_updated_at = now
            if instance in session.new:
                instance.content_updated_at = now
    for instance in session.dirty:
        if isinstance(instance, _SHOWN_CLASSES) and shows_a_change(instance):
            now = now or utcnow()
            if isinstance(instance, Event):
                instance.content_updated_at = now
                if instance.session_count and shows_a_change(instance, NOT_SHARED_WITH_SESSIONS):
                    for session_row in instance.sessions:
                        session_row.content_updated_at = now
            elif isinstance(instance, EventSession):
                _session_changed(instance, now)
            changed = changed or _counts(instance)
    if changed:
        new_token(session.connection())
