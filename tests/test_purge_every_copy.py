"""The purge leaves no copy: people sign up with a unique marker in every personal field,
the office edits, notes, checks in, cancels, exports and writes to them, mail goes
through the outbox to a real SMTP server (some sent, some refused, some still queued);
after the purge no table's column holds any marker, and the statistics survive."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text, update

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.mail.messages import RenderedMail, add_to_outbox
from cluster_events.models import (
    AuditLogEntry,
    Base,
    Event,
    EventQuestion,
    OutboxMessage,
    OutboxStatus,
    Registration,
    RegistrationAnswer,
    RegistrationStatus,
)
from cluster_events.registration import purge, questions
from cluster_events.registration.questions import QuestionData
from tests.conftest import SMTPRecorder, sending_to
from tests.factories import make_event, make_registration

PEOPLE = 5
#: Unique hiragana readings (readings are stored in hiragana, so the marker must be one).
READINGS = ("ぬけぽ", "ぬけぴ", "ぬけぷ", "ぬけぺ", "ぬけぱ", "ぬけぼ")
BOUNCING = 5  # this person's address is refused by the mail server


def person(number: int) -> dict[str, str]:
    """A person's form values; every personal value holds a marker unique to them."""
    local = f"mkmail{number}x" + ("bounce" if number == BOUNCING else "")
    return {
        "name": f"山田 MKNAME{number}Z",
        "name_kana": f"やまだ {READINGS[number - 1]}",
        "email": f"{local}@example.jp",
        "organization": f"MKORG{number}Z株式会社",
        "title": f"MKTITLE{number}Z",
        "phone": f"046-777-{number:04d}",
        "member_type": "corporate",
        "remarks": f"MKREMARK{number}Z 駐車場を使います",
        "agree_privacy": "y",
    }


def markers(number: int) -> set[str]:
    values = person(number)
    return {
        f"MKNAME{number}Z",
        READINGS[number - 1],
        values["email"].split("@")[0],
        values["phone"],
        f"MKORG{number}Z",
        f"MKTITLE{number}Z",
        f"MKREMARK{number}Z",
    }


class RecipientRefusingRecorder(SMTPRecorder):
    """Refuses one recipient at RCPT, as a real server does for an unknown mailbox
    (quoting the address in its answer, which the outbox keeps as last_error)."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "bounce" in address:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def smtp_server():
    recorder = RecipientRefusingRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {**app_config, **sending_to(smtp_server), "MAIL_TIMEOUT": 5}


def scan_every_column() -> dict[str, list[str]]:
    """Every value of every column of every table, read with a plain SELECT, as text
    (JSON decoded, so that escaped Japanese is seen as written)."""
    db.session.rollback()  # a fresh snapshot: purges and deliveries ran in other sessions
    found: dict[str, list[str]] = {}
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            values = db.session.execute(
                text(f'SELECT "{column.name}" FROM "{table.name}"')
            ).scalars()
            found[f"{table.name}.{column.name}"] = [_as_text(value) for value in values]
    return found


def _as_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return value + json.dumps(json.loads(value), ensure_ascii=False)
        except ValueError:
            pass
    return "" if value is None else str(value)


def where_found(marker_set: set[str]) -> dict[str, set[str]]:
    places: dict[str, set[str]] = {}
    for column, values in scan_every_column().items():
        for value in values:
            for marker in marker_set:
                if marker in value:
                    places.setdefault(marker, set()).add(column)
    return places


def _send_message(client, event_id: int, subject: str, body: str) -> None:
    fields = {"audience": "both", "subject": subject, "body": body}
    preview = client.post(f"/admin/events/{event_id}/messages/preview", data=fields)
    assert preview.status_code == 200
    batch = re.search(r'name="batch_key"[^>]*value="([0-9a-f]+)"', preview.get_data(as_text=True))
    response = client.post(
        f"/admin/events/{event_id}/messages/send", data={**fields, "batch_key": batch.group(1)}
    )
    assert response.status_code == 302


def _life_of_an_event(app, client) -> tuple[int, set[str]]:
    """Sign-ups with answers to the event's questions, mail, and every kind of office
    action with an audit entry; returns the event's id and every marker written."""
    event = make_event(capacity=3, slug="marked")
    db.session.commit()
    event_id = event.id
    needs = questions.add_question(
        event_id, QuestionData(kind="long_text", label_ja="ご配慮が必要なこと")
    ).id
    diet = questions.add_question(
        event_id,
        QuestionData(kind="one_choice", label_ja="食事", choices=(("なし", ""), ("菜食", ""))),
    ).id
    everything: set[str] = set()
    for number in range(1, PEOPLE + 1):
        answers = {f"question_{needs}": f"MKANSWER{number}Z 車椅子", f"question_{diet}": "2"}
        response = app.test_client().post(
            "/events/marked/register", data={**person(number), **answers}
        )
        assert response.status_code == 303, response.get_data(as_text=True)
        everything |= markers(number) | {f"MKANSWER{number}Z"}

    report = outbox.deliver_due()  # 3 confirmations and 1 waiting-list notice; 1 refused
    assert (report.sent, report.failed) == (PEOPLE - 1, 1)

    ids = {
        r.email.split("@")[0]: r.id
        for r in db.session.scalars(select(Registration).where(Registration.event_id == event_id))
    }
    first, second, third = (ids[f"mkmail{n}x"] for n in (1, 2, 3))
    base = f"/admin/events/{event_id}/attendees"

    added = {**person(6), "job_title": person(6)["title"], "locale": "ja"}
    added["send_confirmation"] = "y"
    assert client.post(f"{base}/new", data=added).status_code == 302
    everything |= markers(6)

    contact = {**person(1), "job_title": person(1)["title"], "locale": "ja"}
    contact |= {"email": "mkmail1y@example.jp", "phone": "046-777-1001", "organization": ""}
    assert client.post(f"{base}/{first}/contact", data=contact).status_code == 302
    everything |= {"mkmail1y", "046-777-1001"}

    for number, registration_id in ((1, first), (2, second)):
        note = f"MKNOTE{number}Z 車椅子でご来場"
        response = client.post(f"{base}/{registration_id}/note", data={"organizer_note": note})
        assert response.status_code == 302
        everything.add(f"MKNOTE{number}Z")
        response = client.post(
            f"{base}/{registration_id}/check-in", data={"action": "arrived", "back": "checkin"}
        )
        assert response.status_code == 302

    # Cancelling the third seat promotes the first person waiting: two more emails.
    assert client.post(f"{base}/{third}/cancel", data={"notify": "yes"}).status_code == 302
    assert client.get(f"/admin/events/{event_id}/attendees.csv").status_code == 200

    _send_message(
        client,
        event_id,
        "MKQUOTE1Z MKNAME1Z様のご質問について",
        "MKNAME2Z様から伺ったとおり、mkmail4x@example.jp にもお送りします。",
    )
    everything.add("MKQUOTE1Z")
    outbox.deliver_due(limit=2)  # some of the later emails go out, the rest wait
    return event_id, everything


def _statistics(event_id: int) -> dict[str, Any]:
    db.session.rollback()
    event = db.session.get(Event, event_id)
    registrations = list(
        db.session.scalars(select(Registration).where(Registration.event_id == event_id))
    )
    return {
        "counters": (event.confirmed_count, event.waiting_count),
        "statuses": Counter(r.status for r in registrations),
        "member_types": Counter(r.member_type for r in registrations),
        "checked_in": sum(r.checked_in_at is not None for r in registrations),
        "emails": Counter(m.kind for m in db.session.scalars(select(OutboxMessage))),
        "audit": Counter(e.action for e in db.session.scalars(select(AuditLogEntry))),
    }


@pytest.mark.parametrize("how", ["console", "cli"])
def test_no_marker_survives_the_purge_anywhere(app, logged_in_client, runner, how):
    client = logged_in_client(role="admin")
    event_id, everything = _life_of_an_event(app, client)

    before = where_found(everything)
    assert set(before) == everything, everything - set(before)  # the scan sees them all
    for copy in (
        "outbox_message.body_text",
        "outbox_message.last_error",
        "audit_log_entry.after",
        "registration_answer.value",
    ):
        assert any(copy in places for places in before.values()), copy
    statuses_before = Counter(m.status for m in db.session.scalars(select(OutboxMessage)))
    assert {OutboxStatus.sent, OutboxStatus.failed, OutboxStatus.queued} <= set(statuses_before)
    statistics = _statistics(event_id)

    ended = utcnow() - timedelta(days=400)
    db.session.execute(
        update(Event).where(Event.id == event_id).values(starts_at=ended, ends_at=ended)
    )
    db.session.commit()
    if how == "console":
        response = client.post(f"/admin/events/{event_id}/purge")
        assert response.status_code == 302
    else:
        result = runner.invoke(args=["purge-personal-data", "--older-than", "365"])
        assert "6 registrations of 1 events" in result.output, result.output

    assert where_found(everything) == {}
    after = _statistics(event_id)
    assert after["audit"] == statistics["audit"] + Counter({"event.purge_personal_data": 1})
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in statistics.items() if k != "audit"
    }
    statuses_after = Counter(m.status for m in db.session.scalars(select(OutboxMessage)))
    assert statuses_after == {
        OutboxStatus.sent: statuses_before[OutboxStatus.sent],
        OutboxStatus.failed: statuses_before[OutboxStatus.failed]
        + statuses_before[OutboxStatus.queued],
    }
    entry = db.session.scalar(
        select(AuditLogEntry).where(AuditLogEntry.action == "event.purge_personal_data")
    )
    assert entry.after["purged"] == PEOPLE + 1
    assert entry.after["answers"] == 2 * PEOPLE
    assert db.session.scalar(select(func.count()).select_from(RegistrationAnswer)) == 0
    assert db.session.scalar(select(func.count()).select_from(EventQuestion)) == 2
    assert entry.after["emails"] == sum(statuses_before.values())
    edit = db.session.scalar(
        select(AuditLogEntry).where(AuditLogEntry.action == "registration.edit")
    )
    assert set(edit.after) == {"email", "phone", "organization"}  # what changed stays known
    message = db.session.scalar(
        select(AuditLogEntry).where(AuditLogEntry.action == "event.message")
    )
    assert message.after["recipients"] == PEOPLE  # three seated, two waiting


def test_a_failure_during_the_purge_leaves_everything_as_it_was(app, monkeypatch):
    event = make_event(starts_at=utcnow() - timedelta(days=3))
    person_row = make_registration(event, name="山田 MKNAME9Z", email="mkmail9x@example.jp")
    add_to_outbox(
        RenderedMail("MKNAME9Z 様", "MKNAME9Z 様", ""),
        kind="confirmation",
        recipient=person_row.email,
        event_id=event.id,
        registration_id=person_row.id,
    )
    db.session.commit()

    def broken(*args: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(purge, "_purge_audit", broken)
    with pytest.raises(RuntimeError):
        purge.purge_event(event.id)
    monkeypatch.undo()
    assert set(where_found({"MKNAME9Z", "mkmail9x"})) == {"MKNAME9Z", "mkmail9x"}
    assert db.session.get(Registration, person_row.id).personal_data_purged_at is None
    assert db.session.scalar(select(func.count()).select_from(AuditLogEntry)) == 0

    purge.purge_event(event.id)
    assert where_found({"MKNAME9Z", "mkmail9x"}) == {}


def test_cli_cleans_copies_an_earlier_purge_left(app, runner):
    """Events purged by the old code kept the office's messages in the audit log."""
    event = make_event(starts_at=utcnow() - timedelta(days=400))
    make_registration(
        event,
        status=RegistrationStatus.confirmed,
        name=purge.PURGED_MARKER,
        email="purged-1@invalid",
        personal_data_purged_at=utcnow() - timedelta(days=30),
    )
    db.session.add(
        AuditLogEntry(
            action="event.message",
            target_type="event",
            target_id=event.id,
            event_id=event.id,
            after={"subject": "MKNAME7Z様へ", "body": "MKNAME7Z様", "recipients": 1},
        )
    )
    db.session.commit()
    result = runner.invoke(args=["purge-personal-data", "--older-than", "365"])
    assert "0 registrations of 1 events" in result.output, result.output
    assert where_found({"MKNAME7Z"}) == {}
    again = runner.invoke(args=["purge-personal-data", "--older-than", "365"])
    assert "of 0 events" in again.output
