"""Deleting the personal data of old events (Japan's Act on the Protection of Personal
Information): for one ended event from the console, or for every event that ended
long enough ago with `flask --app cluster_events purge-personal-data --older-than N`
(for cron). Statuses, counts and times stay for statistics."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from cluster_events.audit import record_change
from cluster_events.database import utcnow
from cluster_events.errors import Conflict
from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry, Event, OutboxMessage, Registration
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


def event_has_ended(event: Event, now: datetime | None = None) -> bool:
    return event.ends_at <= (now or utcnow())


def purge_event(event_id: int, *, now: datetime | None = None) -> int:
    """Replace the personal data of every registration of one ended event with a marker;
    statuses, counts and times stay for statistics. Returns how many were purged."""
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
        select(Event.id)
        .where(
            Event.ends_at < cutoff,
            Event.id.in_(
                select(Registration.event_id).where(Registration.personal_data_purged_at.is_(None))
            ),
        )
        .order_by(Event.id)
    ).all()
    end_read_transaction()
    total = 0
    for event_id in event_ids:
        with write_transaction(lock_event=event_id):
            total += _purge_event_locked(event_id, now, older_than_days=days)
    return len(event_ids), total


def _purge_event_locked(event_id: int, now: datetime, **reason: int) -> int:
    """Inside a transaction that locked the event: purge it and audit how many."""
    purged = _purge_registrations(event_id, now)
    record_change(
        "event.purge_personal_data",
        "event",
        event_id,
        event_id=event_id,
        after={"purged": purged, **reason},
    )
    return purged


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


@click.command("purge-personal-data")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=0),
    default=None,
    help="Days since the event ended (default: PERSONAL_DATA_RETENTION_DAYS).",
)
def purge_personal_data_command(days: int | None) -> None:
    """Replace the personal data of registrations of events that ended more than N days
    ago with a marker; statuses and counts stay for statistics."""
    if days is None:
        days = current_app.config["PERSONAL_DATA_RETENTION_DAYS"]
    events, registrations = purge_older_than(days)
    click.echo(
        f"Purged the personal data of {registrations} registrations "
        f"of {events} events that ended more than {days} days ago."
    )
