"""The outbox against a real SMTP server on loopback: delivery after commit, retries
with backoff, giving up, leases, and several workers sending each message once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.mail.messages import RenderedMail, add_to_outbox
from cluster_events.models import OutboxMessage, OutboxStatus
from tests.concurrency import run_at_once
from tests.conftest import free_port, sending_to
from tests.factories import make_event

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {
        **app_config,
        **sending_to(smtp_server),
        "MAIL_TIMEOUT": 5,
        "MAIL_MAX_ATTEMPTS": 4,
    }


def queue(count: int = 1, prefix: str = "person") -> list[int]:
    ids = []
    for number in range(count):
        message = add_to_outbox(
            RenderedMail(f"件名 {number}", f"本文 {number}\n", f"<p>本文 {number}</p>"),
            kind="test",
            recipient=f"{prefix}{number}@example.org",
        )
        db.session.flush()
        ids.append(message.id)
    db.session.commit()
    return ids


def rows() -> list[OutboxMessage]:
    db.session.rollback()  # a fresh snapshot: delivery ran in its own session
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def received_recipients(smtp_server) -> Counter[str]:
    return Counter(parseaddr(m["To"])[1] for m in smtp_server.messages())


def point_mail_at(app, port: int) -> None:
    app.extensions["mail"].port = port


def test_due_messages_are_sent_once_and_marked_sent(app, smtp_server):
    queue(3)
    report = outbox.deliver_due()
    assert (report.claimed, report.sent) == (3, 3)
    assert outbox.deliver_due().claimed == 0

    assert received_recipients(smtp_server) == Counter(
        {"person0@example.org": 1, "person1@example.org": 1, "person2@example.org": 1}
    )
    for row in rows():
        assert row.status == OutboxStatus.sent
        assert row.sent_at is not None
        assert row.attempts == 1
        assert row.locked_until is None


def test_message_not_yet_due_waits(app, smtp_server):
    (message_id,) = queue()
    row = db.session.get(OutboxMessage, message_id)
    row.next_attempt_at = utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert outbox.deliver_due().claimed == 0
    assert outbox.deliver_due(now=utcnow() + timedelta(minutes=6)).sent == 1


def test_refusing_server_gets_every_message_exactly_once_after_backoff(app, smtp_server):
    queue(3)
    smtp_server.refuse_next(4)
    now = utcnow()

    first = outbox.deliver_due(now=now)
    assert (first.sent, first.retrying) == (0, 3)
    for row in rows():
        assert row.status == OutboxStatus.queued
        assert row.attempts == 1
        assert row.last_error.startswith("451")
        assert row.next_attempt_at == now + timedelta(minutes=1)
    assert outbox.deliver_due(now=now + timedelta(seconds=59)).claimed == 0

    now += timedelta(minutes=1)
    second = outbox.deliver_due(now=now)
    assert (second.sent, second.retrying) == (2, 1)
    (late,) = [row for row in rows() if row.status == OutboxStatus.queued]
    assert late.attempts == 2
    assert late.next_attempt_at == now + timedelta(minutes=2)

    now += timedelta(minutes=2)
    assert outbox.deliver_due(now=now).sent == 1
    assert outbox.deliver_due(now=now + timedelta(days=1)).claimed == 0

    assert sorted(received_recipients(smtp_server).values()) == [1, 1, 1]
    assert all(row.status == OutboxStatus.sent for row in rows())


def test_unreachable_server_keeps_messages_queued_until_it_is_back(app, smtp_server):
    queue(2)
    point_mail_at(app, free_port())
    report = outbox.deliver_due()
    assert (report.claimed, report.sent, report.deferred) == (2, 0, 2)
    for row in rows():
        assert (row.status, row.attempts, row.deferrals) == (OutboxStatus.queued, 0, 1)
        assert "ConnectionRefusedError" in row.last_error

    point_mail_at(app, smtp_server.port)
    assert outbox.deliver_due(now=utcnow() + timedelta(minutes=2)).sent == 2
    assert len(smtp_server.messages()) == 2


def test_gives_up_after_the_attempt_limit_and_retry_message_requeues(app, smtp_server):
    (message_id,) = queue()
    smtp_server.refuse_next(100)
    now = utcnow()
    for _attempt in range(4):
        outbox.deliver_due(now=now)
        now += timedelta(hours=7)
    (row,) = rows()
    assert row.status == OutboxStatus.failed
    assert row.attempts == 4
    assert row.last_error.startswith("451")
    assert outbox.deliver_due(now=now + timedelta(days=30)).claimed == 0

    smtp_server.refusals.clear()
    retried = outbox.retry_message(message_id)
    assert (retried.status, retried.attempts) == (OutboxStatus.queued, 0)
    assert outbox.deliver_due().sent == 1
    assert len(smtp_server.messages()) == 1
    with pytest.raises(outbox.MessageNotRetryable):
        outbox.retry_message(message_id)
    with pytest.raises(LookupError):
        outbox.retry_message(message_id + 1000)


def test_permanent_refusal_fails_at_once(app, smtp_server):
    queue()
    smtp_server.refuse_next(1, "550 5.1.1 No such user")
    report = outbox.deliver_due()
    assert report.failed == 1
    (row,) = rows()
    assert row.status == OutboxStatus.failed
    assert row.last_error == "550 5.1.1 No such user"


def test_a_message_whose_address_was_purged_is_not_sent(app, smtp_server):
    (message_id,) = queue()
    db.session.get(OutboxMessage, message_id).recipient = "purged@invalid"
    db.session.commit()
    assert outbox.deliver_due().failed == 1
    assert smtp_server.messages() == []
    assert rows()[0].status == OutboxStatus.failed


def test_backoff_doubles_and_is_capped(app):
    assert [outbox.retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert outbox.retry_delay(30) == timedelta(hours=6)


def test_a_lease_keeps_other_workers_away_until_it_expires(app, smtp_server):
    (message_id,) = queue()
    ((claimed_id, lease),) = outbox.claim()  # a worker claims it, then dies
    assert claimed_id == message_id
    assert outbox.deliver_due().claimed == 0
    assert rows()[0].status == OutboxStatus.sending

    report = outbox.deliver_due(now=lease + timedelta(seconds=1))
    assert report.sent == 1
    (row,) = rows()
    assert (row.status, row.attempts) == (OutboxStatus.sent, 2)
    assert len(smtp_server.messages()) == 1


def test_worker_threads_at_once_send_each_message_once(app, smtp_server):
    ids = queue(40)

    def drain() -> None:
        while outbox.deliver_due(limit=3).claimed:
            pass

    run_at_once(app, 4, drain)
    counts = received_recipients(smtp_server)
    assert len(counts) == len(ids)
    assert set(counts.values()) == {1}
    assert all(row.status == OutboxStatus.sent and row.attempts == 1 for row in rows())


@pytest.mark.slow
def test_mail_worker_keeps_polling_and_stops_cleanly_on_sigterm(app, app_config, smtp_server):
    env = {
        **os.environ,
        "FLASK_SQLALCHEMY_DATABASE_URI": app_config["SQLALCHEMY_DATABASE_URI"],
        "FLASK_SECRET_KEY": "worker-test-secret",
        "FLASK_MAIL_SERVER": "127.0.0.1",
        "FLASK_MAIL_PORT": str(smtp_server.port),
    }
    command = [sys.executable, "-m", "flask", "--app", "cluster_events", "mail-worker"]
    worker = subprocess.Popen(
        [*command, "--interval", "0.2"],
        cwd=PROJECT_ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        queue(1)  # queued while the worker is already polling
        deadline = time.monotonic() + 60
        while not smtp_server.messages() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(smtp_server.messages()) == 1
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    assert "Sent 1, to retry 0, failed 0." in err


def test_a_server_that_never_answers_is_given_up_on_after_the_timeout(app, smtp_server):
    app.config["MAIL_TIMEOUT"] = 0.5
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections at the TCP level, never says hello
    point_mail_at(app, silent.getsockname()[1])
    queue()
    reports: list[outbox.DeliveryReport] = []

    def deliver() -> None:
        with app.app_context():
            reports.append(outbox.deliver_due())
            db.session.remove()

    try:
        thread = threading.Thread(target=deliver)
        thread.start()
        thread.join(timeout=60)
    finally:
        silent.close()
    assert [r.deferred for r in reports] == [1]
    (row,) = rows()
    assert row.status == OutboxStatus.queued
    assert "timed out" in row.last_error


def test_mail_worker_once_command_drains_the_queue(app, runner, smtp_server):
    queue(3)
    result = runner.invoke(args=["mail-worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "Sent 3" in result.output
    assert len(smtp_server.messages()) == 3


# --- inline delivery after the response --------------------------------------------


@pytest.fixture
def inline_app(app):
    app.config["MAIL_DELIVERY"] = "inline"

    def queue_and_commit():
        queue(1, prefix="inline")
        return "queued"

    def queue_and_roll_back():
        add_to_outbox(RenderedMail("s", "t", ""), kind="test", recipient="ghost@example.org")
        db.session.flush()
        db.session.rollback()
        return "rolled back"

    app.add_url_rule("/_test/queue", view_func=queue_and_commit, methods=["POST"])
    app.add_url_rule("/_test/rollback", view_func=queue_and_roll_back, methods=["POST"])
    return app


def test_inline_delivery_sends_after_the_response(inline_app, client, smtp_server):
    response = client.post("/_test/queue")
    assert response.status_code == 200
    assert smtp_server.messages() == []  # not while the response is being sent
    response.close()
    assert [parseaddr(m["To"])[1] for m in smtp_server.messages()] == ["inline0@example.org"]
    assert rows()[0].status == OutboxStatus.sent


def test_inline_delivery_never_sends_a_rolled_back_message(inline_app, client, smtp_server):
    client.post("/_test/rollback").close()
    queue(1, prefix="later")  # may reuse the rolled-back id on SQLite
    assert smtp_server.messages() == []
    assert rows()[0].status == OutboxStatus.queued


def test_worker_mode_sends_nothing_inline(inline_app, client, smtp_server):
    inline_app.config["MAIL_DELIVERY"] = "worker"
    client.post("/_test/queue").close()
    assert smtp_server.messages() == []
    assert rows()[0].status == OutboxStatus.queued


def test_inline_delivery_with_smtp_down_answers_and_keeps_the_message(inline_app, client):
    point_mail_at(inline_app, free_port())
    response = client.post("/_test/queue")
    assert response.status_code == 200
    response.close()
    (row,) = rows()
    assert row.status == OutboxStatus.queued
    assert "ConnectionRefusedError" in row.last_error
    assert row.next_attempt_at > utcnow()


# --- through the registration form ---------------------------------------------------


def form(email: str, **values: str) -> dict[str, str]:
    return {
        "name": "山田 太郎",
        "name_kana": "やまだ たろう",
        "email": email,
        "member_type": "general",
        "agree_privacy": "y",
        **values,
    }


def test_registration_through_the_form_emails_the_registrant(app, client, smtp_server):
    app.config["MAIL_DELIVERY"] = "inline"
    event = make_event(capacity=1, title="省エネ・環境経営セミナー")
    db.session.commit()

    response = client.post(f"/events/{event.slug}/register", data=form("taro@example.org"))
    assert response.status_code == 303
    response.close()
    client.post(
        f"/events/{event.slug}/register", data=form("jane@example.org", name="Jane Doe")
    ).close()

    subjects = {parseaddr(m["To"])[1]: m["Subject"] for m in smtp_server.messages()}
    assert subjects == {
        "taro@example.org": "【お申込み受付】省エネ・環境経営セミナー",
        "jane@example.org": "【キャンセル待ち】省エネ・環境経営セミナー",
    }


def test_registration_while_smtp_is_unreachable_still_succeeds(app, client):
    app.config["MAIL_DELIVERY"] = "inline"
    point_mail_at(app, free_port())
    event = make_event()
    db.session.commit()

    response = client.post(f"/events/{event.slug}/register", data=form("taro@example.org"))
    assert response.status_code == 303
    response.close()
    (row,) = rows()
    assert row.kind == "confirmation"
    assert row.status == OutboxStatus.queued
    assert row.last_error


def test_cancel_link_promotes_and_emails_both(app, client, smtp_server):
    app.config["MAIL_DELIVERY"] = "inline"
    event = make_event(capacity=1)
    db.session.commit()
    first = client.post(f"/events/{event.slug}/register", data=form("first@example.org"))
    client.post(f"/events/{event.slug}/register", data=form("second@example.org")).close()
    manage_url = first.headers["Location"]
    first.close()

    client.post(manage_url.rstrip("/") + "/cancel").close()

    by_recipient: dict[str, list[str]] = {}
    for message in smtp_server.messages():
        by_recipient.setdefault(parseaddr(message["To"])[1], []).append(message["Subject"])
    assert [s.split("】")[0] + "】" for s in by_recipient["first@example.org"]] == [
        "【お申込み受付】",
        "【キャンセル受付】",
    ]
    assert [s.split("】")[0] + "】" for s in by_recipient["second@example.org"]] == [
        "【キャンセル待ち】",
        "【繰り上げのご連絡】",
    ]
