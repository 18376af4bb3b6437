"""Deleting the personal data of old events (Japan's Act on the Protection of Personal
Information): for one ended event from the console, or for every event that ended
long enough ago with `flask --app cluster_events purge-personal-data --older-than N`
(for cron; the command is in cli.py, which also runs members.purge). A member's
purge uses ``purge_registrations`` for the registrations linked to its people.

Every copy goes: the registrations themselves and their companions' names, their
answers to the event's questions
(deleted: an answer may say much about a person, a diet or a health need), every email
in the outbox about the event or its registrants (sent or not: bodies carry names,
organizer messages the office's own words), and every audit entry about the event or
its registrations (of every type: contact edits, notes, the office's messages), and the
addresses in its lotteries' recorded entry lists (``LotteryDraw.entry_list``; the ids,
seed, digest and drawn order stay, so a draw can still be recomputed). What
stays, for the office's statistics: the rows themselves with their ids, event, status,
waiting position, member type, language, source and times (registered, confirmed,
cancelled, checked in, reminded, purged), the event's seat counters, each email's
kind, status and times, and each audit entry's action, author, time and the names
of the fields it changed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, delete, exists, or_, select, update

from cluster_events.audit import record_change
from cluster_events.database import utcnow
from cluster_events.errors import Conflict
from cluster_events.extensions import db
from cluster_events.models import (
    AuditLogEntry,
    Event,
    LotteryDraw,
    OutboxMessage,
    OutboxStatus,
    Registration,
    RegistrationAnswer,
    RegistrationCompanion,
)
from cluster_events.transactions import end_read_transaction, write_transaction

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
PURGED_ADDRESS = "purged@invalid"
#: Values an audit entry about a registration keeps; any other value is replaced with
#: the marker (the key stays, so the log still shows which fields were changed).
REGISTRATION_FACTS = frozenset(
    {
        "status",
        "waiting_position",
        "member_type",
        "notify",
        "checked_in_at",
        "locale",
        "source",
        "party_size",
        "companion",
    }
)
#: Audit actions whose values are the office's own words to registrants.
MESSAGE_ACTIONS = ("event.message",)
MESSAGE_TEXT = ("subject", "body")
NOT_SENT = "personal data deleted before sending"


@dataclass
class PurgeCounts:
    registrations: int = 0
    answers: int = 0
    emails: int = 0
    audit_entries: int = 0


def event_has_ended(event: Event, now: datetime | None = None) -> bool:
    return event.ends_at <= (now or utcnow())


def purge_event(event_id: int, *, now: datetime | None = None) -> int:
    """Delete every copy of the personal data of one ended event's registrants, in one
    transaction. Returns how many registrations were purged. Purging an event again
    removes copies an earlier purge (or an older version of it) left behind."""
    now = now or utcnow()
    with write_transaction(lock_event=event_id) as event:
        assert event is not None
        if not event_has_ended(event, now):
            raise Conflict(_("Personal data can only be deleted after the event has ended."))
        return _purge_event_locked(event_id, now)


def purge_older_than(days: int, *, now: datetime | None = None) -> tuple[int, int]:
    """Purge every event that ended more than ``days`` days ago; returns (events, registrations).

    One transaction per event, so that a long run never holds the write lock for long
    and an interruption leaves every event either purged or untouched.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    event_ids = db.session.scalars(
        select(Event.id).where(Event.ends_at < cutoff, _has_personal_data()).order_by(Event.id)
    ).all()
    end_read_transaction()
    total = 0
    for event_id in event_ids:
        with write_transaction(lock_event=event_id):
            total += _purge_event_locked(event_id, now, older_than_days=days)
    return len(event_ids), total


def _has_personal_data() -> Any:
    """Events with a registration not yet purged, or with copies that an earlier purge
    left: emails still addressed to someone, the office's messages in the audit log."""
    return or_(
        exists().where(
            Registration.event_id == Event.id, Registration.personal_data_purged_at.is_(None)
        ),
        exists().where(
            OutboxMessage.event_id == Event.id, OutboxMessage.recipient != PURGED_ADDRESS
        ),
        exists().where(
            AuditLogEntry.event_id == Event.id,
            AuditLogEntry.action.in_(MESSAGE_ACTIONS),
            AuditLogEntry.after["subject"].as_string() != PURGED_MARKER,
        ),
    )


def _purge_event_locked(event_id: int, now: datetime, **reason: int) -> int:
    """Inside a transaction that locked the event: purge it and audit how much, with
    counts only."""
    counts = _purge(event_id, now)
    record_change(
        "event.purge_personal_data",
        "event",
        event_id,
        event_id=event_id,
        after={
            "purged": counts.registrations,
            "answers": counts.answers,
            "emails": counts.emails,
            "audit_entries": counts.audit_entries,
            **reason,
        },
    )
    return counts.registrations


def _purge(event_id: int, now: datetime) -> PurgeCounts:
    registrations = db.session.scalars(
        select(Registration).where(Registration.event_id == event_id).with_for_update()
    ).all()
    counts = PurgeCounts()
    for registration in registrations:
        if registration.personal_data_purged_at is None:
            _blank_registration(registration, now)
            counts.registrations += 1
    registration_ids = [registration.id for registration in registrations]
    _blank_companions(registration_ids)
    counts.answers = _delete_answers(registration_ids)
    counts.emails = _purge_outbox(event_id, registration_ids)
    counts.audit_entries = _purge_audit(event_id, registration_ids)
    _empty_entry_lists(select(LotteryDraw).where(LotteryDraw.event_id == event_id), None)
    return counts


def purge_registrations(registration_ids: Collection[int], now: datetime) -> PurgeCounts:
    """Some registrations of ended events, with their emails and audit entries (not the
    rest of their events'): for a member's purge. Call it inside a transaction that
    locked each of their events; a registration already purged is left as it is."""
    counts = PurgeCounts()
    if not registration_ids:
        return counts
    registrations = db.session.scalars(
        select(Registration)
        .where(Registration.id.in_(registration_ids))
        .order_by(Registration.id)
        .with_for_update()
    ).all()
    for registration in registrations:
        if registration.personal_data_purged_at is None:
            _blank_registration(registration, now)
            counts.registrations += 1
    _blank_companions(list(registration_ids))
    counts.answers = _delete_answers(list(registration_ids))
    events = select(Registration.event_id).where(Registration.id.in_(registration_ids))
    _empty_entry_lists(
        select(LotteryDraw).where(LotteryDraw.event_id.in_(events)), set(registration_ids)
    )
    counts.emails = blank_messages(OutboxMessage.registration_id.in_(registration_ids))
    counts.audit_entries = scrub_audit_entries(
        and_(
            AuditLogEntry.target_type == "registration",
            AuditLogEntry.target_id.in_(registration_ids),
        ),
        _personal_keys,
    )
    return counts


def _blank_registration(registration: Registration, now: datetime) -> None:
    registration.name = PURGED_MARKER
    registration.name_kana = ""
    # Unique per row, so the one-active-registration-per-address index still holds.
    registration.email = registration.email_normalized = f"purged-{registration.id}@invalid"
    for name in ("organization", "job_title", "phone", "remarks", "organizer_note"):
        setattr(registration, name, "")
    registration.personal_data_purged_at = now


def _blank_companions(registration_ids: list[int]) -> None:
    """The companions of these registrations keep their row (their seat and check-in
    count for the office's statistics), not their names."""
    if not registration_ids:
        return
    db.session.execute(
        update(RegistrationCompanion)
        .where(RegistrationCompanion.registration_id.in_(registration_ids))
        .values(name=PURGED_MARKER, name_kana="")
        .execution_options(synchronize_session=False)
    )


def _empty_entry_lists(draws: Any, registration_ids: set[int] | None) -> None:
    """Empty the recorded entry list (addresses) of these draws, or of those among
    them that hold one of ``registration_ids``."""
    for draw in db.session.scalars(draws):
        if registration_ids is None or registration_ids & set(draw.entry_ids):
            draw.entry_list = ""


def _delete_answers(registration_ids: list[int]) -> int:
    """Delete every answer of these registrations; how many."""
    if not registration_ids:
        return 0
    result = db.session.execute(
        delete(RegistrationAnswer)
        .where(RegistrationAnswer.registration_id.in_(registration_ids))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def _purge_outbox(event_id: int, registration_ids: list[int]) -> int:
    """Blank every email about the event or to its registrants. A message not yet sent
    never will be: it is marked failed (a worker that already holds one finds no
    address and gives up)."""
    about = OutboxMessage.event_id == event_id
    if registration_ids:
        about = or_(about, OutboxMessage.registration_id.in_(registration_ids))
    return blank_messages(about)


def blank_messages(where: Any) -> int:
    """Blank every outbox row ``where`` selects (see ``_purge_outbox``); how many."""
    messages = db.session.scalars(select(OutboxMessage).where(where)).all()
    for message in messages:
        message.recipient = PURGED_ADDRESS
        message.subject = PURGED_MARKER
        message.body_text = ""
        message.body_html = ""
        message.attachments = []
        message.last_error = ""  # an SMTP answer may quote the address
        if message.status == OutboxStatus.queued:
            message.status = OutboxStatus.failed
            message.last_error = NOT_SENT
    return len(messages)


def _purge_audit(event_id: int, registration_ids: list[int]) -> int:
    """Blank the personal values of every audit entry about the event or its
    registrations; the keys stay, so the log still shows what was changed."""
    about = AuditLogEntry.event_id == event_id
    if registration_ids:
        about = or_(
            about,
            and_(
                AuditLogEntry.target_type == "registration",
                AuditLogEntry.target_id.in_(registration_ids),
            ),
        )
    return scrub_audit_entries(about, _personal_keys)


def scrub_audit_entries(
    where: Any, personal_keys: Callable[[AuditLogEntry], Callable[[str], bool]]
) -> int:
    """Replace with the marker every value of the entries ``where`` selects whose key
    ``personal_keys(entry)`` calls personal; returns how many entries changed."""
    changed = 0
    for entry in db.session.scalars(select(AuditLogEntry).where(where)):
        personal = personal_keys(entry)
        before, after = _scrub(entry.before, personal), _scrub(entry.after, personal)
        if before != (entry.before or {}) or after != (entry.after or {}):
            # New dicts: SQLAlchemy notices a change to a JSON column only on assignment.
            entry.before, entry.after = before, after
            changed += 1
    return changed


def _personal_keys(entry: AuditLogEntry) -> Callable[[str], bool]:
    if entry.target_type == "registration":
        return lambda key: key not in REGISTRATION_FACTS
    if entry.action in MESSAGE_ACTIONS:
        return lambda key: key in MESSAGE_TEXT or key in PERSONAL_FIELDS
    return lambda key: key in PERSONAL_FIELDS


def _scrub(values: dict[str, Any] | None, personal: Callable[[str], bool]) -> dict[str, Any]:
    return {
        key: PURGED_MARKER if personal(key) and value not in (None, "") else value
        for key, value in (values or {}).items()
    }
