"""Reminders before an event: one per confirmed registration, however often cron runs,
and the `send-reminders` command that queues them. A course (an event with sessions)
gets one before each session instead: one per registration and session
(``SessionReminder``, unique per pair, and the outbox key
"reminder:<registration>:session:<session>")."""

from __future__ import annotations

from datetime import datetime, timedelta

import click
from flask import current_app
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.models import (
    Event,
    EventSession,
    EventStatus,
    OutboxMessage,
    Registration,
    RegistrationStatus,
    SessionReminder,
    SessionStatus,
)
from cluster_events.registration.notifications import queue_reminder
from cluster_events.transactions import write_transaction

BATCH_SIZE = 50


def queue_due_reminders(now: datetime | None = None) -> list[OutboxMessage]:
    """Queue a reminder for every confirmed registration of a published event that
    starts within REMINDER_HOURS_BEFORE hours and has not started yet.

    Safe to run from cron every few minutes and twice at once: a registration is
    locked while its reminder is written (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
    the SQLite write lock otherwise), ``reminder_sent_at`` is set in the same
    transaction, and the outbox's unique ``dedupe_key`` ("reminder:<id>") refuses a
    second reminder at the database should anything else slip through.
    """
    now = now or utcnow()
    horizon = now + timedelta(hours=current_app.config["REMINDER_HOURS_BEFORE"])
    due = (
        select(Registration)
        .join(Registration.event)
        .where(
            Event.status == EventStatus.published,
            Event.session_count == 0,
            Event.starts_at > now,
            Event.starts_at <= horizon,
            Registration.status == RegistrationStatus.confirmed,
            Registration.reminder_sent_at.is_(None),
            Registration.personal_data_purged_at.is_(None),
        )
        .order_by(Registration.id)
        .limit(BATCH_SIZE)
        .with_for_update(of=Registration, skip_locked=True)
    )
    queued: list[OutboxMessage] = []
    skipped: set[int] = set()
    while True:
        batch: list[OutboxMessage] = []
        ids: list[int] = []
        try:
            with write_transaction():
                registrations = db.session.scalars(due.where(Registration.id.not_in(skipped))).all()
                ids = [registration.id for registration in registrations]
                for registration in registrations:
                    batch.extend(queue_reminder(registration, now=now))
                    registration.reminder_sent_at = now
        except IntegrityError:
            # Another run queued one of these in the meantime; redo one by one.
            batch = _queue_one_by_one(ids, now, skipped)
        if not ids:
            return queued + queue_due_session_reminders(now)
        queued.extend(batch)


def queue_due_session_reminders(now: datetime | None = None) -> list[OutboxMessage]:
    """A reminder for every confirmed registration of a published course before each
    of its sessions that starts within REMINDER_HOURS_BEFORE hours (not a cancelled
    one), once per registration and session: the ``SessionReminder`` row is written
    with the email, and its unique pair refuses a second at the database."""
    now = now or utcnow()
    horizon = now + timedelta(hours=current_app.config["REMINDER_HOURS_BEFORE"])
    already = exists().where(
        SessionReminder.session_id == EventSession.id,
        SessionReminder.registration_id == Registration.id,
    )
    due = (
        select(Registration, EventSession)
        .join(Registration.event)
        .join(EventSession, EventSession.event_id == Event.id)
        .where(
            Event.status == EventStatus.published,
            EventSession.status == SessionStatus.scheduled,
            EventSession.starts_at > now,
            EventSession.starts_at <= horizon,
            Registration.status == RegistrationStatus.confirmed,
            Registration.personal_data_purged_at.is_(None),
            ~already,
        )
        .order_by(EventSession.starts_at, Registration.id)
        .limit(BATCH_SIZE)
        .with_for_update(of=Registration, skip_locked=True)
    )
    queued: list[OutboxMessage] = []
    skipped: set[tuple[int, int]] = set()
    while True:
        pairs: list[tuple[int, int]] = []
        try:
            with write_transaction():
                rows = [
                    (registration, session)
                    for registration, session in db.session.execute(due).all()
                    if (registration.id, session.id) not in skipped
                ]
                pairs = [(registration.id, session.id) for registration, session in rows]
                batch = []
                for registration, session in rows:
                    batch.extend(queue_reminder(registration, now=now, session=session))
                    db.session.add(
                        SessionReminder(
                            session_id=session.id, registration_id=registration.id, sent_at=now
                        )
                    )
        except IntegrityError:
            # Another run queued some of these meanwhile: leave them to it this time.
            skipped.update(pairs)
            continue
        if not pairs:
            return queued
        queued.extend(batch)


def _queue_one_by_one(ids: list[int], now: datetime, skipped: set[int]) -> list[OutboxMessage]:
    queued = []
    for registration_id in ids:
        try:
            with write_transaction():
                registration = db.session.get(Registration, registration_id, with_for_update=True)
                if registration is None or registration.reminder_sent_at is not None:
                    skipped.add(registration_id)
                    continue
                messages = queue_reminder(registration, now=now)
                registration.reminder_sent_at = now
        except IntegrityError:
            # Its reminder is already in the outbox: record that, so it is not tried again.
            with write_transaction():
                db.session.execute(
                    update(Registration)
                    .where(
                        Registration.id == registration_id,
                        Registration.reminder_sent_at.is_(None),
                    )
                    .values(reminder_sent_at=now)
                )
            skipped.add(registration_id)
            continue
        queued.extend(messages)
    return queued


@click.command("send-reminders")
def send_reminders_command() -> None:
    """Queue the reminders that are due (safe to run from cron every 10 minutes).

    With MAIL_DELIVERY=inline they are sent at once; otherwise the worker sends them.
    """
    messages = queue_due_reminders()
    click.echo(f"Queued {len(messages)} reminders.", err=True)
    if messages and current_app.config["MAIL_DELIVERY"] == "inline":
        report = outbox.deliver(ids=[m.id for m in messages], limit=len(messages))
        click.echo(f"Sent {report.sent}, to retry {report.retrying + report.deferred}.", err=True)
