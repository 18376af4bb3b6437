"""The office's work on one event's attendee list: find, sort, add by hand, cancel,
promote, correct contact details, note, check in, write to registrants, purge.

Each function that changes data locks what it changes, records the change in the audit
log with the values before and after in the same transaction, and commits. Seat
counts and waiting positions are only ever changed by cluster_events.registration.services.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from cluster_events.audit import record_change
from cluster_events.database import begin_write_transaction, utcnow
from cluster_events.extensions import db
from cluster_events.mail.notifications import queue_organizer_message
from cluster_events.mail.outbox import MessageNotRetryable, retry_message
from cluster_events.models import (
    AuditLogEntry,
    Event,
    MemberType,
    OutboxMessage,
    OutboxStatus,
    Registration,
    RegistrationStatus,
)
from cluster_events.registration import services as registration_services
from cluster_events.text import katakana_to_hiragana, normalise_input


class AttendeeError(Exception):
    """An organizer action that cannot be done; ``message`` is shown to the organizer."""

    def __init__(self, message: str, http_status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status


class SortOrder(enum.StrEnum):
    kana = "kana"
    registered = "registered"
    organization = "organization"


class Audience(enum.StrEnum):
    confirmed = "confirmed"
    waiting = "waiting"
    both = "both"


@dataclass(frozen=True)
class AttendeeFilter:
    """What the list shows: all of it comes from GET parameters (see forms.parse_filter)."""

    query: str = ""
    status: RegistrationStatus | None = None
    member_type: MemberType | None = None
    sort: SortOrder = SortOrder.kana


@dataclass(frozen=True)
class AttendeeCounts:
    confirmed: int = 0
    waiting: int = 0
    cancelled: int = 0
    checked_in: int = 0


@dataclass(frozen=True)
class ContactDetails:
    """The fields an organizer may correct; already normalised by the form."""

    name: str
    name_kana: str
    email: str
    organization: str = ""
    job_title: str = ""
    phone: str = ""
    member_type: str = MemberType.general


@dataclass
class MessageBatch:
    """One message an organizer wrote, and the delivery state of each copy."""

    key: str
    subject: str
    created_at: datetime
    messages: list[OutboxMessage] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for message in self.messages if _delivery_status(message) == status)

    @property
    def failed(self) -> list[OutboxMessage]:
        return [m for m in self.messages if m.status == OutboxStatus.failed]


CONTACT_FIELDS = ("name", "name_kana", "email", "organization", "job_title", "phone", "member_type")
PERSONAL_FIELDS = (
    "name",
    "name_kana",
    "email",
    "email_normalized",
    "organization",
    "job_title",
    "phone",
    "remarks",
    "organizer_note",
)
PURGED_MARKER = "（削除済み）"
ORGANIZER_MESSAGE_KEY = "organizer-message"


# Reading -------------------------------------------------------------------------------


def find_event(event_id: int) -> Event | None:
    return db.session.get(Event, event_id)


def find_registration(event_id: int, registration_id: int) -> Registration | None:
    """A registration of this event only: an id taken from another event finds nothing."""
    return db.session.scalar(
        select(Registration).where(
            Registration.id == registration_id, Registration.event_id == event_id
        )
    )


def count_attendees(event_id: int) -> AttendeeCounts:
    rows = db.session.execute(
        select(Registration.status, func.count(), func.count(Registration.checked_in_at))
        .where(Registration.event_id == event_id)
        .group_by(Registration.status)
    ).all()
    by_status = {status: (total, arrived) for status, total, arrived in rows}
    return AttendeeCounts(
        confirmed=by_status.get(RegistrationStatus.confirmed, (0, 0))[0],
        waiting=by_status.get(RegistrationStatus.waiting, (0, 0))[0],
        cancelled=by_status.get(RegistrationStatus.cancelled, (0, 0))[0],
        checked_in=by_status.get(RegistrationStatus.confirmed, (0, 0))[1],
    )


def normalise_query(query: str) -> str:
    """What people type into the search box, in the form names are stored in."""
    return katakana_to_hiragana(normalise_input(query)).replace(" ", "").lower()


def list_attendees(event_id: int, attendee_filter: AttendeeFilter) -> list[Registration]:
    statement = select(Registration).where(Registration.event_id == event_id)
    if attendee_filter.status is not None:
        statement = statement.where(Registration.status == attendee_filter.status)
    if attendee_filter.member_type is not None:
        statement = statement.where(Registration.member_type == attendee_filter.member_type)
    if needle := normalise_query(attendee_filter.query):
        statement = statement.where(
            or_(
                *(
                    _compact(column).contains(needle, autoescape=True)
                    for column in (
                        Registration.name,
                        Registration.name_kana,
                        Registration.email_normalized,
                        Registration.organization,
                    )
                )
            )
        )
    return sort_attendees(db.session.scalars(statement), attendee_filter.sort)


def _compact(column: Any) -> Any:
    return func.lower(func.replace(column, " ", ""))


def sort_attendees(
    registrations: Iterable[Registration], order: SortOrder = SortOrder.kana
) -> list[Registration]:
    """Sorted in Python, not SQL: hiragana in code point order is 五十音順 on every
    database, whatever collation PostgreSQL was installed with."""
    if order == SortOrder.registered:
        key: Any = lambda r: (r.created_at, r.id)  # noqa: E731
    elif order == SortOrder.organization:
        key = lambda r: (r.organization == "", r.organization, r.name_kana, r.id)  # noqa: E731
    else:
        key = lambda r: (r.name_kana, r.id)  # noqa: E731
    return sorted(registrations, key=key)


def checkin_list(event_id: int, query: str = "") -> list[Registration]:
    """Confirmed people for the door, in kana order."""
    return list_attendees(
        event_id, AttendeeFilter(query=query, status=RegistrationStatus.confirmed)
    )


def recipients(event_id: int, audience: Audience) -> list[Registration]:
    statuses = {
        Audience.confirmed: [RegistrationStatus.confirmed],
        Audience.waiting: [RegistrationStatus.waiting],
        Audience.both: [RegistrationStatus.confirmed, RegistrationStatus.waiting],
    }[audience]
    return sort_attendees(
        db.session.scalars(
            select(Registration).where(
                Registration.event_id == event_id,
                Registration.status.in_(statuses),
                Registration.personal_data_purged_at.is_(None),
            )
        )
    )


# Changing the list (seats and waiting list go through the registration services) -------


def add_registration(
    event_id: int,
    details: registration_services.RegistrationDetails,
    *,
    notify: bool,
    organizer_id: int | None = None,
) -> registration_services.RegistrationOutcome:
    """A phone or fax sign-up entered by the office; the registration and its audit
    entry are committed together by the registration service."""
    try:
        return registration_services.register(
            event_id, details, source="organizer", notify=notify, organizer_id=organizer_id
        )
    except registration_services.RegistrationError as error:
        raise AttendeeError(str(error.message), error.http_status) from error


def cancel_attendee(
    event_id: int, registration_id: int, *, organizer_id: int, notify: bool = True
) -> Registration:
    """Cancel; the registration service gives the seat to the first person waiting (who
    is always told), and records the action in the audit log. ``notify=False`` only
    spares the cancelled person the receipt (they asked by phone)."""
    return _change_seat(
        registration_services.cancel_registration, event_id, registration_id, organizer_id, notify
    )


def promote_attendee(
    event_id: int, registration_id: int, *, organizer_id: int, notify: bool = True
) -> Registration:
    return _change_seat(
        registration_services.promote_registration, event_id, registration_id, organizer_id, notify
    )


def _change_seat(
    change: Callable[..., Registration],
    event_id: int,
    registration_id: int,
    organizer_id: int,
    notify: bool,
) -> Registration:
    """Hand a cancel or promote of this event's registration to the registration service,
    which takes the event lock in a transaction of its own."""
    _require(event_id, registration_id)
    db.session.rollback()
    try:
        return change(registration_id, notify=notify, organizer_id=organizer_id)
    except registration_services.RegistrationError as error:
        raise AttendeeError(str(error.message), error.http_status) from error


def update_contact(event_id: int, registration_id: int, details: ContactDetails) -> Registration:
    registration = _lock(event_id, registration_id)
    _refuse_purged(registration)
    before = _snapshot(registration, CONTACT_FIELDS)
    for name in CONTACT_FIELDS:
        setattr(registration, name, getattr(details, name))
    registration.email_normalized = details.email.lower()
    after = _snapshot(registration, CONTACT_FIELDS)
    if after == before:
        db.session.rollback()
        return _require(event_id, registration_id)
    try:
        db.session.flush()
    except IntegrityError as error:
        db.session.rollback()
        raise AttendeeError(
            _("Another registration for this event already uses this email address.")
        ) from error
    changed = [name for name in CONTACT_FIELDS if before[name] != after[name]]
    record_change(
        "registration.edit",
        "registration",
        registration.id,
        event_id=event_id,
        before={name: before[name] for name in changed},
        after={name: after[name] for name in changed},
    )
    db.session.commit()
    return registration


def update_note(event_id: int, registration_id: int, note: str) -> Registration:
    registration = _lock(event_id, registration_id)
    _refuse_purged(registration)
    if registration.organizer_note == note:
        db.session.rollback()
        return _require(event_id, registration_id)
    record_change(
        "registration.note",
        "registration",
        registration.id,
        event_id=event_id,
        before={"organizer_note": registration.organizer_note},
        after={"organizer_note": note},
    )
    registration.organizer_note = note
    db.session.commit()
    return registration


def check_in(event_id: int, registration_id: int, *, arrived: bool = True) -> Registration:
    """Mark someone as arrived (or undo it). Pressing the button twice changes nothing."""
    registration = _lock(event_id, registration_id)
    if registration.status != RegistrationStatus.confirmed:
        db.session.rollback()
        raise AttendeeError(_("Only confirmed participants can be checked in."))
    if (registration.checked_in_at is not None) == arrived:
        db.session.commit()
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
    db.session.commit()
    return registration


def record_export(event_id: int, file_format: str, rows: int) -> None:
    """Downloads of personal data are logged like changes: who took which list, when."""
    record_change(
        "attendees.export",
        "event",
        event_id,
        event_id=event_id,
        after={"format": file_format, "rows": rows},
    )
    db.session.commit()


# Writing to registrants -----------------------------------------------------------------


def new_batch_key() -> str:
    return uuid.uuid4().hex[:20]


def send_message(
    event_id: int, audience: Audience, subject: str, body: str, *, batch_key: str
) -> list[OutboxMessage]:
    """Queue one copy per recipient. ``batch_key`` comes from the preview form, so that
    pressing "send" twice (or reloading) cannot send the message twice."""
    begin_write_transaction(db.session())
    event = db.session.scalar(select(Event).where(Event.id == event_id).with_for_update())
    if event is None:
        db.session.rollback()
        raise AttendeeError(_("This event no longer exists."), 404)
    already_sent = db.session.scalar(
        select(OutboxMessage.id)
        .where(OutboxMessage.dedupe_key.like(f"{ORGANIZER_MESSAGE_KEY}:{batch_key}:%"))
        .limit(1)
    )
    if already_sent is not None:
        db.session.rollback()
        raise AttendeeError(_("This message has already been sent."))
    people = recipients(event_id, audience)
    if not people:
        db.session.rollback()
        raise AttendeeError(_("There is nobody to send this message to."))
    messages = queue_organizer_message(event, people, subject, body)
    sent_at = utcnow()
    for message in messages:
        message.created_at = sent_at
        message.event_id = event_id
        message.dedupe_key = f"{ORGANIZER_MESSAGE_KEY}:{batch_key}:{message.registration_id}"
    try:
        db.session.flush()
    except IntegrityError as error:  # the same batch sent at the same moment elsewhere
        db.session.rollback()
        raise AttendeeError(_("This message has already been sent.")) from error
    record_change(
        "event.message",
        "event",
        event_id,
        event_id=event_id,
        after={
            "audience": audience,
            "subject": subject,
            "body": body,
            "recipients": len(messages),
            "batch": batch_key,
        },
    )
    db.session.commit()
    return messages


def message_history(event_id: int) -> list[MessageBatch]:
    messages = db.session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.event_id == event_id,
            OutboxMessage.dedupe_key.like(f"{ORGANIZER_MESSAGE_KEY}:%"),
        )
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id)
    )
    batches: dict[str, MessageBatch] = {}
    for message in messages:
        key = (message.dedupe_key or "").split(":")[1]
        batch = batches.setdefault(
            key, MessageBatch(key=key, subject=message.subject, created_at=message.created_at)
        )
        batch.messages.append(message)
    return list(batches.values())


def _delivery_status(message: OutboxMessage) -> str:
    # "sending" is a worker's short claim on a queued message; the office sees "queued".
    return OutboxStatus.queued if message.status == OutboxStatus.sending else message.status


def retry_failed(event_id: int, message_ids: Sequence[int]) -> int:
    """Put failed copies of this event's organizer messages back in the queue."""
    failed = db.session.scalars(
        select(OutboxMessage.id).where(
            OutboxMessage.id.in_(message_ids),
            OutboxMessage.event_id == event_id,
            OutboxMessage.status == OutboxStatus.failed,
        )
    ).all()
    db.session.rollback()
    retried = []
    for message_id in failed:
        try:
            retry_message(message_id)
        except (LookupError, MessageNotRetryable):
            continue  # sent or retried by someone else in the meantime
        retried.append(message_id)
    if retried:
        record_change(
            "event.message_retry",
            "event",
            event_id,
            event_id=event_id,
            after={"messages": ",".join(str(i) for i in retried)},
        )
        db.session.commit()
    return len(retried)


# Personal data ---------------------------------------------------------------------------


def event_has_ended(event: Event, now: datetime | None = None) -> bool:
    return event.ends_at <= (now or utcnow())


def purge_event(event_id: int, *, now: datetime | None = None) -> int:
    """Replace the personal data of every registration of one ended event with a marker;
    statuses, counts and times stay for statistics. Returns how many were purged."""
    now = now or utcnow()
    begin_write_transaction(db.session())
    event = db.session.scalar(select(Event).where(Event.id == event_id).with_for_update())
    if event is None:
        db.session.rollback()
        raise AttendeeError(_("This event no longer exists."), 404)
    if not event_has_ended(event, now):
        db.session.rollback()
        raise AttendeeError(_("Personal data can only be deleted after the event has ended."))
    purged = _purge_registrations(event_id, now)
    record_change(
        "event.purge_personal_data", "event", event_id, event_id=event_id, after={"purged": purged}
    )
    db.session.commit()
    return purged


def purge_older_than(days: int, *, now: datetime | None = None) -> tuple[int, int]:
    """Purge every event that ended more than ``days`` days ago; returns (events, registrations).

    One transaction per event, so that a long run never holds the write lock for long
    and an interruption leaves every event either purged or untouched.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    event_ids = db.session.scalars(
        select(Event.id)
        .where(
            Event.ends_at < cutoff,
            Event.id.in_(
                select(Registration.event_id).where(Registration.personal_data_purged_at.is_(None))
            ),
        )
        .order_by(Event.id)
    ).all()
    db.session.rollback()
    total = 0
    for event_id in event_ids:
        begin_write_transaction(db.session())
        db.session.scalar(select(Event.id).where(Event.id == event_id).with_for_update())
        purged = _purge_registrations(event_id, now)
        record_change(
            "event.purge_personal_data",
            "event",
            event_id,
            event_id=event_id,
            after={"purged": purged, "older_than_days": days},
        )
        db.session.commit()
        total += purged
    return len(event_ids), total


def _purge_registrations(event_id: int, now: datetime) -> int:
    registrations = db.session.scalars(
        select(Registration)
        .where(Registration.event_id == event_id, Registration.personal_data_purged_at.is_(None))
        .with_for_update()
    ).all()
    for registration in registrations:
        registration.name = PURGED_MARKER
        registration.name_kana = ""
        registration.email = registration.email_normalized = f"purged-{registration.id}@invalid"
        for name in ("organization", "job_title", "phone", "remarks", "organizer_note"):
            setattr(registration, name, "")
        registration.personal_data_purged_at = now
    # Copies of emails and audit values also hold names and addresses.
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.event_id == event_id)
        .values(
            recipient="purged@invalid",
            subject=PURGED_MARKER,
            body_text="",
            body_html="",
            attachments=[],
            last_error="",
        )
    )
    for entry in db.session.scalars(
        select(AuditLogEntry).where(
            AuditLogEntry.event_id == event_id, AuditLogEntry.target_type == "registration"
        )
    ):
        entry.before = _scrub(entry.before)
        entry.after = _scrub(entry.after)
    return len(registrations)


def _scrub(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: PURGED_MARKER if key in PERSONAL_FIELDS and value else value
        for key, value in (values or {}).items()
    }


# Helpers -----------------------------------------------------------------------------


def _require(event_id: int, registration_id: int) -> Registration:
    registration = find_registration(event_id, registration_id)
    if registration is None:
        raise AttendeeError(_("This registration does not belong to this event."), 404)
    return registration


def _lock(event_id: int, registration_id: int) -> Registration:
    begin_write_transaction(db.session())
    registration = db.session.scalar(
        select(Registration)
        .where(Registration.id == registration_id, Registration.event_id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if registration is None:
        db.session.rollback()
        raise AttendeeError(_("This registration does not belong to this event."), 404)
    return registration


def _refuse_purged(registration: Registration) -> None:
    if registration.personal_data_purged_at is not None:
        db.session.rollback()
        raise AttendeeError(_("The personal data of this registration has been deleted."))


def _snapshot(registration: Registration, names: Sequence[str]) -> dict[str, Any]:
    return {name: getattr(registration, name) for name in names}
