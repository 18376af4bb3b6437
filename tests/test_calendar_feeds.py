"""The feeds and per-event files over HTTP: what they contain, their headers, and
conditional requests (304 without building the calendar)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import Category, Event, EventStatus, Venue
from tests.factories import make_category, make_event, make_venue
from tests.test_calendar_ical import parse_both, raw_lines, vevents


def _uids(response) -> set[str]:
    assert response.status_code == 200
    by_icalendar, by_vobject = vevents(parse_both(response.data))
    uids = {str(component["uid"]) for component in by_icalendar}
    assert uids == {component.uid.value for component in by_vobject}
    return uids


def _feed_events(response) -> dict[str, object]:
    _, by_vobject = vevents(parse_both(response.data))
    return {component.uid.value: component for component in by_vobject}


def test_feed_lists_public_events_and_cancelled_ones_but_no_drafts_or_members_only(app, client):
    now = utcnow()
    published = make_event(title="ISO 9001・14001 認証取得セミナー")
    cancelled = make_event(title="省エネ・環境経営セミナー", status=EventStatus.cancelled)
    recent_past = make_event(starts_at=now - timedelta(days=179))
    draft = make_event(status=EventStatus.draft)
    members_only = make_event(title="個人会員交流会", is_members_only=True)
    too_old = make_event(starts_at=now - timedelta(days=181))
    db.session.commit()

    response = client.get("/calendar.ics")
    assert _uids(response) == {published.uid, cancelled.uid, recent_past.uid}
    assert draft.uid.encode() not in response.data
    assert members_only.uid.encode() not in response.data
    assert too_old.uid.encode() not in response.data
    assert "個人会員交流会".encode() not in response.data

    entry = _feed_events(response)[cancelled.uid]
    assert entry.status.value == "CANCELLED"
    assert entry.summary.value == "【中止】省エネ・環境経営セミナー"
    assert _feed_events(response)[published.uid].status.value == "CONFIRMED"


def test_feed_headers(app, client):
    make_event()
    db.session.commit()
    response = client.get("/calendar.ics")
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')  # strong, not W/
    assert response.headers["Last-Modified"].endswith(" GMT")
    assert response.headers["Cache-Control"] == "public, no-cache"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="calendar.ics"; ')
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == f"{app.config['SITE_NAME']}.ics"
    assert disposition.isascii()
    for line in raw_lines(response.data):
        assert len(line) <= 75


def test_category_feed_holds_one_category_and_names_it(app, client):
    seminars = make_category(slug="seminars", name_ja="セミナー・講演会", name_en="Seminars")
    meetings = make_category(slug="meetings")
    seminar = make_event(category=seminars)
    meeting = make_event(category=meetings)
    db.session.commit()

    response = client.get("/calendar/seminars.ics")
    assert _uids(response) == {seminar.uid}
    assert meeting.uid.encode() not in response.data
    by_icalendar, by_vobject = parse_both(response.data)
    expected_name = f"{app.config['SITE_NAME']}｜セミナー・講演会"
    assert str(by_icalendar["x-wr-calname"]) == expected_name
    assert by_vobject.x_wr_calname.value == expected_name

    english = client.get("/calendar/seminars.ics?lang=en")
    assert parse_both(english.data)[1].x_wr_calname.value == (
        f"{app.config['SITE_NAME_EN']} – Seminars"
    )
    assert english.headers["ETag"] != response.headers["ETag"]


def test_empty_category_feed_is_a_valid_calendar(app, client):
    make_category(slug="empty")
    db.session.commit()
    response = client.get("/calendar/empty.ics")
    assert _uids(response) == set()


def test_event_file(app, client):
    event = make_event(slug="iso-seminar", title="ISO 認証取得セミナー")
    db.session.commit()
    response = client.get("/events/iso-seminar.ics")
    assert _uids(response) == {event.uid}
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="iso-seminar.ics"; ')
    assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == "ISO 認証取得セミナー.ics"
    assert "METHOD:PUBLISH" in response.get_data(as_text=True)


def test_event_page_still_wins_for_its_own_url(app, client):
    make_event(slug="iso-seminar", title="ISO 認証取得セミナー")
    db.session.commit()
    page = client.get("/events/iso-seminar")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "url", ["/calendar/nope.ics", "/events/nope.ics", "/events/draft-one.ics", "/events/club.ics"]
)
def test_unknown_or_hidden_is_404_in_the_site_layout(app, client, url):
    make_event(slug="draft-one", status=EventStatus.draft)
    make_event(slug="club", is_members_only=True)
    db.session.commit()
    response = client.get(url)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert '<main id="main"' in html
    assert "ページが見つかりません" in html or "could not be found" in html


def test_matching_etag_gets_304_and_a_change_gets_200(app, client):
    event = make_event()
    db.session.commit()
    first = client.get("/calendar.ics")
    etag = first.headers["ETag"]

    again = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "public, no-cache"

    # The organizer moves the event: the next poll sees it, same UID, higher SEQUENCE.
    event = db.session.get(Event, event.id)
    event.starts_at = event.starts_at + timedelta(days=1)
    event.ends_at = event.ends_at + timedelta(days=1)
    db.session.commit()

    moved = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert moved.status_code == 200
    assert moved.headers["ETag"] != etag
    entry = _feed_events(moved)[event.uid]
    assert int(entry.sequence.value) == 1
    assert entry.dtstart.value == event.starts_at.replace(microsecond=0)

    # Then cancels it: still there, marked, sequence up again.
    event.status = EventStatus.cancelled
    db.session.commit()
    cancelled = client.get("/calendar.ics", headers={"If-None-Match": moved.headers["ETag"]})
    assert cancelled.status_code == 200
    entry = _feed_events(cancelled)[event.uid]
    assert entry.status.value == "CANCELLED"
    assert int(entry.sequence.value) == 2


@pytest.mark.parametrize(
    "header",
    [
        "{etag}",
        "W/{etag}",
        '"something-else", {etag}',
        "*",
    ],
)
def test_if_none_match_forms_that_match(app, client, header):
    make_event()
    db.session.commit()
    etag = client.get("/calendar.ics").headers["ETag"]
    response = client.get("/calendar.ics", headers={"If-None-Match": header.format(etag=etag)})
    assert response.status_code == 304


@pytest.mark.parametrize(
    "headers",
    [
        {"If-None-Match": '"not-the-etag"'},
        {"If-None-Match": "garbage without quotes"},
        {"If-None-Match": '"unterminated'},
        {"If-None-Match": ",,,"},
        {"If-None-Match": "W/"},
        {"If-Modified-Since": "yesterday"},
        {"If-Modified-Since": "Sat, 99 Nov 2026 99:00:00 GMT"},
        {"If-Modified-Since": "Mon, 01 Jan 99999 00:00:00 GMT"},
        {"If-Modified-Since": ""},
        {"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
    ],
)
def test_malformed_or_stale_validators_get_a_normal_200(app, client, headers):
    event = make_event()
    db.session.commit()
    for url in ("/calendar.ics", f"/events/{event.slug}.ics"):
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        assert _uids(response) == {event.uid}


def test_if_modified_since(app, client):
    event = make_event()
    db.session.commit()
    last_modified = client.get("/calendar.ics").headers["Last-Modified"]
    assert (
        client.get("/calendar.ics", headers={"If-Modified-Since": last_modified}).status_code == 304
    )
    # If-None-Match decides when both are sent.
    both = client.get(
        "/calendar.ics",
        headers={"If-Modified-Since": last_modified, "If-None-Match": '"other"'},
    )
    assert both.status_code == 200
    event_file = client.get(f"/events/{event.slug}.ics")
    assert (
        client.get(
            f"/events/{event.slug}.ics",
            headers={"If-Modified-Since": event_file.headers["Last-Modified"]},
        ).status_code
        == 304
    )


def test_plain_polls_never_get_a_stale_feed(app, client):
    """The process keeps built feeds by ETag; a change must still show at once."""
    event = make_event(title="変更前")
    db.session.commit()
    assert "変更前" in client.get("/calendar.ics").get_data(as_text=True)
    assert "変更前" in client.get("/calendar.ics").get_data(as_text=True)
    event = db.session.get(Event, event.id)
    event.title = "変更後"
    db.session.commit()
    assert "変更後" in client.get("/calendar.ics").get_data(as_text=True)
    assert "変更後" in client.get(f"/events/{event.slug}.ics").get_data(as_text=True)


def test_event_file_etag_follows_the_event(app, client):
    event = make_event()
    db.session.commit()
    url = f"/events/{event.slug}.ics"
    etag = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    event = db.session.get(Event, event.id)
    event.title = "題名を変更しました"
    db.session.commit()
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert "題名を変更しました" in changed.get_data(as_text=True)


def test_venue_and_category_edits_change_the_etag(app, client):
    venue = make_venue(name="YRP事務所")
    category = make_category(slug="seminars", name_ja="セミナー")
    make_event(venue=venue, category=category)
    db.session.commit()
    urls = ["/calendar.ics", "/calendar/seminars.ics"]
    etags = {url: client.get(url).headers["ETag"] for url in urls}

    db.session.get(Venue, venue.id).address = "横浜市金沢区片吹69番26号"
    db.session.commit()
    for url in urls:
        response = client.get(url, headers={"If-None-Match": etags[url]})
        assert response.status_code == 200
        assert "片吹69番26号" in response.get_data(as_text=True).replace("\r\n ", "")
        etags[url] = response.headers["ETag"]

    db.session.get(Category, category.id).name_ja = "講演会"
    db.session.commit()
    for url in urls:
        response = client.get(url, headers={"If-None-Match": etags[url]})
        assert response.status_code == 200
        assert "CATEGORIES:講演会" in response.get_data(as_text=True)


def test_new_and_removed_events_change_the_etag(app, client):
    make_event()
    db.session.commit()
    etag = client.get("/calendar.ics").headers["ETag"]
    hidden = make_event(status=EventStatus.draft)
    db.session.commit()
    assert client.get("/calendar.ics", headers={"If-None-Match": etag}).status_code == 304

    hidden = db.session.get(Event, hidden.id)
    hidden.status = EventStatus.published
    db.session.commit()
    published = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert published.status_code == 200
    assert hidden.uid in published.get_data(as_text=True)

    hidden = db.session.get(Event, hidden.id)
    hidden.is_members_only = True
    db.session.commit()
    members_only = client.get("/calendar.ics", headers={"If-None-Match": published.headers["ETag"]})
    assert members_only.status_code == 200
    assert hidden.uid not in members_only.get_data(as_text=True)


def test_head_request_has_the_validators(app, client):
    make_event()
    db.session.commit()
    response = client.head("/calendar.ics")
    assert response.status_code == 200
    assert response.headers["ETag"]
    assert (
        client.head(
            "/calendar.ics", headers={"If-None-Match": response.headers["ETag"]}
        ).status_code
        == 304
    )


def _add_events(count: int) -> None:
    categories = [make_category() for _ in range(5)]
    venues = [make_venue(name=f"会場{n}") for n in range(10)]
    start = utcnow() - timedelta(days=90)
    db.session.add_all(
        Event(
            slug=f"bulk-{n}",
            title=f"経営研究・懇談会（第{n}回）",
            summary="毎月の研究会です。" * 5,
            category=categories[n % len(categories)],
            venue=venues[n % len(venues)] if n % 7 else None,
            online_url="" if n % 7 else "https://meet.example.org/room",
            starts_at=start + timedelta(hours=6 * n),
            ends_at=start + timedelta(hours=6 * n + 2),
            status=EventStatus.cancelled if n % 50 == 0 else EventStatus.published,
            fee_text="無料",
            uid=Event.new_uid("test.example.org"),
        )
        for n in range(count)
    )
    db.session.commit()


def test_a_feed_of_1000_events_takes_two_queries_and_a_304_one(app, client, count_queries):
    _add_events(1000)
    db.session.remove()

    with count_queries() as counter:
        response = client.get("/calendar.ics")
    assert response.status_code == 200
    assert counter.count <= 2, counter.statements
    assert len(_uids(response)) == 1000

    with count_queries() as counter:
        from_memory = client.get("/calendar.ics")
    assert from_memory.data == response.data
    assert counter.count == 1, counter.statements

    with count_queries() as counter:
        not_modified = client.get(
            "/calendar.ics", headers={"If-None-Match": response.headers["ETag"]}
        )
    assert not_modified.status_code == 304
    assert counter.count == 1, counter.statements

    category_slug = db.session.scalars(select(Category.slug)).first()
    db.session.remove()
    with count_queries() as counter:
        category_feed = client.get(f"/calendar/{category_slug}.ics")
    assert category_feed.status_code == 200
    assert len(_uids(category_feed)) == 200
    assert counter.count <= 2, counter.statements
    with count_queries() as counter:
        category_304 = client.get(
            f"/calendar/{category_slug}.ics",
            headers={"If-None-Match": category_feed.headers["ETag"]},
        )
    assert category_304.status_code == 304
    assert counter.count == 1, counter.statements

    with count_queries() as counter:
        event_file = client.get("/events/bulk-1.ics")
    assert event_file.status_code == 200
    assert counter.count == 1, counter.statements


def test_cache_keeps_within_its_byte_budget():
    from cluster_events.calendar.cache import CalendarCache

    cache = CalendarCache(max_bytes=10)
    builds: list[str] = []

    def build(value: bytes):
        def run() -> bytes:
            builds.append(value.decode())
            return value

        return run

    assert cache.get_or_build("a", build(b"aaaa")) == b"aaaa"
    assert cache.get_or_build("a", build(b"xxxx")) == b"aaaa"  # from memory
    cache.get_or_build("b", build(b"bbbb"))
    cache.get_or_build("c", build(b"cccc"))  # 12 bytes > 10: "a" (least recent) goes
    cache.get_or_build("a", build(b"aaaa"))
    cache.get_or_build("d", build(b"d" * 11))  # larger than the budget: never kept
    cache.get_or_build("d", build(b"d" * 11))
    assert builds == ["aaaa", "bbbb", "cccc", "aaaa", "d" * 11, "d" * 11]


def test_cache_can_be_switched_off(app, client, count_queries):
    app.config["CALENDAR_CACHE_MAX_BYTES"] = 0
    make_event()
    db.session.commit()
    for _ in range(2):
        with count_queries() as counter:
            assert client.get("/calendar.ics").status_code == 200
        assert counter.count == 2, counter.statements
