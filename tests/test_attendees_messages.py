"""Writing to registrants: compose, preview, send once through the outbox, see delivery,
retry the failed copies."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from cluster_events.errors import ServiceError
from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry, OutboxMessage, OutboxStatus, RegistrationStatus
from cluster_events.registration import messages as services
from tests.concurrency import run_at_once
from tests.factories import make_event, make_registration
from tests.records import outbox_messages

BODY = "会場が3階の第2会議室に変わりました。\n\nお気をつけてお越しください。"


@pytest.fixture
def event(app):
    event = make_event(capacity=2)
    make_registration(event, name="相沢 花子", name_kana="あいざわ はなこ", email="a@example.org")
    make_registration(event, name="渡辺 健", name_kana="わたなべ けん", email="w@example.org")
    make_registration(event, name="佐々木 実", name_kana="ささき みのる", status="waiting")
    make_registration(event, name="取消 済", name_kana="とりけし", status="cancelled")
    db.session.commit()
    return event


def _preview(client, event, audience="confirmed", subject="会場変更のお知らせ"):
    return client.post(
        f"/admin/events/{event.id}/messages/preview",
        data={"audience": audience, "subject": subject, "body": BODY},
    )


def _batch_key(html: str) -> str:
    return re.search(r'name="batch_key"[^>]*value="([0-9a-f]+)"', html).group(1)


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ("confirmed", {"a@example.org", "w@example.org"}),
        ("waiting", {"person"}),
        ("both", {"a@example.org", "w@example.org", "person"}),
    ],
)
def test_preview_then_send_queues_one_copy_per_recipient(
    event, logged_in_client, audience, expected
):
    client = logged_in_client()
    preview = _preview(client, event, audience)
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert "会場が3階の第2会議室に変わりました。" in html
    assert outbox_messages() == []  # the preview sends nothing
    response = client.post(
        f"/admin/events/{event.id}/messages/send",
        data={
            "audience": audience,
            "subject": "会場変更のお知らせ",
            "body": BODY,
            "batch_key": _batch_key(html),
        },
    )
    assert response.status_code == 302
    messages = outbox_messages()
    assert {"person" if m.recipient.startswith("person") else m.recipient for m in messages} == (
        expected
    )
    assert len(messages) == len(expected)
    assert all(m.kind == "organizer_message" and m.event_id == event.id for m in messages)
    assert all("会場が3階の第2会議室に変わりました。" in m.body_text for m in messages)
    entry = db.session.scalar(select(AuditLogEntry).where(AuditLogEntry.action == "event.message"))
    assert entry.organizer_id == client.organizer.id
    assert entry.after["recipients"] == len(expected)
    assert entry.after["body"] == BODY


def test_sending_twice_sends_once(event, logged_in_client):
    client = logged_in_client()
    html = _preview(client, event).get_data(as_text=True)
    form = {
        "audience": "confirmed",
        "subject": "会場変更のお知らせ",
        "body": BODY,
        "batch_key": _batch_key(html),
    }
    client.post(f"/admin/events/{event.id}/messages/send", data=form)
    again = client.post(f"/admin/events/{event.id}/messages/send", data=form, follow_redirects=True)
    assert "flash--error" in again.get_data(as_text=True)
    assert len(outbox_messages()) == 2


def test_missing_subject_returns_to_the_form_with_the_text_kept(event, logged_in_client):
    client = logged_in_client()
    response = _preview(client, event, subject="")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'aria-describedby="subject-error"' in html
    assert "会場が3階の第2会議室に変わりました。" in html


def test_nobody_to_write_to_is_said_and_nothing_is_queued(app, logged_in_client):
    client = logged_in_client()
    event = make_event()
    db.session.commit()
    html = _preview(client, event).get_data(as_text=True)
    response = client.post(
        f"/admin/events/{event.id}/messages/send",
        data={"audience": "confirmed", "subject": "件名", "body": "本文", "batch_key": "abc123"},
        follow_redirects=True,
    )
    assert "flash--error" in response.get_data(as_text=True)
    assert "/messages/send" not in html  # no send button in the preview
    assert outbox_messages() == []


def test_history_shows_delivery_status_and_failed_ones_can_be_retried(event, logged_in_client):
    client = logged_in_client()
    messages = services.send_message(
        event.id, services.Audience.both, "お知らせ", BODY, batch_key="batch1"
    )
    messages[0].status = OutboxStatus.sent
    messages[1].status = OutboxStatus.failed
    messages[1].last_error = "550 mailbox unavailable"
    db.session.commit()
    html = client.get(f"/admin/events/{event.id}/messages").get_data(as_text=True)
    assert "お知らせ" in html
    cell = r'<td data-label="[^"]+">'
    row = re.search(
        rf"{cell}お知らせ</td>\s*{cell}(\d+)</td>\s*{cell}(\d+)</td>\s*{cell}(\d+)", html
    )
    assert row.groups() == ("1", "1", "1")
    assert "550 mailbox unavailable" in html

    other_event = make_event()
    db.session.commit()
    # A message id of this event sent to another event's retry URL is ignored.
    client.post(
        f"/admin/events/{other_event.id}/messages/retry", data={"message_id": messages[1].id}
    )
    db.session.expire_all()
    assert messages[1].status == OutboxStatus.failed

    response = client.post(
        f"/admin/events/{event.id}/messages/retry",
        data={"message_id": [messages[1].id, messages[0].id, "99999999999", "x"]},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert messages[1].status == OutboxStatus.queued
    assert messages[0].status == OutboxStatus.sent  # sent ones are never sent again
    entry = db.session.scalar(
        select(AuditLogEntry).where(AuditLogEntry.action == "event.message_retry")
    )
    assert entry.after == {"messages": str(messages[1].id)}


def test_registration_mail_is_not_listed_as_an_organizer_message(event, logged_in_client):
    client = logged_in_client()
    from cluster_events.registration.notifications import queue_promoted

    waiting = next(r for r in event.registrations if r.status == RegistrationStatus.waiting)
    queue_promoted(waiting)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert services.message_history(event.id) == []
    html = client.get(f"/admin/events/{event.id}/messages").get_data(as_text=True)
    assert "empty-state" in html


def test_two_sends_of_the_same_preview_at_once_queue_one_batch(event, app):
    """Two browser tabs (or a double click) sending the same preview at the same moment."""
    event_id = event.id
    db.session.rollback()  # the threads must not wait behind this session's transaction

    def send() -> str:
        try:
            services.send_message(
                event_id, services.Audience.both, "お知らせ", BODY, batch_key="samebatch"
            )
        except ServiceError:
            return "refused"
        return "sent"

    outcomes = run_at_once(app, 2, send, timeout=60)
    assert sorted(outcomes) == ["refused", "sent"]
    db.session.rollback()  # end the test's own read snapshot
    assert len(outbox_messages()) == 3


def test_retry_ignores_message_ids_that_are_not_ascii_digits(event, logged_in_client):
    """The superscript two passes str.isdigit() but not int(): ignored like any junk id."""
    client = logged_in_client()
    (message, *_) = services.send_message(
        event.id, services.Audience.confirmed, "お知らせ", BODY, batch_key="batch1"
    )
    message.status = OutboxStatus.failed
    db.session.commit()
    response = client.post(
        f"/admin/events/{event.id}/messages/retry", data={"message_id": ["²", "１", "٣"]}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert message.status == OutboxStatus.failed
