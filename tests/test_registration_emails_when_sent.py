"""The emails about a person's own registration are rendered when mail sends them, not in
the transaction that queues them: the queued row holds the subject and what must stay
as it was, the registrant receives the same email as when everything was rendered at
once, and an email that cannot be rendered when it is sent is retried and counted,
never lost."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

import pytest
import segno
from sqlalchemy import func, select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.mail.messages import message_id
from cluster_events.models import OutboxMessage, OutboxStatus, Registration, RegistrationStatus
from cluster_events.registration import notifications, services, tokens
from cluster_events.registration.notifications import QR_BORDER, QR_SCALE
from tests.conftest import free_port, sending_to
from tests.factories import frame, make_event, make_registration
from tests.test_registration_http import form, token_from

SITE = "https://events.example.org"
ONLINE = "https://meet.example.org/j/42-secret"


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {**app_config, **sending_to(smtp_server), "SITE_URL": SITE, "MAIL_MAX_ATTEMPTS": 2}


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def received_by(smtp_server) -> dict[str, list[EmailMessage]]:
    by_recipient: dict[str, list[EmailMessage]] = {}
    for message in smtp_server.messages():
        by_recipient.setdefault(parseaddr(message["To"])[1], []).append(message)
    return by_recipient


def leaves(message: EmailMessage) -> list[tuple[str, dict[str, str], bytes]]:
    """Every non-multipart part: its type, its headers and its decoded bytes."""
    return [
        (part.get_content_type(), dict(part.items()), part.get_payload(decode=True))
        for part in message.walk()
        if not part.is_multipart()
    ]


def expected_qr(registration: Registration) -> tuple[bytes, int]:
    code = segno.make(notifications.checkin_url(registration), error="m")
    png = io.BytesIO()
    code.save(png, kind="png", scale=QR_SCALE, border=QR_BORDER)
    return png.getvalue(), code.symbol_size(scale=QR_SCALE, border=QR_BORDER)[0]


def test_a_sign_up_queues_a_row_without_its_email_and_the_email_arrives_whole(
    app, client, smtp_server
):
    event = make_event(slug="energy-seminar", title="省エネセミナー", online_url=ONLINE)
    db.session.commit()
    response = client.post(f"/events/{event.slug}/register?lang=ja", data=form())
    assert response.status_code == 303
    token = token_from(response.headers["Location"])
    registration = tokens.registration_by_token(token)

    (row,) = rows()
    assert (row.kind, row.recipient, row.registration_id) == (
        "confirmation",
        "taro@example.jp",
        registration.id,
    )
    assert row.subject == "【お申込み受付】省エネセミナー"
    # Nothing of the email itself: no text, no HTML, no calendar file, no QR code, so
    # neither the personal link nor the check-in URL rests in the outbox.
    assert (row.body_text, row.body_html, row.attachments) == ("", "", [])
    assert row.render_when_sent["args"]["template"] == "confirmation"
    assert token not in str(row.render_when_sent)
    assert tokens.checkin_code(registration) not in str(row.render_when_sent)

    assert outbox.deliver_due().sent == 1
    (message,) = smtp_server.messages()
    assert message["Subject"] == "【お申込み受付】省エネセミナー"
    assert message["Message-ID"] == message_id(rows()[0])
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "横須賀 太郎 様" in text and f"{SITE}/registrations/{token}" in text
    assert f'href="{SITE}/registrations/{token}"' in html
    assert ONLINE in text and ONLINE in html

    png, width = expected_qr(registration)
    (image,) = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert image.get_payload(decode=True) == png  # the same bytes, made when sent
    content_id = image["Content-ID"].strip("<>")
    assert f'<img src="cid:{content_id}" width="{width}" height="{width}"' in html
    (calendar,) = [part for part in message.walk() if part.get_content_type() == "text/calendar"]
    ics = calendar.get_payload(decode=True).decode().replace("\r\n ", "")
    assert "METHOD:PUBLISH" in ics and f"UID:{event.uid}" in ics and ONLINE in ics


def _eager(registration: Registration, kind: str, subject: str) -> None:
    """The same email rendered at once, as every email was before: ``render_for`` and
    ``calendar_file`` (which the event's own notices still use)."""
    with_qr = kind in ("confirmation", "promoted", "reminder")
    mail = notifications.render_for(registration, kind, subject, with_qr=with_qr)
    method = {"cancellation_receipt": "CANCEL", "personal_link": ""}.get(kind, "PUBLISH")
    if method:
        mail.attachments.append(
            notifications.calendar_file(registration.event, method, registration)
        )
    notifications.add_for(mail, kind, registration)


def _when_sent(registration: Registration, kind: str) -> OutboxMessage:
    queue = {
        "confirmation": notifications.queue_registration_received,
        "waitlisted": notifications.queue_registration_received,
        "promoted": notifications.queue_promoted,
        "cancellation_receipt": notifications.queue_cancellation_receipt,
        "personal_link": notifications.queue_personal_link,
        "reminder": notifications.queue_reminder,
    }[kind]
    (row,) = queue(registration)
    assert row.kind == kind
    return row


def _comparable(message: EmailMessage) -> list[tuple[str, dict[str, str], bytes]]:
    """The parts, without what differs between two sendings of one email: the MIME
    boundaries, and the DTSTAMP of a METHOD:CANCEL file (stamped when it is made)."""
    parts = []
    for content_type, headers, payload in leaves(message):
        if content_type == "text/calendar":
            payload = re.sub(rb"DTSTAMP:\d{8}T\d{6}Z", b"DTSTAMP:-", payload)
        parts.append((content_type, headers, payload))
    return parts


@pytest.mark.parametrize(
    ("kind", "status", "locale"),
    [
        ("confirmation", RegistrationStatus.confirmed, "ja"),
        ("confirmation", RegistrationStatus.confirmed, "en"),
        ("waitlisted", RegistrationStatus.waiting, "ja"),
        ("waitlisted", RegistrationStatus.waiting, "en"),
        ("promoted", RegistrationStatus.confirmed, "ja"),
        ("cancellation_receipt", RegistrationStatus.cancelled, "en"),
        ("personal_link", RegistrationStatus.waiting, "ja"),
        ("reminder", RegistrationStatus.confirmed, "en"),
    ],
)
def test_the_email_rendered_when_sent_is_the_one_rendered_at_once(
    app, smtp_server, kind, status, locale
):
    event = make_event(
        slug="iso-seminar", title="ISO セミナー", title_en="ISO seminar", online_url=ONLINE
    )
    registration = make_registration(event, status=status, locale=locale, email="a@example.org")
    if status == RegistrationStatus.waiting:
        registration.waiting_position = 3
    row = _when_sent(registration, kind)
    _eager(registration, kind, row.subject)
    db.session.commit()
    assert outbox.deliver_due().sent == 2
    when_sent, at_once = smtp_server.messages()
    assert when_sent["Message-ID"] != at_once["Message-ID"]
    assert when_sent["Subject"] == at_once["Subject"] == row.subject
    assert when_sent["From"] == at_once["From"] and when_sent["To"] == at_once["To"]
    assert _comparable(when_sent) == _comparable(at_once)
    kinds = [content_type for content_type, _headers, _payload in leaves(when_sent)]
    assert ("image/png" in kinds) == (kind in ("confirmation", "promoted", "reminder"))
    assert ("text/calendar" in kinds) == (kind != "personal_link")


def test_what_the_email_reports_stays_as_it_was_when_it_was_queued(app, client, smtp_server):
    """Between the sign-up and the sending, the first person cancels: the second moves
    from the waiting list to a seat and the third moves up. Their waiting-list emails
    still say what happened when they signed up (the second's has no online link),
    and the second's seat email follows with the link and the QR code."""
    event = make_event(slug="small-seminar", capacity=1, online_url=ONLINE)
    db.session.commit()
    people = ["first@example.org", "second@example.org", "third@example.org"]
    locations = [
        client.post(f"/events/{event.slug}/register?lang=en", data=form(email=address)).headers[
            "Location"
        ]
        for address in people
    ]
    first = tokens.registration_by_token(token_from(locations[0]))
    services.cancel_registration(first.id)
    assert outbox.deliver_due().claimed == 5

    received = received_by(smtp_server)
    second_waiting, second_seat = received["second@example.org"]
    (third_waiting,) = received["third@example.org"]
    waiting_text = second_waiting.get_body(("plain",)).get_content()
    assert "Your place on the waiting list: 1" in waiting_text
    assert ONLINE not in b"".join(payload for _t, _h, payload in leaves(second_waiting)).decode()
    assert "image/png" not in [kind for kind, _h, _p in leaves(second_waiting)]
    assert "Your place on the waiting list: 2" in third_waiting.get_body(("plain",)).get_content()
    assert second_seat["Subject"].startswith("You have a seat:")
    assert ONLINE in second_seat.get_body(("plain",)).get_content()
    assert "image/png" in [kind for kind, _h, _p in leaves(second_seat)]
    # The rows say what was queued: the third person is first in line now.
    third = db.session.scalar(select(Registration).where(Registration.email == people[2]))
    assert third.waiting_position == 1


def test_an_email_that_cannot_be_rendered_when_sent_is_retried_counted_and_never_lost(
    app, client, smtp_server
):
    event = make_event(slug="iso-seminar")
    db.session.commit()
    response = client.post(f"/events/{event.slug}/register", data=form())
    assert response.status_code == 303
    (row,) = rows()

    # The site's address is now far too long for a QR code: the check-in QR code cannot
    # be made when the email is sent.
    app.config["SITE_URL"] = SITE + "/" + "x" * 3000
    report = outbox.deliver_due()
    assert (report.claimed, report.sent, report.retrying, report.failed) == (1, 0, 1, 0)
    (row,) = rows()
    assert (row.status, row.attempts) == (OutboxStatus.queued, 1)
    assert "DataOverflowError" in row.last_error
    assert row.locked_until is None and row.next_attempt_at > utcnow()

    # The next try fails too, and was the last one allowed: failed, in the office's list.
    later = utcnow() + timedelta(hours=1)
    assert outbox.deliver_due(now=later).failed == 1
    assert [m.id for m in outbox.failed_messages()] == [row.id]
    assert smtp_server.messages() == []

    app.config["SITE_URL"] = SITE  # fixed: the office sends it again
    assert outbox.requeue(ids=[row.id]) == [row.id]
    assert outbox.deliver_due(now=later).sent == 1
    (message,) = smtp_server.messages()
    registration = tokens.registration_by_token(token_from(response.headers["Location"]))
    (image,) = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert image.get_payload(decode=True) == expected_qr(registration)[0]
    assert rows()[0].status == OutboxStatus.sent


def test_a_mail_server_outage_defers_the_email_uncounted_and_it_arrives_whole_later(
    app, client, smtp_server
):
    event = make_event(slug="iso-seminar")
    db.session.commit()
    response = client.post(f"/events/{event.slug}/register", data=form())
    registration = tokens.registration_by_token(token_from(response.headers["Location"]))
    app.extensions["mail"].port = free_port()  # the mail server is down
    report = outbox.deliver_due()
    assert (report.sent, report.deferred, report.retrying) == (0, 1, 0)
    (row,) = rows()
    assert (row.status, row.attempts, row.deferrals) == (OutboxStatus.queued, 0, 1)

    app.extensions["mail"].port = smtp_server.port  # back
    assert outbox.deliver_due(now=utcnow() + timedelta(hours=1)).sent == 1
    (message,) = smtp_server.messages()
    assert message["Message-ID"] == message_id(rows()[0])
    (image,) = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert image.get_payload(decode=True) == expected_qr(registration)[0]
    assert "横須賀 太郎 様" in message.get_body(("plain",)).get_content()


def test_a_row_for_a_renderer_this_app_does_not_have_is_retried_and_counted(app, client):
    event = make_event(slug="iso-seminar")
    db.session.commit()
    client.post(f"/events/{event.slug}/register", data=form())
    (row,) = rows()
    row.render_when_sent = {**row.render_when_sent, "renderer": "from-a-newer-release"}
    db.session.commit()
    report = outbox.deliver_due()
    assert (report.sent, report.retrying) == (0, 1)
    (row,) = rows()
    assert (row.status, row.attempts) == (OutboxStatus.queued, 1)
    assert "UnknownRenderer" in row.last_error


@pytest.mark.parametrize("frames", [1, 2])
def test_a_sign_up_takes_five_statements_and_reads_nothing_back(app, client, count_queries, frames):
    """One query finds and locks the event with its frames and learns whether the
    address is a member's; then the registration, the seat counts (its frame's, its
    event's) and the email, one statement each (not the session's flush); on
    PostgreSQL the counts go with the registration's INSERT as data-modifying CTEs,
    three statements in all. The address's uniqueness is the index's to check, and the
    answer is built before the commit, so nothing is read again after it. An event with
    two frames takes as many as one with one."""
    choices = [frame("会員枠", 10), frame("一般枠", 10)][:frames] if frames > 1 else None
    event = make_event(slug="iso-seminar", frames=choices)
    db.session.commit()
    chosen = {"frame": str(event.frames[-1].id)} if frames > 1 else {}
    url = f"/events/{event.slug}/register"
    client.post(url, data=form(email="warm@example.org", **chosen))
    with count_queries() as counter:
        response = client.post(url, data=form(**chosen))
    assert response.status_code == 303
    lock, *writes = (" ".join(statement.split()) for statement in counter.statements)
    assert lock.startswith("SELECT") and re.search(r"\bFROM event\b", lock)
    assert "participation_frame" in lock  # the frames, locked with the event
    assert "FROM member_person JOIN member" in lock  # the address's member, same query
    if db.engine.dialect.name == "postgresql":
        assert "FOR UPDATE" in lock
        assert len(writes) == 2, counter.statements
        counted, email = writes
        assert counted.startswith(
            "WITH counted_frame AS (UPDATE participation_frame SET confirmed_count="
        )
        assert "counted_event AS (UPDATE event SET confirmed_count=" in counted
        assert ") INSERT INTO registration " in counted
        updates = counted.split(") INSERT INTO registration ")[0]
        assert updates.count("=") == 6  # the counter, updated_at and the id, in each
    else:
        assert len(writes) == 4, counter.statements
        registration, counted_frame, counted_event, email = writes
        assert registration.startswith("INSERT INTO registration ")
        assert counted_frame.startswith("UPDATE participation_frame SET confirmed_count=")
        assert counted_event.startswith("UPDATE event SET confirmed_count=")
    assert email.startswith("INSERT INTO outbox_message ")
    db.session.expire_all()
    seats = [(each.confirmed_count, each.waiting_count) for each in event.frames]
    assert seats[-1] == (2, 0) and event.confirmed_count == 2
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
