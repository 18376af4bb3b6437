"""English content (issue 13, point 1), on SQLite and PostgreSQL: the English pages,
cards, emails and .ics files show the English text the office wrote, and otherwise the
Japanese text marked lang="ja" with a note that the event is described in Japanese
only; the English catalogue's filter; the console's English fields and its preview in
both languages; control characters in the new fields."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

import icalendar
import pytest
from sqlalchemy import func, select

from cluster_events.calendar import ical
from cluster_events.events import services
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.models import Event, EventStatus, Venue
from cluster_events.registration import notifications
from tests.conftest import sending_to
from tests.factories import make_category, make_event, make_registration, make_venue

#: Sat 7 Dec 2030, 14:00-16:30 in Tokyo.
STARTS_AT = datetime(2030, 12, 7, 5, 0, tzinfo=UTC)
ENDS_AT = datetime(2030, 12, 7, 7, 30, tzinfo=UTC)

JAPANESE_ONLY = "This event is described in Japanese only."


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {**app_config, **sending_to(smtp_server), "MAIL_TIMEOUT": 5}


def bilingual(**values: Any) -> Event:
    """The bilingual seminar: every text in both languages."""
    venue = make_venue(
        name="YRP事務所",
        name_en="YRP office",
        access_notes="京急YRP野比駅からバスで約10分です。",
        access_notes_en="About 10 minutes by bus from YRP-Nobi Station.",
    )
    values.setdefault("slug", "us-forces-bidding")
    return make_event(
        title="米軍入札 参加支援セミナー",
        title_en="Seminar: bidding for US forces contracts",
        summary="米軍調達への参加手順をご説明します。",
        summary_en="How to take part in US forces procurement.",
        body="## 内容\n\n- 登録の手順",
        body_en="## Programme\n\n- Registering in advance",
        fee_text="2,000円（会員無料）",
        fee_text_en="2,000 yen (free for members)",
        venue=venue,
        **{"starts_at": STARTS_AT, "ends_at": ENDS_AT, **values},
    )


def japanese_only(**values: Any) -> Event:
    values.setdefault("slug", "kondankai")
    return make_event(
        title="経営研究・懇談会（第254回）",
        summary="事業承継について話し合います。",
        body="## 今回のテーマ\n\n事業承継は10年仕事",
        fee_text="会員無料、一般500円",
        venue=make_venue(access_notes="駐車場はありません。"),
        **{"starts_at": STARTS_AT, "ends_at": ENDS_AT, **values},
    )


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def listed(html: str) -> list[str]:
    return re.findall(r'event-card__title">\s*<a href="/events/([^"]+)"', html)


# --- the event page ----------------------------------------------------------------------------


def test_the_english_page_reads_entirely_in_english(app, client):
    event = bilingual()
    db.session.commit()
    html = page(client, f"/events/{event.slug}?lang=en")
    for english in (
        "Seminar: bidding for US forces contracts",
        "How to take part in US forces procurement.",
        "<h2>Programme</h2>",
        "2,000 yen (free for members)",
        "About 10 minutes by bus from YRP-Nobi Station.",
    ):
        assert english in html, english
    for japanese in ("米軍調達への参加手順", "登録の手順", "2,000円", "バスで約10分"):
        assert japanese not in html, japanese
    assert JAPANESE_ONLY not in html
    article = html.split("<article", 1)[1].split("</article>", 1)[0]
    assert 'lang="ja"' not in article

    japanese_page = page(client, f"/events/{event.slug}?lang=ja")
    assert "米軍調達への参加手順をご説明します。" in japanese_page
    assert "How to take part" not in japanese_page


def test_the_english_page_of_a_japanese_only_event_says_so_and_marks_the_japanese(app, client):
    event = japanese_only()
    db.session.commit()
    html = page(client, f"/events/{event.slug}?lang=en")
    assert JAPANESE_ONLY in html
    assert '<p class="lead" lang="ja">事業承継について話し合います。</p>' in html
    assert re.search(r'<div lang="ja">\s*<h2>今回のテーマ</h2>', html)
    assert '<span lang="ja">会員無料、一般500円</span>' in html
    assert '<span lang="ja">駐車場はありません。</span>' in html
    assert '<span lang="ja">経営研究・懇談会（第254回）</span>' in html
    # The Japanese page has nothing to say about it.
    japanese_page = page(client, f"/events/{event.slug}?lang=ja")
    assert "日本語のみ" not in japanese_page
    assert 'lang="ja">事業承継' not in japanese_page


def test_an_english_reason_for_a_cancellation_on_the_english_page(app, client):
    english = bilingual(
        status=EventStatus.cancelled,
        cancellation_reason="講師急病のため。",
        cancellation_reason_en="The speaker is ill.",
    )
    japanese = japanese_only(status=EventStatus.cancelled, cancellation_reason="会場の都合のため。")
    db.session.commit()
    assert "Reason: The speaker is ill." in page(client, f"/events/{english.slug}?lang=en")
    assert '<span lang="ja">会場の都合のため。</span>' in page(
        client, f"/events/{japanese.slug}?lang=en"
    )


# --- the catalogue -----------------------------------------------------------------------------


def test_english_cards_show_the_english_summary_or_the_japanese_one_marked(app, client):
    bilingual()
    japanese_only()
    db.session.commit()
    html = page(client, "/?lang=en")
    assert "How to take part in US forces procurement." in html
    assert '<p class="event-card__summary" lang="ja">事業承継について話し合います。</p>' in html
    assert html.count("Described in Japanese only") == 1
    assert "2,000 yen (free for members)" in html
    assert "Described in Japanese only" not in page(client, "/?lang=ja")


def test_the_english_catalogue_can_be_kept_to_events_described_in_english(app, client):
    english = bilingual()
    body_only = make_event(slug="body-only", body_en="Only the description is in English.")
    japanese = japanese_only()
    db.session.commit()
    everything = page(client, "/?lang=en")
    assert {english.slug, body_only.slug, japanese.slug} <= set(listed(everything))
    assert 'name="described" type="checkbox" value="en"' in everything

    filtered = page(client, "/?described=en&lang=en")
    assert english.slug in listed(filtered) and body_only.slug in listed(filtered)
    assert japanese.slug not in listed(filtered)
    assert re.search(r'name="described" type="checkbox" value="en" checked', filtered)
    # With the category and the search as well.
    searched = page(client, "/?described=en&q=US&lang=en")
    assert listed(searched) == [english.slug]
    # The Japanese catalogue does not offer it, but reads the address all the same.
    assert 'name="described"' not in page(client, "/?lang=ja")
    assert japanese.slug not in listed(page(client, "/?described=en&lang=ja"))


def test_the_filter_is_kept_from_page_to_page_and_in_the_page_cache(app, client):
    app.config["CATALOGUE_EVENTS_PER_PAGE"] = 1
    first = bilingual(slug="english-first")
    second = make_event(slug="english-second", summary_en="Also in English.")
    japanese_only(slug="japanese-between", starts_at=first.starts_at)
    second.starts_at = first.starts_at.replace(year=2031)
    second.ends_at = second.starts_at.replace(hour=8)
    db.session.commit()
    one = page(client, "/?described=en&lang=en")
    assert listed(one) == [first.slug]
    found = re.search(r'<a href="([^"]+)" rel="next">', one)
    assert found
    link = found.group(1).replace("&amp;", "&")
    assert "described=en" in link
    assert listed(page(client, link)) == [second.slug]
    # The same address twice: the second from memory, the same bytes.
    again = page(client, "/?described=en&lang=en")
    assert again == one


@pytest.mark.parametrize("value", ["ja", "EN", "en,ja", "1"])
def test_another_value_of_the_filter_is_a_400(app, client, value):
    assert client.get(f"/?described={value}&lang=en").status_code == 400


# --- the console -------------------------------------------------------------------------------


@pytest.fixture
def organizer_client(client, logged_in_client):
    return logged_in_client("organizer")


def event_form(category_id: int, venue_id: int | str = "", **changes: str) -> dict[str, str]:
    values = {
        "title": "米軍入札 参加支援セミナー",
        "title_en": "Seminar: bidding for US forces contracts",
        "category_id": str(category_id),
        "starts_at": "2030-12-07T14:00",
        "ends_at": "2030-12-07T16:30",
        "venue_id": str(venue_id),
        "summary": "米軍調達への参加手順をご説明します。",
        "summary_en": "How to take part in US forces procurement.",
        "body": "## 内容",
        "body_en": "## Programme",
        "fee_text": "2,000円",
        "fee_text_en": "2,000 yen",
        "accepts_registrations": "y",
        "save": "1",
    }
    values.update(changes)
    return values


def test_the_console_saves_the_english_texts(app, organizer_client):
    category = make_category()
    db.session.commit()
    response = organizer_client.post("/admin/events/new", data=event_form(category.id))
    assert response.status_code == 302
    event = db.session.scalars(select(Event)).one()
    assert event.summary_en == "How to take part in US forces procurement."
    assert event.body_en == "## Programme"
    assert event.fee_text_en == "2,000 yen"
    assert event.is_described_in_english
    edit = organizer_client.get(f"/admin/events/{event.id}/edit").get_data(as_text=True)
    assert "How to take part in US forces procurement.</textarea>" in edit
    assert 'value="2,000 yen"' in edit

    changed = event_form(category.id, summary_en="", body_en="")
    assert organizer_client.post(f"/admin/events/{event.id}/edit", data=changed).status_code == 302
    db.session.expire_all()
    assert not db.session.get(Event, event.id).is_described_in_english
    # Duplicating keeps the English texts.
    db.session.get(Event, event.id).summary_en = "Kept."
    db.session.commit()
    copy = services.duplicate_event(event.id)
    assert (copy.summary_en, copy.fee_text_en) == ("Kept.", "2,000 yen")


def test_the_preview_shows_the_page_in_japanese_and_in_english(app, organizer_client):
    category = make_category()
    venue = make_venue(access_notes="駅から徒歩5分。", access_notes_en="")
    db.session.commit()
    data = event_form(category.id, venue.id, summary_en="", preview="1")
    del data["save"]
    response = organizer_client.post("/admin/events/new", data=data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    start = html.index('id="preview-title-ja"')
    japanese = html[start : html.index('id="preview-title-en"')]
    english = html[html.index('id="preview-title-en"') :]
    assert "米軍調達への参加手順をご説明します。" in japanese and "<h2>内容</h2>" in japanese
    assert "Seminar: bidding for US forces contracts" in english
    assert "<h2>Programme</h2>" in english and "2,000 yen" in english
    # No English summary: the Japanese one, marked; no note, as the body is in English.
    assert '<p class="lead" lang="ja">米軍調達への参加手順をご説明します。</p>' in english
    assert JAPANESE_ONLY not in english
    assert '<span lang="ja">駅から徒歩5分。</span>' in english
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def test_the_preview_of_a_japanese_only_event_carries_the_note(app, organizer_client):
    category = make_category()
    db.session.commit()
    data = event_form(category.id, summary_en="", body_en="", fee_text_en="", preview="1")
    html = organizer_client.post("/admin/events/new", data=data).get_data(as_text=True)
    english = html[html.index('id="preview-title-en"') :]
    assert JAPANESE_ONLY in english
    assert JAPANESE_ONLY not in html[: html.index('id="preview-title-en"')]


def test_the_preview_of_an_all_day_event_without_its_first_day_shows_the_error(
    app, organizer_client
):
    """The preview reads the texts of a form with errors: an all-day event whose first
    day is missing (or not a date) is previewed with the error beside the field."""
    category = make_category()
    db.session.commit()
    for first_day in ("", "2030-02-30"):
        data = event_form(
            category.id, starts_at="", ends_at="", is_all_day="y", first_day=first_day
        )
        data["preview"] = "1"
        del data["save"]
        response = organizer_client.post("/admin/events/new?lang=en", data=data)
        assert response.status_code == 200, first_day
        html = response.get_data(as_text=True)
        assert 'id="preview-title-en"' in html
        assert 'id="first_day-error"' in html or "first day" in html.lower()
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def test_the_venue_form_saves_english_access_notes(app, organizer_client):
    response = organizer_client.post(
        "/admin/venues/new",
        data={
            "name": "横浜事務所",
            "access_notes": "道順はお問い合わせください。",
            "access_notes_en": "Please ask the office for directions.",
        },
    )
    assert response.status_code == 302
    venue = db.session.scalars(select(Venue)).one()
    assert venue.access_notes_en == "Please ask the office for directions."


@pytest.mark.parametrize("name", ["summary_en", "body_en", "fee_text_en"])
def test_a_control_character_in_an_english_text_is_a_field_error(app, organizer_client, name):
    category = make_category()
    db.session.commit()
    data = event_form(category.id, **{name: "English\x07text"})
    response = organizer_client.post("/admin/events/new?lang=en", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'id="{name}-error"' in html
    assert "This contained characters that cannot be used" in html
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def test_a_control_character_in_the_english_reason_or_access_notes(app, organizer_client):
    event = make_event()
    db.session.commit()
    response = organizer_client.post(
        f"/admin/events/{event.id}/cancel", data={"reason": "急病", "reason_en": "ill\x1b"}
    )
    assert response.status_code == 400
    assert 'id="reason_en-error"' in response.get_data(as_text=True)
    response = organizer_client.post(
        "/admin/venues/new", data={"name": "会場", "access_notes_en": "bus\x00"}
    )
    assert response.status_code == 400


# --- emails and .ics ---------------------------------------------------------------------------


def deliver_all() -> None:
    report = outbox.deliver_due(limit=100)
    assert report.failed == report.retrying == report.deferred == 0


def messages_by_recipient(smtp_server) -> dict[str, Any]:
    return {parseaddr(m["To"])[1]: m for m in smtp_server.messages()}


def description_of(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            calendar = icalendar.Calendar.from_ical(part.get_payload(decode=True))
            (vevent,) = calendar.walk("VEVENT")
            return str(vevent["DESCRIPTION"])
    raise AssertionError("no calendar")


def test_an_english_registrant_gets_english_email_and_ics(app, smtp_server):
    event = bilingual()
    make_registration(event, email="en@example.org", locale="en", name="John Smith")
    make_registration(event, email="ja@example.org", locale="ja")
    for registration in event.registrations:
        notifications.queue_registration_received(registration)
    db.session.commit()
    deliver_all()
    by = messages_by_recipient(smtp_server)
    english = by["en@example.org"].get_body(("plain",)).get_content()
    assert "About 10 minutes by bus from YRP-Nobi Station." in english
    assert "2,000 yen (free for members)" in english
    assert "バス" not in english and "2,000円" not in english
    description = description_of(by["en@example.org"])
    assert "How to take part in US forces procurement." in description
    assert "2,000 yen (free for members)" in description
    assert JAPANESE_ONLY not in description
    japanese = by["ja@example.org"].get_body(("plain",)).get_content()
    assert "京急YRP野比駅からバスで約10分です。" in japanese and "2,000円（会員無料）" in japanese
    assert "米軍調達への参加手順をご説明します。" in description_of(by["ja@example.org"])


def test_an_english_registrant_of_a_japanese_only_event_gets_the_japanese_marked(app, smtp_server):
    event = japanese_only()
    make_registration(event, email="en@example.org", locale="en")
    notifications.queue_registration_received(event.registrations[0])
    db.session.commit()
    deliver_all()
    message = messages_by_recipient(smtp_server)["en@example.org"]
    text = message.get_body(("plain",)).get_content()
    assert "Dear" in text and "駐車場はありません。" in text and "会員無料、一般500円" in text
    html = message.get_body(("html",)).get_content()
    assert re.search(r'<td style="[^"]*" lang="ja">駐車場はありません。</td>', html)
    description = description_of(message)
    assert description.index(JAPANESE_ONLY) < description.index("事業承継について話し合います。")
    assert "Fee: 会員無料、一般500円" in description


def test_a_cancellation_tells_each_registrant_the_reason_in_their_language(app, smtp_server):
    event = bilingual()
    make_registration(event, email="en@example.org", locale="en")
    make_registration(event, email="ja@example.org", locale="ja")
    fallback = japanese_only()
    make_registration(fallback, email="en2@example.org", locale="en")
    db.session.commit()
    services.cancel_event(event.id, "講師急病のため。", "The speaker is ill.")
    services.cancel_event(fallback.id, "会場の都合のため。")
    deliver_all()
    by = messages_by_recipient(smtp_server)
    assert "The speaker is ill." in by["en@example.org"].get_body(("plain",)).get_content()
    assert "The speaker is ill." in description_of(by["en@example.org"])
    assert "講師急病のため。" in by["ja@example.org"].get_body(("plain",)).get_content()
    other = by["en2@example.org"]
    assert "会場の都合のため。" in other.get_body(("plain",)).get_content()
    assert 'lang="ja">会場の都合のため。' in other.get_body(("html",)).get_content()


def test_the_public_feed_in_english_falls_back_per_text(app):
    event = japanese_only(fee_text_en="Free for members, 500 yen for others")
    db.session.commit()
    component = icalendar.Calendar.from_ical(ical.event_to_ical(event, locale="en"))
    (vevent,) = component.walk("VEVENT")
    description = str(vevent["DESCRIPTION"])
    assert JAPANESE_ONLY in description and "事業承継について話し合います。" in description
    assert "Fee: Free for members, 500 yen for others" in description
