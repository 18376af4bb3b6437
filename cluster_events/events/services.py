"""The life of an event, as the office runs it: create, edit (time, place, capacity),
publish, unpublish, duplicate for next month, cancel; and the rules each follows.

Each public function runs in one ``write_transaction``: it validates, changes,
records the change in the audit log, queues any emails, and commits, or changes
nothing at all. Changes to an existing event lock its row first, the same lock the
registration services take, so capacity and the seat counters are read and written
under it. The calendar SEQUENCE rises by itself (``calendar.sequence`` hooks every
flush).

- The capacity may not drop below the confirmed count: ``_validate_event``.
- Raised capacity goes to the waiting list in order: ``update_event`` calls
  ``registration.services.fill_seats``.
- Seats are in the event's participation frames (``events/frames.py`` edits them): a
  new event has one, and the event's capacity is its capacity; with several frames the
  event's capacity is their sum and is changed frame by frame.
- A moved event notifies its registrants: ``update_event`` (``notify=True``) queues
  ``events.notifications.queue_event_changed``.
"""

from __future__ import annotations

import calendar as month_calendar
import re
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import LazyString
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cluster_events.audit import record_change
from cluster_events.errors import Conflict, ServiceError
from cluster_events.events import notifications, sessions
from cluster_events.events.queries import active_registrations, get_event
from cluster_events.extensions import db
from cluster_events.i18n import current_locale
from cluster_events.models import DEFAULT_FRAME_NAMES, Category, Event, EventStatus, Frame, Venue
from cluster_events.registration.questions import copy_questions
from cluster_events.registration.services import fill_seats
from cluster_events.text import is_web_address
from cluster_events.timefmt import TOKYO, format_event_time, to_tokyo
from cluster_events.transactions import write_transaction

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX_LENGTH = 100


class NotifyChoiceNeeded(ServiceError):
    """The time or place of a published event with registrants changes: the organizer
    must say whether they are told (nothing was saved)."""

    http_status = 200

    def __init__(self, changes: list[str], registrant_count: int) -> None:
        super().__init__("the organizer must choose whether registrants are told")
        self.changes = changes
        self.registrant_count = registrant_count


def _slug_in_use() -> Conflict:
    return Conflict(
        field_errors={"slug": _("Another event already uses this address. Choose another one.")}
    )


@dataclass
class EventData:
    """The editable fields of an event, already parsed by the form (datetimes aware)."""

    title: str
    category_id: int
    starts_at: datetime
    ends_at: datetime
    slug: str = ""
    title_en: str = ""
    summary: str = ""
    body: str = ""
    venue_id: int | None = None
    online_url: str = ""
    capacity: int | None = None
    fee_text: str = ""
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    accepts_registrations: bool = True
    is_members_only: bool = False
    #: English content (issue 13): empty falls back to the Japanese text.
    summary_en: str = ""
    body_en: str = ""
    fee_text_en: str = ""
    #: 終日: starts_at is 00:00 Tokyo of the first day, ends_at 00:00 of the day after
    #: the last (the form turns its first and last day into them).
    is_all_day: bool = False

    @classmethod
    def from_event(cls, event: Event) -> EventData:
        return cls(**{field.name: getattr(event, field.name) for field in fields(cls)})


EVENT_FIELDS = tuple(field.name for field in fields(EventData))
#: What registrants are told about when it changes: their time and their place.
NOTIFIABLE_CHANGES = {
    "time": ("starts_at", "ends_at", "is_all_day"),
    "place": ("venue_id", "online_url"),
}


@dataclass
class EventUpdate:
    event: Event
    #: Keys of NOTIFIABLE_CHANGES that changed ("time", "place").
    changes: list[str]
    notified: int
    promoted: int


# --- validation -------------------------------------------------------------------------------


def suggest_slug(data: EventData, *, exclude_id: int | None = None) -> str:
    """A free, URL-safe slug: from the English title when there is one, else from the date."""
    base = slugify(data.title_en) or "event-" + to_tokyo(data.starts_at).strftime("%Y%m%d")
    return _free_slug(base, exclude_id)


def slugify(text: str) -> str:
    ascii_only = text.lower().encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-")[:60].strip("-")


def _free_slug(base: str, exclude_id: int | None = None) -> str:
    candidate, number = base, 2
    while _slug_taken(candidate, exclude_id):
        candidate = f"{base}-{number}"
        number += 1
    return candidate


def _slug_taken(slug: str, exclude_id: int | None) -> bool:
    query = select(Event.id).where(Event.slug == slug)
    if exclude_id is not None:
        query = query.where(Event.id != exclude_id)
    return db.session.scalar(query) is not None


def _validate_event(data: EventData, event: Event | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not data.title.strip():
        errors["title"] = _("Enter a title.")
    if (
        event is not None
        and event.session_count
        and (
            (data.starts_at, data.ends_at, data.is_all_day)
            != (event.starts_at, event.ends_at, event.is_all_day)
        )
    ):
        errors["starts_at"] = _(
            "This event has several sessions: change their dates on the sessions page."
        )
    else:
        errors.update(sessions.time_errors(data.starts_at, data.ends_at, data.is_all_day))
    if data.capacity is not None and data.capacity < 0:
        errors["capacity"] = _("The capacity cannot be below zero. Leave it empty for no limit.")
    elif event is not None and event.frame_count > 1 and data.capacity != event.capacity:
        errors["capacity"] = _(
            "This event has several participation frames: change the seats of each frame "
            "on the frames page."
        )
    elif event is not None and data.capacity is not None and data.capacity < event.confirmed_count:
        errors["capacity"] = _(
            "Confirmed seats already taken: %(confirmed)d. The capacity cannot be lower "
            "than that. To reduce it, cancel registrations in the attendee list first.",
            confirmed=event.confirmed_count,
        )
    if not SLUG_PATTERN.match(data.slug) or len(data.slug) > SLUG_MAX_LENGTH:
        errors["slug"] = _(
            "Use only lower-case letters a-z, digits and single hyphens (for example "
            "kondankai-2026-12)."
        )
    elif _slug_taken(data.slug, event.id if event else None):
        errors["slug"] = _("Another event already uses this address. Choose another one.")
    if db.session.get(Category, data.category_id) is None:
        errors["category_id"] = _("Choose a category.")
    if data.venue_id is not None and db.session.get(Venue, data.venue_id) is None:
        errors["venue_id"] = _("Choose a venue from the list.")
    opens, closes = data.registration_opens_at, data.registration_closes_at
    if opens is not None and closes is not None and closes <= opens:
        errors["registration_closes_at"] = _("Registration must close after it opens.")
    elif closes is not None and closes > data.starts_at:
        errors["registration_closes_at"] = _("Registration must close before the event starts.")
    if opens is not None and opens >= data.starts_at:
        errors["registration_opens_at"] = _("Registration must open before the event starts.")
    if data.online_url and not is_web_address(data.online_url):
        errors["online_url"] = _(
            "Enter the whole meeting link, starting with https:// (for example "
            "https://zoom.us/j/...)."
        )
    return errors


def _prepared(data: EventData, event: Event | None) -> EventData:
    if not data.slug:
        data.slug = suggest_slug(data, exclude_id=event.id if event else None)
    return data


# --- events -----------------------------------------------------------------------------------


def default_frame(capacity: int | None) -> Frame:
    """The one frame of a new event, holding all its seats."""
    name_ja, name_en = DEFAULT_FRAME_NAMES
    return Frame(name_ja=name_ja, name_en=name_en, capacity=capacity, sort_order=0)


def _snapshot(event: Event) -> dict[str, Any]:
    """The audited fields, with times as Tokyo wall-clock time (as the office typed them)."""
    values = {name: getattr(event, name) for name in EVENT_FIELDS}
    for name, value in values.items():
        if isinstance(value, datetime):
            values[name] = to_tokyo(value).isoformat(timespec="minutes")
    values["status"] = event.status
    return values


def _audit_event(action: str, event: Event, before: dict, after: dict) -> None:
    record_change(
        action, "event", event.id, event_id=event.id, before=before, after=after, changed_only=True
    )


def create_event(data: EventData) -> Event:
    """A new event, saved as a draft."""
    try:
        with write_transaction():
            data = _prepared(data, None)
            if errors := _validate_event(data, None):
                raise ServiceError(field_errors=errors)
            event = Event(
                **asdict(data),
                status=EventStatus.draft,
                uid=Event.new_uid(current_app.config["CALENDAR_UID_DOMAIN"]),
                frames=[default_frame(data.capacity)],
                frame_count=1,
            )
            db.session.add(event)
            db.session.flush()
            _audit_event("event.create", event, {}, _snapshot(event))
    except IntegrityError as error:  # the same slug taken at the same moment
        raise _slug_in_use() from error
    return event


def preview_changes(event: Event, data: EventData) -> list[str]:
    """Which of "time" and "place" would change."""
    return [
        change
        for change, names in NOTIFIABLE_CHANGES.items()
        if any(getattr(event, name) != getattr(data, name) for name in names)
    ]


def _place_text(venue: Venue | None, online_url: str) -> str:
    locale = current_locale()
    if venue is not None:
        address = venue.display_address(locale)
        return venue.display_name(locale) + (f" ({address})" if address else "")
    return _("Online") if online_url else _("To be announced")


def _change_lines(changes: list[str], before: Event, after: EventData) -> list[str]:
    """Lines for the registrants' email, written in each reader's language when the
    email is rendered (they are lazy strings)."""
    lines: list[Any] = []
    if "time" in changes:
        old_times, new_times = (before.starts_at, before.ends_at), (after.starts_at, after.ends_at)
        lines.append(
            LazyString(
                lambda: _(
                    "Date and time: now %(new)s (was %(old)s)",
                    new=format_event_time(*new_times, current_locale()),
                    old=format_event_time(*old_times, current_locale()),
                )
            )
        )
    if "place" in changes:
        old_venue, old_url = before.venue, before.online_url
        new_venue = db.session.get(Venue, after.venue_id) if after.venue_id else None
        lines.append(
            LazyString(
                lambda: _(
                    "Venue: now %(new)s (was %(old)s)",
                    new=_place_text(new_venue, after.online_url),
                    old=_place_text(old_venue, old_url),
                )
            )
        )
    return lines


def update_event(event_id: int, data: EventData, *, notify: bool | None = None) -> EventUpdate:
    """Save changes to an event.

    When the time or place of a published event with active registrations changes
    and ``notify`` is None, NotifyChoiceNeeded is raised and nothing is saved; with
    ``notify=True`` every confirmed and waiting registrant gets an email with the
    updated .ics in the same transaction. Raising the capacity gives the new seats
    to the waiting list in order; lowering it below the confirmed count is refused.
    """
    try:
        with write_transaction(lock_event=event_id) as event:
            assert event is not None
            data = _prepared(data, event)
            if errors := _validate_event(data, event):
                raise ServiceError(field_errors=errors)
            changes = preview_changes(event, data)
            registrant_count = event.confirmed_count + event.waiting_count
            must_ask = bool(changes) and event.is_published and registrant_count > 0
            if must_ask and notify is None:
                raise NotifyChoiceNeeded(changes, registrant_count)
            before = _snapshot(event)
            lines = _change_lines(changes, event, data) if must_ask and notify else []
            for name in EVENT_FIELDS:
                setattr(event, name, getattr(data, name))
            if event.frame_count == 1:
                event.frames[0].capacity = data.capacity
            db.session.flush()
            db.session.expire(event, ["venue", "category"])
            promoted = fill_seats(event)
            notified = 0
            if must_ask and notify:
                registrations = active_registrations(event.id)
                notifications.queue_event_changed(event, registrations, lines)
                notified = len(registrations)
            after = _snapshot(event)
            if before != after:
                _audit_event("event.update", event, before, after)
                if promoted:
                    record_change(
                        "event.fill_from_waiting_list",
                        "event",
                        event.id,
                        event_id=event.id,
                        after={"promoted": ", ".join(str(p.id) for p in promoted)},
                    )
                if notified:
                    record_change(
                        "event.notify_change",
                        "event",
                        event.id,
                        event_id=event.id,
                        after={"changes": ", ".join(changes), "recipients": notified},
                    )
    except IntegrityError as error:  # the same slug taken at the same moment
        raise _slug_in_use() from error
    return EventUpdate(event=event, changes=changes, notified=notified, promoted=len(promoted))


def _set_status(event_id: int, status: EventStatus, action: str, allowed: tuple) -> Event:
    with write_transaction(lock_event=event_id) as event:
        assert event is not None
        if event.status == status:
            return event
        if event.status not in allowed:
            raise Conflict(_("A cancelled event cannot be published or unpublished."))
        before = _snapshot(event)
        event.status = status
        _audit_event(action, event, before, _snapshot(event))
    return event


def publish_event(event_id: int) -> Event:
    return _set_status(event_id, EventStatus.published, "event.publish", (EventStatus.draft,))


def unpublish_event(event_id: int) -> Event:
    """Back to draft: the event leaves the public site; registrations stay as they are."""
    return _set_status(event_id, EventStatus.draft, "event.unpublish", (EventStatus.published,))


def cancel_event(event_id: int, reason: str, reason_en: str = "") -> tuple[Event, int]:
    """Cancel (中止) the event: it stays on the site marked cancelled, and every confirmed
    and waiting registrant is told, with a METHOD:CANCEL .ics. Returns how many.
    ``reason_en``: the reason for English readers (empty: they read the Japanese one)."""
    reason = reason.strip()
    reason_en = reason_en.strip()
    if not reason:
        raise ServiceError(
            field_errors={"reason": _("Write the reason; registrants will read it.")}
        )
    with write_transaction(lock_event=event_id) as event:
        assert event is not None
        if event.is_cancelled:
            raise Conflict(_("This event has already been cancelled."))
        before = _snapshot(event)
        before["cancellation_reason"] = event.cancellation_reason
        before["cancellation_reason_en"] = event.cancellation_reason_en
        event.status = EventStatus.cancelled
        event.cancellation_reason = reason
        event.cancellation_reason_en = reason_en
        db.session.flush()
        registrations = active_registrations(event.id)
        if registrations:
            notifications.queue_event_cancelled(event, registrations)
        after = _snapshot(event)
        after["cancellation_reason"] = reason
        after["cancellation_reason_en"] = reason_en
        after["recipients"] = len(registrations)
        _audit_event("event.cancel", event, before, after)
    return event, len(registrations)


# --- duplicating ------------------------------------------------------------------------------


def same_weekday_next_month(value: datetime) -> datetime:
    """The same weekday in the same week of the next month, at the same Tokyo time
    (the 2nd Saturday stays the 2nd Saturday; a 5th one becomes the last one)."""
    local = to_tokyo(value)
    week = (local.day - 1) // 7
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    days_in_month = month_calendar.monthrange(year, month)[1]
    first_weekday = datetime(year, month, 1, tzinfo=TOKYO).weekday()
    first_match = 1 + (local.weekday() - first_weekday) % 7
    day = first_match + 7 * week
    while day > days_in_month:
        day -= 7
    return local.replace(year=year, month=month, day=day)


def next_title(title: str, steps: int = 1) -> str:
    """経営研究・懇談会（第12回） becomes 経営研究・懇談会（第13回） (第14回 two steps on)."""
    return re.sub(r"第(\d+)回", lambda match: f"第{int(match.group(1)) + steps}回", title, count=1)


def dated_slug(slug: str, starts_at: datetime, date_format: str = "%Y-%m") -> str:
    """A free slug for a copy: the source's without its date, with the copy's Tokyo date
    (kondankai-2027-01 becomes kondankai-2027-02, or kondankai-2027-02-13 by day)."""
    base = re.sub(r"-\d{4}(?:-?\d{2}){0,2}$", "", slug) or "event"
    date_text = to_tokyo(starts_at).strftime(date_format)
    return _free_slug(f"{base[: SLUG_MAX_LENGTH - len(date_text) - 4]}-{date_text}")


def duplicate_event(event_id: int) -> Event:
    """A draft copy of an event for the same weekday next month: everything but the
    dates, registrations, counters and calendar UID, with its frames (their names,
    seats, fees and who may take them; not their periods or invitation codes), the
    questions of its form and its sessions (shifted with it, each with a new UID). The
    organizer checks the dates."""
    try:
        with write_transaction():
            copy = _copy_for_next_month(get_event(event_id))
    except IntegrityError as error:  # the same slug taken at the same moment
        raise _slug_in_use() from error
    return copy


def _copy_for_next_month(source: Event) -> Event:
    starts_at = same_weekday_next_month(source.starts_at)
    copy = copy_event(
        source, starts_at, title=next_title(source.title), slug=dated_slug(source.slug, starts_at)
    )
    after = _snapshot(copy)
    after["copied_from"] = source.id
    _audit_event("event.duplicate", copy, {}, after)
    return copy


def copy_event(source: Event, starts_at: datetime, *, title: str, slug: str) -> Event:
    """Inside a transaction: a draft copy of ``source`` starting at ``starts_at`` (its
    length kept), with a UID of its own and copies of its frames and questions (see
    ``duplicate_event``); flushed, not audited (the caller records why it was made)."""
    copy = Event(
        title=title,
        title_en=source.title_en,
        category_id=source.category_id,
        summary=source.summary,
        body=source.body,
        summary_en=source.summary_en,
        body_en=source.body_en,
        fee_text_en=source.fee_text_en,
        starts_at=starts_at,
        ends_at=starts_at + (source.ends_at - source.starts_at),
        venue_id=source.venue_id,
        online_url=source.online_url,
        capacity=source.capacity,
        fee_text=source.fee_text,
        accepts_registrations=source.accepts_registrations,
        is_members_only=source.is_members_only,
        is_all_day=source.is_all_day,
        slug=slug,
        status=EventStatus.draft,
        uid=Event.new_uid(current_app.config["CALENDAR_UID_DOMAIN"]),
        frames=[
            Frame(
                name_ja=frame.name_ja,
                name_en=frame.name_en,
                capacity=frame.capacity,
                fee_text=frame.fee_text,
                fee_text_en=frame.fee_text_en,
                eligibility=frame.eligibility,
                selection=frame.selection,
                max_companions=frame.max_companions,
                requires_approval=frame.requires_approval,
                sort_order=order,
            )
            for order, frame in enumerate(source.frames)
        ],
        frame_count=len(source.frames),
    )
    if source.sessions:
        sessions.copy_sessions(source, copy, starts_at - source.starts_at)
    db.session.add(copy)
    db.session.flush()
    copy_questions(source, copy)
    return copy
