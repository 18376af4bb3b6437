"""Google Calendar / Outlook.com links, the add-to-calendar block on event pages
and the subscription page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from urllib.parse import parse_qs, unquote, urlsplit

from cluster_events.calendar import links
from cluster_events.extensions import db
from cluster_events.models import EventStatus
from tests.factories import make_category, make_event, make_venue

TITLE = "市民公益活動団体の広報力アップ講座 & 交流会 #3"


def _event():
    return make_event(
        slug="pr-course",
        title=TITLE,
        title_en="PR skills course",
        summary="広報の基本を学びます。50%の方が初参加です。",
        venue=make_venue(name="横浜事務所", address="横浜市金沢区片吹69番26号"),
        starts_at=datetime(2026, 12, 4, 15, 30, tzinfo=UTC),  # 5 Dec 00:30 JST
        ends_at=datetime(2026, 12, 4, 17, 0, tzinfo=UTC),
    )


def _query(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    assert url.isascii(), "non-ASCII characters must be percent-encoded"
    assert "+" not in parts.query, "spaces as %20, never +"
    values = parse_qs(parts.query, strict_parsing=True, keep_blank_values=True)
    return {key: value[0] for key, value in values.items()}


def test_google_calendar_link_carries_encoded_japanese(app):
    event = _event()
    db.session.commit()
    app.config["SITE_URL"] = "https://events.example.org"
    with app.test_request_context("/"):
        url = links.google_calendar_url(event, "ja")
    assert url.startswith("https://calendar.google.com/calendar/render?")
    values = _query(url)
    assert values["action"] == "TEMPLATE"
    assert values["text"] == TITLE
    assert values["dates"] == "20261204T153000Z/20261204T170000Z"
    assert values["location"] == "横浜事務所, 横浜市金沢区片吹69番26号"
    assert values["details"] == (
        "広報の基本を学びます。50%の方が初参加です。\n\nhttps://events.example.org/events/pr-course"
    )
    assert "%E5%B8%82%E6%B0%91" in url  # 市民, UTF-8 percent-encoded
    assert "%26%20%E4%BA%A4%E6%B5%81" in url  # "& 交流": the ampersand does not split the query


def test_outlook_link_carries_encoded_japanese_and_iso_times(app):
    event = _event()
    db.session.commit()
    app.config["SITE_URL"] = "https://events.example.org"
    with app.test_request_context("/"):
        url = links.outlook_calendar_url(event, "ja")
    assert url.startswith("https://outlook.live.com/calendar/0/action/compose?")
    values = _query(url)
    assert values["subject"] == TITLE
    assert values["startdt"] == "2026-12-04T15:30:00Z"
    assert values["enddt"] == "2026-12-04T17:00:00Z"
    assert values["location"] == "横浜事務所, 横浜市金沢区片吹69番26号"
    assert values["body"].endswith("https://events.example.org/events/pr-course")


def test_links_use_the_english_title_for_english_readers(app):
    event = _event()
    db.session.commit()
    with app.test_request_context("/"):
        assert _query(links.google_calendar_url(event, "en"))["text"] == "PR skills course"
        assert _query(links.outlook_calendar_url(event, "en"))["subject"] == "PR skills course"


def test_long_summaries_are_shortened_in_links(app):
    event = make_event(summary="説明" * 500)
    db.session.commit()
    with app.test_request_context("/"):
        details = _query(links.google_calendar_url(event, "ja"))["details"]
    assert len(details) < 300
    assert "…" in details


def test_content_disposition_has_an_ascii_fallback_and_the_japanese_name():
    header = links.content_disposition("研究会/セミナー: 12月.ics", "seminar.ics")
    assert header.isascii()
    assert header.startswith("attachment; filename=\"seminar.ics\"; filename*=UTF-8''")
    assert unquote(header.split("''", 1)[1]) == "研究会_セミナー_ 12月.ics"
    assert links.content_disposition("plain.ics", "plain.ics") == 'attachment; filename="plain.ics"'


def test_webcal_url():
    assert links.webcal_url("https://events.example.org/calendar.ics") == (
        "webcal://events.example.org/calendar.ics"
    )


def test_event_page_offers_the_calendar_block(app, client):
    _event()
    db.session.commit()
    html = client.get("/events/pr-course").get_data(as_text=True)
    assert "カレンダーに追加" in html
    hrefs = [unescape(href) for href in re.findall(r'href="([^"]+)"', html)]
    assert "/events/pr-course.ics" in hrefs
    google = next(href for href in hrefs if href.startswith("https://calendar.google.com/"))
    assert _query(google)["text"] == TITLE
    outlook = next(href for href in hrefs if href.startswith("https://outlook.live.com/"))
    assert _query(outlook)["subject"] == TITLE
    assert "/calendar" in hrefs

    english = client.get("/events/pr-course?lang=en").get_data(as_text=True)
    assert "Add to your calendar" in english
    assert "/events/pr-course.ics?lang=en" in english


def test_cancelled_event_page_offers_only_the_file(app, client):
    event = _event()
    db.session.commit()
    event.status = EventStatus.cancelled
    db.session.commit()
    html = client.get("/events/pr-course").get_data(as_text=True)
    assert "/events/pr-course.ics" in html
    assert "calendar.google.com" not in html
    assert "outlook.live.com" not in html


def test_subscription_page(app, client):
    make_category(slug="seminars", name_ja="セミナー・講演会", name_en="Seminars")
    make_category(slug="meetings", name_ja="経営研究・懇談会", name_en="Study meetings")
    db.session.commit()
    response = client.get("/calendar")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "webcal://localhost/calendar.ics" in html
    assert 'value="http://localhost/calendar.ics"' in html
    assert "URLで追加" in html
    assert "<svg" in html and "qr-code" in html
    assert "webcal://localhost/calendar/seminars.ics" in html
    assert 'value="http://localhost/calendar/meetings.ics"' in html
    assert "セミナー・講演会" in html
    # Every URL field is labelled and described.
    for field_id in re.findall(r'<input id="([^"]+)"', html):
        assert f'<label for="{field_id}">' in html
        assert f'aria-describedby="{field_id}-hint"' in html
    # The main menu links here.
    assert 'href="/calendar"' in client.get("/").get_data(as_text=True)


def test_subscription_page_in_english_points_to_english_feeds(app, client):
    make_category(slug="seminars", name_en="Seminars")
    db.session.commit()
    html = client.get("/calendar?lang=en").get_data(as_text=True)
    assert "Subscribe to our calendar" in html
    assert "webcal://localhost/calendar.ics?lang=en" in html
    assert "http://localhost/calendar/seminars.ics?lang=en" in html
    feed = client.get("/calendar.ics?lang=en")
    assert feed.status_code == 200
    assert f"X-WR-CALNAME:{app.config['SITE_NAME_EN']}" in feed.get_data(as_text=True)


def test_the_qr_code_encodes_the_webcal_address(app, client):
    """Decode-free check: segno builds the same symbol for the same text."""
    import segno

    db.session.commit()
    html = client.get("/calendar").get_data(as_text=True)
    expected = segno.make("webcal://localhost/calendar.ics", error="m", micro=False)
    path = re.search(r'<path[^>]* d="([^"]+)"', expected.svg_inline(scale=4)).group(1)
    assert path in html
