"""The emails themselves, as a real SMTP server receives them: headers, text and HTML
parts, the calendar file and the check-in QR code, in the registrant's language."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any

import icalendar
import pytest
import segno
from flask_babel import lazy_gettext
from sqlalchemy import func, select

from cluster_events.events import notifications as event_notifications
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.models import OutboxMessage, RegistrationStatus
from cluster_events.registration import notifications, tokens
from tests.conftest import sending_to
from tests.factories import make_event, make_registration, make_venue

#: Sat 7 Dec 2030, 14:00-16:30 in Tokyo.
STARTS_AT = datetime(2030, 12, 7, 5, 0, tzinfo=UTC)
ENDS_AT = datetime(2030, 12, 7, 7, 30, tzinfo=UTC)


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {
        **app_config,
        **sending_to(smtp_server),
        "MAIL_TIMEOUT": 5,
        "SITE_URL": "https://events.example.org",
        "SITE_CONTACT_PHONE": "046-000-1111",
        "SITE_CONTACT_EMAIL": "contact@example.org",
    }


@pytest.fixture
def seminar(app):
    venue = make_venue(
        name="YRPベンチャー棟 209号室",
        name_en="YRP Venture Building, room 209",
        address="横須賀市光の丘8番3号",
        address_en="8-3 Hikarinooka, Yokosuka",
        access_notes="京急YRP野比駅からバスで約10分です。",
    )
    return make_event(
        slug="iso-9001-seminar",
        title="ISO 9001 認証取得セミナー",
        title_en="ISO 9001 certification seminar",
        starts_at=STARTS_AT,
        ends_at=ENDS_AT,
        venue=venue,
        fee_text="1,000円（会員無料）",
        sequence=2,
    )


def deliver_all() -> None:
    report = outbox.deliver_due(limit=100)
    assert report.failed == report.retrying == report.deferred == 0


def parts_of(message: EmailMessage) -> dict[str, list[EmailMessage]]:
    found: dict[str, list[EmailMessage]] = {}
    for part in message.walk():
        found.setdefault(part.get_content_type(), []).append(part)
    return found


def only_message(smtp_server) -> EmailMessage:
    messages = smtp_server.messages()
    assert len(messages) == 1
    return messages[0]


def calendar_of(message: EmailMessage) -> tuple[icalendar.Calendar, EmailMessage]:
    (part,) = parts_of(message)["text/calendar"]
    assert part.get_content_disposition() == "attachment"
    assert part.get_filename() == "iso-9001-seminar.ics"
    return icalendar.Calendar.from_ical(part.get_payload(decode=True)), part


def test_confirmation_in_japanese_arrives_with_details_link_calendar_and_qr(
    app, seminar, smtp_server
):
    registration = make_registration(seminar, name="山田 太郎", email="taro@example.jp")
    notifications.queue_registration_received(registration)
    db.session.commit()
    deliver_all()

    message = only_message(smtp_server)
    assert message["Subject"] == "【お申込み受付】ISO 9001 認証取得セミナー"
    raw = smtp_server.envelopes[0].content
    assert raw.isascii()
    assert b"Subject: =?utf-8?" in raw
    assert message["From"].addresses[0].display_name == "NPO法人 産業クラスター研究会"
    assert message["From"].addresses[0].addr_spec == "office@example.org"
    assert smtp_server.envelopes[0].mail_from == "office@example.org"
    assert parseaddr(message["To"])[1] == "taro@example.jp"
    assert parseaddr(message["Reply-To"])[1] == "contact@example.org"
    assert parsedate_to_datetime(message["Date"]).utcoffset().total_seconds() == 9 * 3600
    assert message["Message-ID"].startswith("<outbox-")
    assert smtp_server.envelopes[0].rcpt_tos == ["taro@example.jp"]

    text = message.get_body(("plain",)).get_content()
    assert "山田 太郎 様" in text
    assert "■ 日時：2030年12月7日（土）14:00〜16:30" in text
    assert "■ 催し名：ISO 9001 認証取得セミナー" in text
    assert "■ 住所：横須賀市光の丘8番3号" in text
    for expected in (
        "YRPベンチャー棟 209号室",
        "横須賀市光の丘8番3号",
        "京急YRP野比駅からバスで約10分です。",
        "1,000円（会員無料）",
        "046-000-1111",
        "contact@example.org",
        notifications.personal_url(registration),
        "https://events.example.org/events/iso-9001-seminar",
        "添付のファイル（iso-9001-seminar.ics）を開くと",
    ):
        assert expected in text
    assert notifications.personal_url(registration).startswith("https://events.example.org/")

    html = message.get_body(("html",)).get_content()
    assert '<html lang="ja">' in html
    assert notifications.personal_url(registration) in html
    assert "2030年12月7日（土）14:00〜16:30" in html

    (image,) = parts_of(message)["image/png"]
    content_id = image["Content-ID"].strip("<>")
    assert f'src="cid:{content_id}"' in html
    assert image.get_content_disposition() == "inline"
    related = next(p for p in message.walk() if p.get_content_type() == "multipart/related")
    assert image in related.get_payload()
    expected_png = io.BytesIO()
    segno.make(notifications.checkin_url(registration), error="m").save(
        expected_png, kind="png", scale=5, border=4
    )
    assert image.get_payload(decode=True) == expected_png.getvalue()

    calendar, part = calendar_of(message)
    assert part.get_param("method") == "PUBLISH"
    assert part.get_content_charset() == "utf-8"
    assert calendar["METHOD"] == "PUBLISH"
    (vevent,) = calendar.walk("VEVENT")
    assert str(vevent["UID"]) == seminar.uid
    assert vevent.decoded("DTSTART") == STARTS_AT


def test_waiting_list_notice_in_english_gives_the_position_and_no_qr_code(
    app, seminar, smtp_server
):
    seminar.capacity = 1
    make_registration(seminar)
    make_registration(seminar, status=RegistrationStatus.waiting)
    waiting = make_registration(
        seminar, name="John Smith", status=RegistrationStatus.waiting, locale="en"
    )
    notifications.queue_registration_received(waiting)
    db.session.commit()
    deliver_all()

    message = only_message(smtp_server)
    assert message["Subject"] == "Waiting list: ISO 9001 certification seminar"
    assert message["From"].addresses[0].display_name == "Industrial Cluster Study Group (NPO)"
    text = message.get_body(("plain",)).get_content()
    assert "Dear John Smith," in text
    assert "Your place on the waiting list: 2" in text
    assert "Sat 7 Dec 2030, 14:00–16:30 JST" in text
    assert "YRP Venture Building, room 209" in text
    assert "8-3 Hikarinooka, Yokosuka" in text
    assert notifications.personal_url(waiting) in text
    assert '<html lang="en">' in message.get_body(("html",)).get_content()
    assert "image/png" not in parts_of(message)
    calendar, _part = calendar_of(message)
    assert calendar["METHOD"] == "PUBLISH"


def test_the_outbox_never_holds_a_working_personal_link(app, seminar, smtp_server):
    registration = make_registration(seminar)
    token = tokens.personal_token(registration)
    notifications.queue_registration_received(registration)
    db.session.commit()
    (row,) = db.session.scalars(select(OutboxMessage)).all()
    assert token not in row.body_text + row.body_html
    deliver_all()
    message = only_message(smtp_server)
    assert (
        f"https://events.example.org/registrations/{token}"
        in message.get_body(("plain",)).get_content()
    )
    assert (
        f'href="https://events.example.org/registrations/{token}"'
        in message.get_body(("html",)).get_content()
    )


def test_promotion_is_a_confirmation_with_calendar_and_qr(app, seminar, smtp_server):
    registration = make_registration(seminar, name="佐藤 花子")
    notifications.queue_promoted(registration)
    db.session.commit()
    deliver_all()

    message = only_message(smtp_server)
    assert message["Subject"] == "【繰り上げのご連絡】ISO 9001 認証取得セミナー"
    assert "佐藤 花子 様" in message.get_body(("plain",)).get_content()
    assert len(parts_of(message)["image/png"]) == 1
    calendar, _part = calendar_of(message)
    assert calendar["METHOD"] == "PUBLISH"


def test_cancellation_receipt_takes_the_event_out_of_the_calendar(app, seminar, smtp_server):
    registration = make_registration(seminar, status=RegistrationStatus.cancelled)
    notifications.queue_cancellation_receipt(registration)
    db.session.commit()
    deliver_all()

    message = only_message(smtp_server)
    assert message["Subject"] == "【キャンセル受付】ISO 9001 認証取得セミナー"
    calendar, part = calendar_of(message)
    assert part.get_param("method") == "CANCEL"
    assert calendar["METHOD"] == "CANCEL"
    (vevent,) = calendar.walk("VEVENT")
    assert str(vevent["UID"]) == seminar.uid
    assert int(vevent["SEQUENCE"]) > seminar.sequence
    assert str(vevent["ATTENDEE"]) == f"mailto:{registration.email}"
    assert "image/png" not in parts_of(message)


def test_event_change_reaches_each_active_registrant_in_their_language(app, seminar, smtp_server):
    japanese = make_registration(seminar, email="ja@example.org")
    english = make_registration(seminar, email="en@example.org", locale="en")
    waiting = make_registration(seminar, email="wait@example.org", status="waiting")
    gone = make_registration(seminar, email="gone@example.org", status=RegistrationStatus.cancelled)
    queued = event_notifications.queue_event_changed(
        seminar, [japanese, english, waiting, gone], [lazy_gettext("Venue")]
    )
    db.session.commit()
    assert len(queued) == 3
    deliver_all()

    by_recipient = {parseaddr(m["To"])[1]: m for m in smtp_server.messages()}
    assert set(by_recipient) == {"ja@example.org", "en@example.org", "wait@example.org"}
    assert (
        by_recipient["ja@example.org"]["Subject"] == "【変更のお知らせ】ISO 9001 認証取得セミナー"
    )
    assert by_recipient["en@example.org"]["Subject"].startswith("Change of details:")
    assert "・会場" in by_recipient["ja@example.org"].get_body(("plain",)).get_content()
    assert "<li>Venue</li>" in by_recipient["en@example.org"].get_body(("html",)).get_content()
    calendar, _part = calendar_of(by_recipient["en@example.org"])
    (vevent,) = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "PUBLISH"
    assert int(vevent["SEQUENCE"]) == seminar.sequence


def test_event_cancellation_carries_the_reason_and_a_cancel_calendar(app, seminar, smtp_server):
    registration = make_registration(seminar)
    event_notifications.queue_event_cancelled(
        seminar, [registration], "講師急病のため。\n\nご了承ください。"
    )
    db.session.commit()
    deliver_all()

    message = only_message(smtp_server)
    assert message["Subject"] == "【中止のお知らせ】ISO 9001 認証取得セミナー"
    assert "講師急病のため。" in message.get_body(("plain",)).get_content()
    assert "<p" in message.get_body(("html",)).get_content()
    calendar, _part = calendar_of(message)
    assert calendar["METHOD"] == "CANCEL"


def test_organizer_message_is_sent_as_written_and_escaped_in_html(app, seminar, smtp_server):
    registration = make_registration(seminar)
    notifications.queue_organizer_message(
        seminar,
        [registration],
        "持ち物のご案内\r\nBcc: victim@example.org",
        "筆記用具をお持ちください。\n<script>alert(1)</script>",
    )
    db.session.commit()
    deliver_all()

    message = only_message(smtp_server)
    assert message["Subject"] == "持ち物のご案内 Bcc: victim@example.org"
    assert message["Bcc"] is None
    assert smtp_server.envelopes[0].rcpt_tos == [registration.email]
    assert "<script>alert(1)</script>" in message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert notifications.personal_url(registration) in html


def test_notifications_only_add_to_the_callers_transaction(app, seminar):
    registration = make_registration(seminar)
    db.session.commit()
    notifications.queue_registration_received(registration)
    notifications.queue_promoted(registration)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


@pytest.mark.parametrize(
    ("starts_at", "now", "subject"),
    [
        (STARTS_AT, datetime(2030, 12, 6, 6, 0, tzinfo=UTC), "【リマインド】明日開催：ISO"),
        (STARTS_AT, datetime(2030, 12, 6, 23, 0, tzinfo=UTC), "【リマインド】本日開催：ISO"),
        (
            STARTS_AT,
            datetime(2030, 12, 5, 6, 0, tzinfo=UTC),
            "【リマインド】2030年12月7日（土）開催：ISO",
        ),
    ],
)
def test_reminder_subject_names_the_day_in_tokyo(app, seminar, starts_at, now, subject):
    registration = make_registration(seminar)
    (message,) = notifications.queue_reminder(registration, now=now)
    assert message.subject.startswith(subject)
    assert message.dedupe_key == f"reminder:{registration.id}"
