"""Reminders: one per confirmed registration before the event, however often (and
however many at once) `send-reminders` runs."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parseaddr
from typing import Any

import pytest
from sqlalchemy import select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import (
    EventStatus,
    OutboxMessage,
    OutboxStatus,
    Registration,
    RegistrationStatus,
)
from cluster_events.registration.reminders import queue_due_reminders
from tests.concurrency import run_at_once
from tests.conftest import sending_to
from tests.factories import make_event, make_registration


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {
        **app_config,
        **sending_to(smtp_server),
        "REMINDER_HOURS_BEFORE": 24,
    }


def reminders() -> list[OutboxMessage]:
    db.session.rollback()
    query = select(OutboxMessage).where(OutboxMessage.kind == "reminder")
    return list(db.session.scalars(query.order_by(OutboxMessage.id)))


@pytest.fixture
def soon(app):
    """An event starting in 20 hours, with people in every state."""
    event = make_event(starts_at=utcnow() + timedelta(hours=20), capacity=2)
    people = {
        "confirmed": make_registration(event, email="confirmed@example.org"),
        "english": make_registration(event, email="english@example.org", locale="en"),
        "waiting": make_registration(event, status=RegistrationStatus.waiting),
        "cancelled": make_registration(event, status=RegistrationStatus.cancelled),
    }
    db.session.commit()
    return event, people


def test_each_confirmed_registrant_of_an_event_within_the_window_gets_one(app, soon):
    event, people = soon
    later = make_event(starts_at=utcnow() + timedelta(hours=30))
    make_registration(later, email="later@example.org")
    started = make_event(starts_at=utcnow() - timedelta(minutes=5))
    make_registration(started, email="started@example.org")
    for status in (EventStatus.draft, EventStatus.cancelled):
        other = make_event(starts_at=utcnow() + timedelta(hours=5), status=status)
        make_registration(other, email=f"{status}@example.org")
    purged = make_registration(event, email="purged@example.org")
    purged.personal_data_purged_at = utcnow()
    db.session.commit()

    queued = queue_due_reminders()

    assert sorted(m.recipient for m in queued) == ["confirmed@example.org", "english@example.org"]
    for message in reminders():
        assert message.dedupe_key == f"reminder:{message.registration_id}"
        assert message.event_id == event.id
        assert message.status == OutboxStatus.queued
    db.session.refresh(people["confirmed"])
    db.session.refresh(people["waiting"])
    assert people["confirmed"].reminder_sent_at is not None
    assert people["waiting"].reminder_sent_at is None
    subjects = {m.recipient: m.subject for m in reminders()}
    assert subjects["confirmed@example.org"].startswith("【リマインド】")
    assert subjects["english@example.org"].startswith("Reminder: ")


def test_running_again_queues_nothing_new(app, soon):
    assert len(queue_due_reminders()) == 2
    assert queue_due_reminders() == []
    assert queue_due_reminders(now=utcnow() + timedelta(hours=1)) == []
    assert len(reminders()) == 2


def test_someone_promoted_later_gets_their_reminder_on_the_next_run(app, soon):
    _event, people = soon
    queue_due_reminders()
    waiting = db.session.get(Registration, people["waiting"].id)
    waiting.status = RegistrationStatus.confirmed
    waiting.waiting_position = None
    db.session.commit()

    (message,) = queue_due_reminders()
    assert message.registration_id == waiting.id


def test_an_outbox_reminder_already_there_is_never_duplicated(app, soon):
    _event, people = soon
    queue_due_reminders()
    # As if another run's reminder had slipped past the registration lock.
    db.session.get(Registration, people["confirmed"].id).reminder_sent_at = None
    db.session.commit()

    assert queue_due_reminders() == []
    assert len(reminders()) == 2
    assert db.session.get(Registration, people["confirmed"].id).reminder_sent_at is not None


def test_runs_at_the_same_time_queue_each_reminder_once(app):
    event = make_event(starts_at=utcnow() + timedelta(hours=3))
    ids = {make_registration(event).id for _ in range(60)}
    db.session.commit()
    counts = run_at_once(app, 3, lambda: len(queue_due_reminders()))
    assert sum(counts) == 60
    assert sorted(m.registration_id for m in reminders()) == sorted(ids)


def test_send_reminders_command_queues_and_in_inline_mode_sends(app, runner, soon, smtp_server):
    result = runner.invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    assert "Queued 2 reminders." in result.output
    assert smtp_server.messages() == []  # worker mode: the worker sends them

    app.config["MAIL_DELIVERY"] = "inline"
    event, _people = soon
    make_registration(event, email="late@example.org")
    db.session.commit()
    result = runner.invoke(args=["send-reminders"])
    assert "Queued 1 reminders." in result.output
    (message,) = smtp_server.messages()
    assert parseaddr(message["To"])[1] == "late@example.org"
    assert message["Subject"].startswith("【リマインド】")
    assert "image/png" in {part.get_content_type() for part in message.walk()}
