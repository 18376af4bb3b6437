"""The iCalendar the calendar module builds, read back by two independent parsers
(icalendar and vobject) and checked line by line against RFC 5545."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject

from cluster_events.calendar import ical
from cluster_events.extensions import db
from cluster_events.models import EventStatus
from tests.factories import make_category, make_event, make_venue

TOKYO = ZoneInfo("Asia/Tokyo")


def parse_both(data: bytes) -> tuple[icalendar.Calendar, object]:
    """Parse with icalendar and vobject; both must accept the data."""
    text = data.decode("utf-8")
    return icalendar.Calendar.from_ical(data), vobject.readOne(text)


def vevents(parsed: tuple[icalendar.Calendar, object]) -> tuple[list, list]:
    by_icalendar = list(parsed[0].walk("VEVENT"))
    by_vobject = list(getattr(parsed[1], "vevent_list", []))
    assert len(by_icalendar) == len(by_vobject)
    return by_icalendar, by_vobject


def raw_lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")[:-1]
    assert all(b"\n" not in line and b"\r" not in line for line in lines), "bare LF or CR"
    return lines


def unfolded(data: bytes) -> list[str]:
    return data.decode("utf-8").replace("\r\n ", "").split("\r\n")


def test_single_event_file_carries_every_property_clients_need(app):
    venue = make_venue(name="YRP事務所", address="横須賀市光の丘8番3号")
    category = make_category(name_ja="セミナー・講演会")
    event = make_event(
        title="ISO 9001・14001 認証取得セミナー",
        summary="認証取得の流れを説明します。",
        fee_text="1,000円（会員無料）",
        venue=venue,
        category=category,
        starts_at=datetime(2026, 12, 5, 5, 0, tzinfo=UTC),
        ends_at=datetime(2026, 12, 5, 7, 30, tzinfo=UTC),
    )
    db.session.commit()

    app.config["SITE_URL"] = "https://events.example.org"
    with app.test_request_context("/"):
        data = ical.event_to_ical(event, locale="ja")

    lines = unfolded(data)
    assert lines[0] == "BEGIN:VCALENDAR"
    assert "VERSION:2.0" in lines
    assert "CALSCALE:GREGORIAN" in lines
    assert "METHOD:PUBLISH" in lines
    assert any(line.startswith("PRODID:-//") for line in lines)
    assert "DTSTART:20261205T050000Z" in lines
    assert "DTEND:20261205T073000Z" in lines
    assert "STATUS:CONFIRMED" in lines
    assert f"UID:{event.uid}" in lines
    # A single-event file is not a subscription: with a calendar name Outlook
    # would open it as a separate calendar.
    assert not any(line.startswith(("X-WR-CALNAME", "REFRESH-INTERVAL", "NAME:")) for line in lines)

    (by_icalendar,), (by_vobject,) = vevents(parse_both(data))
    assert str(by_icalendar["uid"]) == event.uid == by_vobject.uid.value
    assert by_icalendar.decoded("sequence") == 0 == int(by_vobject.sequence.value)
    assert str(by_icalendar["summary"]) == "ISO 9001・14001 認証取得セミナー"
    assert by_vobject.summary.value == "ISO 9001・14001 認証取得セミナー"
    assert by_vobject.location.value == "YRP事務所, 横須賀市光の丘8番3号"
    assert by_vobject.url.value == f"https://events.example.org/events/{event.slug}"
    description = by_vobject.description.value
    assert "認証取得の流れを説明します。" in description
    assert "参加費：1,000円（会員無料）" in description
    assert f"https://events.example.org/events/{event.slug}" in description
    assert by_vobject.organizer.value == "mailto:office@example.org"
    assert by_vobject.organizer.params["CN"] == [app.config["SITE_NAME"]]
    assert list(by_icalendar.decoded("categories")) == ["セミナー・講演会"]
    assert by_vobject.categories.value == ["セミナー・講演会"]
    for name in ("dtstamp", "created", "last-modified"):
        value = by_icalendar.decoded(name)
        assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
    assert by_icalendar.decoded("last-modified") == event.content_updated_at.replace(microsecond=0)
    assert by_vobject.dtstart.value == datetime(2026, 12, 5, 5, 0, tzinfo=UTC)


def test_feed_has_the_subscription_properties(app):
    make_event(title="経営研究・懇談会（第200回）")
    db.session.commit()
    with app.test_request_context("/"):
        data = ical.events_to_ical([make_event()], name="テスト研究会｜セミナー", locale="ja")
    lines = unfolded(data)
    for expected in (
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:テスト研究会｜セミナー",
        "X-WR-TIMEZONE:Asia/Tokyo",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ):
        assert expected in lines
    by_icalendar, by_vobject = parse_both(data)
    assert str(by_icalendar["x-wr-calname"]) == "テスト研究会｜セミナー"
    assert by_vobject.x_wr_timezone.value == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("tokyo_time", "utc_line"),
    [
        # 00:30 JST is still the previous day in UTC.
        (datetime(2026, 12, 5, 0, 30, tzinfo=TOKYO), "DTSTART:20261204T153000Z"),
        # 23:30 JST is the same day in UTC, 14:30.
        (datetime(2026, 12, 5, 23, 30, tzinfo=TOKYO), "DTSTART:20261205T143000Z"),
    ],
)
def test_events_near_midnight_keep_their_tokyo_date(app, tokyo_time, utc_line):
    event = make_event(starts_at=tokyo_time, ends_at=tokyo_time + timedelta(minutes=30))
    db.session.commit()
    db.session.expire_all()  # read the times back from the database
    with app.test_request_context("/"):
        data = ical.event_to_ical(event, locale="ja")
    assert utc_line in unfolded(data)
    (by_icalendar,), (by_vobject,) = vevents(parse_both(data))
    for start in (by_icalendar.decoded("dtstart"), by_vobject.dtstart.value):
        assert start == tokyo_time
        assert start.astimezone(TOKYO).date() == datetime(2026, 12, 5).date()
        assert start.astimezone(TOKYO).strftime("%H:%M") == tokyo_time.strftime("%H:%M")


def test_long_japanese_text_folds_at_75_octets_without_splitting_characters(app):
    summary = (
        "横須賀・三浦・横浜の中小企業の皆さまを対象に、ISO 9001・14001の認証取得に向けた"
        "準備の進め方、審査の流れ、費用の目安を、経験豊かな会員がやさしく説明します。"
        "質疑応答の時間もたっぷりとります。🙂 絵文字や「かぎかっこ」、全角スペース　も含みます。"
    ) * 3
    event = make_event(title="認証取得セミナー" * 8, summary=summary)
    db.session.commit()
    with app.test_request_context("/"):
        data = ical.event_to_ical(event, locale="ja")

    lines = raw_lines(data)
    assert any(line.startswith(b" ") for line in lines), "nothing was folded"
    for line in lines:
        assert len(line) <= 75, line
        line.decode("utf-8")  # a split multi-byte character would not decode

    (by_icalendar,), (by_vobject,) = vevents(parse_both(data))
    for description in (str(by_icalendar["description"]), by_vobject.description.value):
        assert description.startswith(summary + "\n\n")
    assert by_vobject.summary.value == "認証取得セミナー" * 8


def test_cancelled_event_stays_with_status_cancelled_and_marked_title(app):
    event = make_event(title="省エネ・環境経営セミナー")
    db.session.commit()
    event.status = EventStatus.cancelled
    event.cancellation_reason = "講師の急病のため"
    db.session.commit()

    with app.test_request_context("/"):
        data = ical.events_to_ical([event], locale="ja")
    (by_icalendar,), (by_vobject,) = vevents(parse_both(data))
    assert str(by_icalendar["status"]) == "CANCELLED" == by_vobject.status.value
    assert by_vobject.summary.value == "【中止】省エネ・環境経営セミナー"
    assert int(by_vobject.sequence.value) == 1
    assert "講師の急病のため" in by_vobject.description.value


def test_english_file_uses_english_title_and_labels(app):
    event = make_event(title="米軍入札 参加支援セミナー", title_en="Bidding to the US forces")
    db.session.commit()
    event.status = EventStatus.cancelled
    db.session.commit()
    with app.test_request_context("/"):
        data = ical.event_to_ical(event, locale="en")
    (_, by_vobject) = parse_both(data)
    assert by_vobject.vevent.summary.value == "[Cancelled] Bidding to the US forces"
    assert "Fee: " in by_vobject.vevent.description.value


def test_cancellation_of_a_registration_removes_the_entry_with_a_higher_sequence(app):
    event = make_event()
    db.session.commit()
    with app.test_request_context("/"):
        data = ical.cancellation_ical(event, attendee_email="taro@example.jp")
    lines = unfolded(data)
    assert "METHOD:CANCEL" in lines
    (by_icalendar,), (by_vobject,) = vevents(parse_both(data))
    assert str(by_icalendar["uid"]) == event.uid
    assert by_icalendar.decoded("sequence") == event.sequence + 1
    assert by_vobject.status.value == "CANCELLED"
    assert by_vobject.attendee.value == "mailto:taro@example.jp"
    # The event itself goes on: its title is not marked cancelled.
    assert not by_vobject.summary.value.startswith("【中止】")


def test_cancellation_of_a_cancelled_event_uses_the_raised_sequence(app):
    event = make_event()
    db.session.commit()
    event.status = EventStatus.cancelled
    db.session.commit()
    assert event.sequence == 1
    with app.test_request_context("/"):
        data = ical.event_to_ical(event, "CANCEL")
    (by_icalendar,), _ = vevents(parse_both(data))
    assert by_icalendar.decoded("sequence") == 1
    assert str(by_icalendar["summary"]).startswith("【中止】")


def test_attachment_for_email_outside_a_request_uses_site_url(app):
    app.config["SITE_URL"] = "https://events.example.org/base"
    event = make_event()
    db.session.commit()

    attachment = ical.ical_attachment(event, "PUBLISH", locale="ja")
    assert attachment["content_type"] == "text/calendar; charset=utf-8; method=PUBLISH"
    assert attachment["filename"] == f"{event.slug}.ics"
    _, by_vobject = parse_both(attachment["data"].encode())
    assert by_vobject.vevent.url.value == f"https://events.example.org/base/events/{event.slug}"
    assert "参加費：無料" in by_vobject.vevent.description.value  # labels in the given language

    cancel = ical.ical_attachment(event, "CANCEL", locale="ja")
    assert cancel["content_type"] == "text/calendar; charset=utf-8; method=CANCEL"
    assert "METHOD:CANCEL" in unfolded(cancel["data"].encode())


def test_same_data_gives_the_same_bytes(app):
    """The feeds' strong ETag relies on this: no clock in DTSTAMP."""
    events = [make_event(), make_event()]
    db.session.commit()
    with app.test_request_context("/"):
        first = ical.events_to_ical(events, locale="ja")
    with app.test_request_context("/"):
        second = ical.events_to_ical(events, locale="ja")
    assert first == second
