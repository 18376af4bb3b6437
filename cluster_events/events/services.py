"""What organizers do to events, venues and categories, and the rules they follow.

Each public function is one transaction: it validates, changes, records the
change in the audit log, queues any emails, and commits, or changes nothing
at all. Changes to an event go through ``registration.services.lock_event`` so
that capacity and the seat counters are read and written under the same lock
the registration services use. The calendar SEQUENCE rises by itself
(``calendar.services`` hooks every flush).
"""

from __future__ import annotations

import calendar as month_calendar
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import LazyString
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from cluster_events.audit import record_change
from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.i18n import current_locale
from cluster_events.models import (
    Category,
    Event,
    EventStatus,
    Registration,
    RegistrationStatus,
    Venue,
)
from cluster_events.timefmt import TOKYO, format_event_time, to_tokyo

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX_LENGTH = 100


class ConsoleError(Exception):
    """A change the rules refuse. ``errors`` maps form fields (or "" for the whole
    form) to messages in the organizer's language."""

    http_status = 400

    def __init__(self, errors: dict[str, str] | str, *, http_status: int | None = None) -> None:
        self.errors = {"": errors} if isinstance(errors, str) else errors
        self.message = " ".join(self.errors.values())
        if http_status is not None:
            self.http_status = http_status
        super().__init__(self.message)


class NotFound(ConsoleError):
    http_status = 404

    def __init__(self) -> None:
        super().__init__(_("This could not be found."))


class NotifyChoiceNeeded(Exception):
    """The time or place of a published event with registrants changes: the organizer
    must say whether they are told (nothing was saved)."""

    def __init__(self, changes: list[str], registrant_count: int) -> None:
        super().__init__("notify choice needed")
        self.changes = changes
        self.registrant_count = registrant_count


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

    @classmethod
    def from_event(cls, event: Event) -> EventData:
        return cls(**{field.name: getattr(event, field.name) for field in fields(cls)})


EVENT_FIELDS = tuple(field.name for field in fields(EventData))
#: What registrants are told about when it changes: their time and their place.
NOTIFIABLE_CHANGES = {
    "time": ("starts_at", "ends_at"),
    "place": ("venue_id", "online_url"),
}


@dataclass
class EventUpdate:
    event: Event
    #: Keys of NOTIFIABLE_CHANGES that changed ("time", "place").
    changes: list[str]
    notified: int
    promoted: int


# --- reading ----------------------------------------------------------------------------------

EVENT_LIST_FILTERS = ("all", "upcoming", "draft", "past", "cancelled")


def list_events(which: str = "all", now: datetime | None = None) -> list[Event]:
    """Events for the console list, with category and venue loaded in the same query."""
    now = now or utcnow()
    query = select(Event).options(joinedload(Event.category), joinedload(Event.venue))
    if which == "upcoming":
        query = query.where(Event.ends_at >= now, Event.status != EventStatus.cancelled)
        query = query.order_by(Event.starts_at)
    elif which == "past":
        query = query.where(Event.ends_at < now).order_by(Event.starts_at.desc())
    elif which == "draft":
        query = query.where(Event.status == EventStatus.draft).order_by(Event.starts_at)
    elif which == "cancelled":
        query = query.where(Event.status == EventStatus.cancelled)
        query = query.order_by(Event.starts_at.desc())
    else:
        query = query.order_by(Event.starts_at.desc())
    return list(db.session.scalars(query))


def get_event(event_id: int) -> Event:
    event = db.session.get(Event, event_id)
    if event is None:
        raise NotFound()
    return event


def active_registrations(event_id: int) -> list[Registration]:
    return list(
        db.session.scalars(
            select(Registration)
            .where(
                Registration.event_id == event_id,
                Registration.status != RegistrationStatus.cancelled,
            )
            .order_by(Registration.id)
        )
    )


def event_choices() -> list[tuple[int, str]]:
    """(id, title) of every event, newest first, for filters."""
    return list(db.session.execute(select(Event.id, Event.title).order_by(Event.starts_at.desc())))


def list_venues() -> list[Venue]:
    return list(db.session.scalars(select(Venue).order_by(Venue.name)))


def list_categories() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.sort_order, Category.id)))


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
    if data.ends_at <= data.starts_at:
        errors["ends_at"] = _("The end must be after the start.")
    if data.capacity is not None and data.capacity < 0:
        errors["capacity"] = _("The capacity cannot be below zero. Leave it empty for no limit.")
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
    return errors


def _prepared(data: EventData, event: Event | None) -> EventData:
    if not data.slug:
        data.slug = suggest_slug(data, exclude_id=event.id if event else None)
    return data


# --- events -----------------------------------------------------------------------------------


def _snapshot(event: Event) -> dict[str, Any]:
    """The audited fields, with times as Tokyo wall-clock time (as the office typed them)."""
    values = {name: getattr(event, name) for name in EVENT_FIELDS}
    for name, value in values.items():
        if isinstance(value, datetime):
            values[name] = to_tokyo(value).isoformat(timespec="minutes")
    values["status"] = event.status
    return values


def _difference(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict, dict]:
    changed = [key for key in after if before.get(key) != after[key]]
    return {key: before.get(key) for key in changed}, {key: after[key] for key in changed}


def _audit_event(action: str, event: Event, before: dict, after: dict) -> None:
    old, new = _difference(before, after)
    record_change(action, "event", event.id, event_id=event.id, before=old, after=new)


def _commit_or_slug_error() -> None:
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise ConsoleError(
            {"slug": _("Another event already uses this address. Choose another one.")},
            http_status=409,
        ) from error


def create_event(data: EventData) -> Event:
    """A new event, saved as a draft."""
    data = _prepared(data, None)
    if errors := _validate_event(data, None):
        raise ConsoleError(errors)
    event = Event(
        **asdict(data),
        status=EventStatus.draft,
        uid=Event.new_uid(current_app.config["CALENDAR_UID_DOMAIN"]),
    )
    db.session.add(event)
    db.session.flush()
    _audit_event("event.create", event, {}, _snapshot(event))
    _commit_or_slug_error()
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
    from cluster_events.mail import notifications
    from cluster_events.registration.services import RegistrationError, fill_seats, lock_event

    session = db.session
    try:
        event = lock_event(event_id)
    except RegistrationError as error:
        raise NotFound() from error
    try:
        data = _prepared(data, event)
        if errors := _validate_event(data, event):
            raise ConsoleError(errors)
        changes = preview_changes(event, data)
        registrant_count = event.confirmed_count + event.waiting_count
        must_ask = bool(changes) and event.is_published and registrant_count > 0
        if must_ask and notify is None:
            raise NotifyChoiceNeeded(changes, registrant_count)
        before = _snapshot(event)
        lines = _change_lines(changes, event, data) if must_ask and notify else []
        for name in EVENT_FIELDS:
            setattr(event, name, getattr(data, name))
        session.flush()
        session.expire(event, ["venue", "category"])
        promoted = fill_seats(event)
        for person in promoted:
            notifications.queue_promoted(person)
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
        _commit_or_slug_error()
    except BaseException:
        session.rollback()
        raise
    return EventUpdate(event=event, changes=changes, notified=notified, promoted=len(promoted))


def _set_status(event_id: int, status: EventStatus, action: str, allowed: tuple) -> Event:
    from cluster_events.registration.services import RegistrationError, lock_event

    session = db.session
    try:
        event = lock_event(event_id)
    except RegistrationError as error:
        raise NotFound() from error
    try:
        if event.status == status:
            session.rollback()
            return event
        if event.status not in allowed:
            raise ConsoleError(
                _("A cancelled event cannot be published or unpublished."), http_status=409
            )
        before = _snapshot(event)
        event.status = status
        _audit_event(action, event, before, _snapshot(event))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return event


def publish_event(event_id: int) -> Event:
    return _set_status(event_id, EventStatus.published, "event.publish", (EventStatus.draft,))


def unpublish_event(event_id: int) -> Event:
    """Back to draft: the event leaves the public site; registrations stay as they are."""
    return _set_status(event_id, EventStatus.draft, "event.unpublish", (EventStatus.published,))


def cancel_event(event_id: int, reason: str) -> tuple[Event, int]:
    """Cancel (中止) the event: it stays on the site marked cancelled, and every confirmed
    and waiting registrant is told, with a METHOD:CANCEL .ics. Returns how many."""
    from cluster_events.mail import notifications
    from cluster_events.registration.services import RegistrationError, lock_event

    reason = reason.strip()
    if not reason:
        raise ConsoleError({"reason": _("Write the reason; registrants will read it.")})
    session = db.session
    try:
        event = lock_event(event_id)
    except RegistrationError as error:
        raise NotFound() from error
    try:
        if event.is_cancelled:
            raise ConsoleError(_("This event has already been cancelled."), http_status=409)
        before = _snapshot(event)
        before["cancellation_reason"] = event.cancellation_reason
        event.status = EventStatus.cancelled
        event.cancellation_reason = reason
        session.flush()
        registrations = active_registrations(event.id)
        if registrations:
            notifications.queue_event_cancelled(event, registrations, reason)
        after = _snapshot(event)
        after["cancellation_reason"] = reason
        after["recipients"] = len(registrations)
        _audit_event("event.cancel", event, before, after)
        session.commit()
    except BaseException:
        session.rollback()
        raise
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


def _next_title(title: str) -> str:
    """経営研究・懇談会（第12回） becomes 経営研究・懇談会（第13回）."""
    return re.sub(r"第(\d+)回", lambda match: f"第{int(match.group(1)) + 1}回", title, count=1)


def _next_slug(slug: str, starts_at: datetime) -> str:
    base = re.sub(r"-\d{4}(?:-?\d{2}){0,2}$", "", slug) or "event"
    return _free_slug(f"{base}-{to_tokyo(starts_at).strftime('%Y-%m')}"[:SLUG_MAX_LENGTH])


def duplicate_event(event_id: int) -> Event:
    """A draft copy of an event for the same weekday next month: everything but the
    dates, registrations, counters and calendar UID. The organizer checks the dates."""
    source = get_event(event_id)
    starts_at = same_weekday_next_month(source.starts_at)
    copy = Event(
        title=_next_title(source.title),
        title_en=source.title_en,
        category_id=source.category_id,
        summary=source.summary,
        body=source.body,
        starts_at=starts_at,
        ends_at=starts_at + (source.ends_at - source.starts_at),
        venue_id=source.venue_id,
        online_url=source.online_url,
        capacity=source.capacity,
        fee_text=source.fee_text,
        accepts_registrations=source.accepts_registrations,
        is_members_only=source.is_members_only,
        slug=_next_slug(source.slug, starts_at),
        status=EventStatus.draft,
        uid=Event.new_uid(current_app.config["CALENDAR_UID_DOMAIN"]),
    )
    db.session.add(copy)
    db.session.flush()
    after = _snapshot(copy)
    after["copied_from"] = source.id
    _audit_event("event.duplicate", copy, {}, after)
    _commit_or_slug_error()
    return copy


# --- venues and categories --------------------------------------------------------------------

VENUE_FIELDS = ("name", "name_en", "address", "address_en", "access_notes", "map_url")
CATEGORY_FIELDS = ("slug", "name_ja", "name_en", "sort_order")


def _values(model: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(model, name) for name in names}


def save_venue(venue_id: int | None, values: dict[str, Any]) -> Venue:
    if not values.get("name", "").strip():
        raise ConsoleError({"name": _("Enter the name of the venue.")})
    map_url = values.get("map_url", "")
    if map_url and not map_url.startswith(("https://", "http://")):
        raise ConsoleError({"map_url": _("The map link must start with https://.")})
    venue = _apply_values(Venue, venue_id, VENUE_FIELDS, values, "venue")
    db.session.commit()
    return venue


def delete_venue(venue_id: int) -> None:
    _delete_unused(
        Venue,
        venue_id,
        VENUE_FIELDS,
        "venue",
        Event.venue_id,
        lambda count: _(
            "Events at this venue: %(count)d. A venue in use cannot be deleted.", count=count
        ),
        _("This venue is in use and cannot be deleted."),
    )


def save_category(category_id: int | None, values: dict[str, Any]) -> Category:
    errors = {}
    slug = values.get("slug", "")
    if not SLUG_PATTERN.match(slug) or len(slug) > 64:
        errors["slug"] = _("Use only lower-case letters a-z, digits and single hyphens.")
    else:
        query = select(Category.id).where(Category.slug == slug)
        if category_id is not None:
            query = query.where(Category.id != category_id)
        if db.session.scalar(query) is not None:
            errors["slug"] = _("Another category already uses this address.")
    if not values.get("name_ja", "").strip():
        errors["name_ja"] = _("Enter the Japanese name.")
    if not values.get("name_en", "").strip():
        errors["name_en"] = _("Enter the English name.")
    if errors:
        raise ConsoleError(errors)
    category = _apply_values(Category, category_id, CATEGORY_FIELDS, values, "category")
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise ConsoleError({"slug": _("Another category already uses this address.")}) from error
    return category


def delete_category(category_id: int) -> None:
    _delete_unused(
        Category,
        category_id,
        CATEGORY_FIELDS,
        "category",
        Event.category_id,
        lambda count: _(
            "Events in this category: %(count)d. A category in use cannot be deleted.",
            count=count,
        ),
        _("This category is in use and cannot be deleted."),
    )


def _apply_values(
    model: type[Any],
    record_id: int | None,
    fields: tuple[str, ...],
    values: dict[str, Any],
    target_type: str,
) -> Any:
    """Create (record_id None) or update a venue or category and audit what changed;
    the caller commits."""
    if record_id is None:
        record, before = model(), {}
        db.session.add(record)
    else:
        record = db.session.get(model, record_id)
        if record is None:
            raise NotFound()
        before = _values(record, fields)
    for name in fields:
        if name in values:
            setattr(record, name, values[name])
    db.session.flush()
    old, new = _difference(before, _values(record, fields))
    if new:
        action = f"{target_type}.create" if record_id is None else f"{target_type}.update"
        record_change(action, target_type, record.id, before=old, after=new)
    return record


def _delete_unused(
    model: type[Any],
    record_id: int,
    fields: tuple[str, ...],
    target_type: str,
    event_column: Any,
    in_use_message: Callable[[int], str],
    raced_message: str,
) -> None:
    """Delete a venue or category that no event uses, and audit it."""
    record = db.session.get(model, record_id)
    if record is None:
        raise NotFound()
    used = db.session.scalar(select(func.count()).where(event_column == record_id))
    if used:
        raise ConsoleError(in_use_message(used), http_status=409)
    record_change(f"{target_type}.delete", target_type, record.id, before=_values(record, fields))
    db.session.delete(record)
    _commit_or_in_use(raced_message)


def _commit_or_in_use(message: str) -> None:
    """An event may have started using the row since it was counted."""
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise ConsoleError(message, http_status=409) from error
