"""Failed emails of every kind go back in the queue: `flask mail-retry`, the event's
undelivered-email page, and the admins' page of every event's; each retry audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.mail.messages import RenderedMail, add_to_outbox
from cluster_events.models import AuditLogEntry, OutboxMessage, OutboxStatus
from tests.factories import make_event

KINDS = ("confirmation", "promoted", "reminder", "event_changed", "organizer_message")
LAST_TRY = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)  # 10:30 in Tokyo


def outbox_row(event, kind: str, status: str = OutboxStatus.failed, **values) -> OutboxMessage:
    mail = RenderedMail(f"件名 {kind}", "本文\n", "")
    row = add_to_outbox(mail, kind=kind, recipient=f"{kind}@example.org", event_id=event.id)
    row.status = status
    row.attempts = values.pop("attempts", 8 if status == OutboxStatus.failed else 1)
    row.last_error = values.pop("last_error", "550 5.1.1 No such user")
    row.last_attempt_at = LAST_TRY
    for name, value in values.items():
        setattr(row, name, value)
    db.session.flush()
    return row


@pytest.fixture
def mail(app):
    """Two events: failed emails of five kinds, one waiting in backoff and one sent
    for the first; one failed for the second."""
    seminar, meeting = make_event(title="経営セミナー"), make_event(title="交流会")
    failed = {kind: outbox_row(seminar, kind) for kind in KINDS}
    waiting = outbox_row(
        seminar, "confirmation", OutboxStatus.queued, next_attempt_at=utcnow() + timedelta(hours=1)
    )
    sent = outbox_row(seminar, "promoted", OutboxStatus.sent, last_error="")
    other = outbox_row(meeting, "waitlisted")
    db.session.commit()
    return {
        "seminar": seminar,
        "meeting": meeting,
        "failed": failed,
        "waiting": waiting,
        "sent": sent,
        "other": other,
    }


def fresh(row: OutboxMessage) -> OutboxMessage:
    db.session.rollback()
    return db.session.get(OutboxMessage, row.id)


def retry_entries() -> list[AuditLogEntry]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(AuditLogEntry)
            .where(AuditLogEntry.action.in_(["event.message_retry", "mail.retry"]))
            .order_by(AuditLogEntry.id)
        )
    )


# --- flask mail-retry ----------------------------------------------------------------


def test_mail_retry_failed_requeues_every_failed_message_and_nothing_else(runner, mail):
    result = runner.invoke(args=["mail-retry", "--failed"])
    assert result.exit_code == 0, result.output
    assert "Requeued 6 messages." in result.output
    for row in [*mail["failed"].values(), mail["other"]]:
        row = fresh(row)
        assert (row.status, row.attempts, row.locked_until) == (OutboxStatus.queued, 0, None)
        assert row.next_attempt_at <= utcnow()
        assert row.last_error == "550 5.1.1 No such user"  # kept as history until the next try
    assert fresh(mail["waiting"]).next_attempt_at > utcnow()  # still in its backoff
    assert fresh(mail["sent"]).status == OutboxStatus.sent
    by_event = {entry.event_id: entry for entry in retry_entries()}
    assert set(by_event) == {mail["seminar"].id, mail["meeting"].id}
    assert by_event[mail["meeting"].id].after == {"messages": str(mail["other"].id)}
    assert by_event[mail["seminar"].id].organizer_id is None  # the command, not a person


def test_mail_retry_without_failed_also_makes_messages_in_backoff_due(runner, mail):
    result = runner.invoke(args=["mail-retry"])
    assert "Requeued 7 messages." in result.output
    waiting = fresh(mail["waiting"])
    assert waiting.next_attempt_at <= utcnow()
    assert (waiting.status, waiting.attempts) == (OutboxStatus.queued, 1)  # its tries kept
    assert fresh(mail["sent"]).status == OutboxStatus.sent
    assert runner.invoke(args=["mail-retry"]).output.strip() == "Requeued 0 messages."


def test_mail_retry_by_kind_and_by_event(runner, mail):
    assert "Requeued 1 messages." in runner.invoke(args=["mail-retry", "--kind", "reminder"]).output
    assert fresh(mail["failed"]["reminder"]).status == OutboxStatus.queued
    assert fresh(mail["failed"]["promoted"]).status == OutboxStatus.failed

    result = runner.invoke(args=["mail-retry", "--failed", "--event", str(mail["meeting"].id)])
    assert "Requeued 1 messages." in result.output
    assert fresh(mail["other"]).status == OutboxStatus.queued
    assert fresh(mail["failed"]["promoted"]).status == OutboxStatus.failed


def test_mail_retry_help_says_what_it_does_without_failed(runner):
    output = " ".join(runner.invoke(args=["mail-retry", "--help"]).output.split())
    assert "Without it, messages waiting for a retry after a temporary failure" in output
    assert "are also made due now" in output


# --- the event's undelivered-email page ----------------------------------------------


def test_the_event_page_lists_its_failed_emails_of_every_kind(mail, logged_in_client):
    client = logged_in_client()
    response = client.get(f"/admin/events/{mail['seminar'].id}/mail/failed")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for kind in KINDS:
        row = mail["failed"][kind]
        assert f'id="failed-{row.id}"' in html
        assert f"{kind}@example.org" in html and f"件名 {kind}" in html
    assert "開催前のリマインド" in html and "事務局からのお知らせ" in html  # kinds in plain words
    assert "550 5.1.1 No such user" in html
    assert "10:30" in html  # the last try, in Tokyo time
    assert f'id="failed-{mail["other"].id}"' not in html  # another event's
    assert f'id="failed-{mail["waiting"].id}"' not in html  # not failed: it waits
    assert f'id="failed-{mail["sent"].id}"' not in html


def test_one_email_is_sent_again_from_its_row(mail, logged_in_client):
    client = logged_in_client()
    event_id, reminder = mail["seminar"].id, mail["failed"]["reminder"]
    promoted = mail["failed"]["promoted"]
    response = client.post(
        f"/admin/events/{event_id}/messages/retry",
        data={"one": reminder.id, "message_id": [promoted.id], "back": "failed"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/events/{event_id}/mail/failed")
    assert fresh(reminder).status == OutboxStatus.queued
    assert fresh(promoted).status == OutboxStatus.failed  # ticked, but its row's button won
    (entry,) = retry_entries()
    assert (entry.event_id, entry.after) == (event_id, {"messages": str(reminder.id)})
    assert entry.organizer_id == client.organizer.id


def test_the_chosen_or_all_emails_of_the_event_are_sent_again(mail, logged_in_client):
    client = logged_in_client()
    event_id = mail["seminar"].id
    chosen = [mail["failed"]["confirmation"].id, mail["failed"]["event_changed"].id]
    client.post(
        f"/admin/events/{event_id}/messages/retry",
        data={"message_id": [*chosen, mail["other"].id], "back": "failed"},
    )
    assert {fresh(mail["failed"][k]).status for k in ("confirmation", "event_changed")} == {
        OutboxStatus.queued
    }
    assert fresh(mail["other"]).status == OutboxStatus.failed  # another event's: ignored
    assert fresh(mail["failed"]["reminder"]).status == OutboxStatus.failed

    client.post(f"/admin/events/{event_id}/messages/retry", data={"all": "1", "back": "failed"})
    assert all(fresh(row).status == OutboxStatus.queued for row in mail["failed"].values())
    assert fresh(mail["other"]).status == OutboxStatus.failed
    html = client.get(f"/admin/events/{event_id}/mail/failed").get_data(as_text=True)
    assert "empty-state" in html


def test_choosing_nothing_says_so(mail, logged_in_client):
    client = logged_in_client()
    response = client.post(
        f"/admin/events/{mail['seminar'].id}/messages/retry",
        data={"back": "failed"},
        follow_redirects=True,
    )
    assert "flash--error" in response.get_data(as_text=True)
    assert all(fresh(row).status == OutboxStatus.failed for row in mail["failed"].values())


# --- every event's, for admins ---------------------------------------------------------


def test_organizers_may_not_see_every_event_s_failed_emails(mail, logged_in_client):
    client = logged_in_client(role="organizer")
    assert client.get("/admin/mail/failed").status_code == 403
    response = client.post("/admin/mail/failed/retry", data={"all": "1"})
    assert response.status_code == 403
    assert fresh(mail["other"]).status == OutboxStatus.failed
    assert "/admin/mail/failed" not in client.get("/admin/").get_data(as_text=True)


def test_admins_see_every_event_s_failed_emails_and_send_them_again(mail, logged_in_client):
    client = logged_in_client(role="admin")
    dashboard = client.get("/admin/").get_data(as_text=True)
    assert "6通のメールを送信できませんでした。" in dashboard

    html = client.get("/admin/mail/failed").get_data(as_text=True)
    assert "経営セミナー" in html and "交流会" in html
    for row in [*mail["failed"].values(), mail["other"]]:
        assert f'id="failed-{row.id}"' in html

    html = client.get("/admin/mail/failed?kind=waitlisted").get_data(as_text=True)
    assert f'id="failed-{mail["other"].id}"' in html
    assert f'id="failed-{mail["failed"]["reminder"].id}"' not in html
    assert client.get("/admin/mail/failed?kind=" + "x" * 33).status_code == 400

    response = client.post("/admin/mail/failed/retry", data={"all": "1", "kind": "waitlisted"})
    assert response.headers["Location"].endswith("/admin/mail/failed?kind=waitlisted")
    assert fresh(mail["other"]).status == OutboxStatus.queued
    assert fresh(mail["failed"]["reminder"]).status == OutboxStatus.failed

    chosen = mail["failed"]["reminder"].id
    client.post("/admin/mail/failed/retry", data={"message_id": [chosen]})
    assert fresh(mail["failed"]["reminder"]).status == OutboxStatus.queued
    assert fresh(mail["failed"]["promoted"]).status == OutboxStatus.failed
    assert len(retry_entries()) == 2


def test_the_page_is_in_english_too(mail, logged_in_client):
    client = logged_in_client(role="admin")
    html = client.get("/admin/mail/failed?lang=en").get_data(as_text=True)
    assert "Undelivered emails" in html and "Reminder" in html and "10:30 JST" in html


def test_every_kind_of_email_the_app_queues_has_a_label_in_the_failed_list():
    """A kind without a label would show its code to the office."""
    import re
    from pathlib import Path

    import cluster_events
    from cluster_events.admin.mail.routes import KIND_LABELS

    package = Path(cluster_events.__file__).parent
    queued = set()
    for source in package.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        queuing = r'(?:add_for|render_for|queue_when_sent)\([^()"]*"([a-z_]+)"'
        queued |= set(re.findall(queuing, text))
        queued |= set(re.findall(r'\bkind = "([a-z_]+)"', text))
    assert {"confirmation", "personal_link", "organizer_message"} <= queued
    assert queued - set(KIND_LABELS) == set()
