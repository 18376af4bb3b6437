"""The public catalogue over HTTP, on SQLite and PostgreSQL: what is listed, in which
order and month, how dates read, what is hidden, and how many queries a page makes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from cluster_events.database import utcnow
from cluster_events.events import queries
from cluster_events.extensions import db
from cluster_events.models import Event, EventStatus, RegistrationStatus
from cluster_events.registration.status import RegistrationState, can_register, registration_state
from cluster_events.timefmt import TOKYO
from tests.factories import make_category, make_event, make_registration, make_venue

# Far enough ahead to be "upcoming" for years, with known weekdays:
# 2030-12-31 Tue, 2031-01-31 Fri, 2031-02-01 Sat.
YEAR = 2031


def jst(year: int, month: int, day: int, hour: int = 14, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO)


def page(client, url: str, **kwargs) -> str:
    response = client.get(url, **kwargs)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def listed(html: str) -> set[str]:
    """Slugs of the event cards on a page."""
    return set(re.findall(r'event-card__title">\s*<a href="/events/([^"]+)"', html))


def positions(html: str, *needles: str) -> list[int]:
    found = [html.find(needle) for needle in needles]
    assert -1 not in found, [n for n, i in zip(needles, found, strict=True) if i == -1]
    return found


# --- month grouping, order and time display ---------------------------------------------


def test_upcoming_events_are_grouped_by_tokyo_month_in_start_order(app, client):
    category = make_category()
    # Created out of order on purpose.
    make_event(slug="feb-15", title="二月なかばの会", starts_at=jst(YEAR, 2, 15), category=category)
    make_event(
        slug="just-after-midnight",
        title="二月一日未明の会",
        # 00:30 on 1 February in Tokyo is still 31 January in UTC.
        starts_at=jst(YEAR, 2, 1, 0, 30),
        category=category,
    )
    make_event(slug="dec-31", title="大みそかの会", starts_at=jst(YEAR - 1, 12, 31, 10))
    make_event(slug="late-jan", title="一月末の夜の会", starts_at=jst(YEAR, 1, 31, 23, 30))
    db.session.commit()

    html = page(client, "/")

    dec, jan, feb = f"{YEAR - 1}年12月", f"{YEAR}年1月", f"{YEAR}年2月"
    order = positions(
        html, dec, "大みそかの会", jan, "一月末の夜の会", feb, "二月一日未明の会", "二月なかばの会"
    )
    assert order == sorted(order)
    assert len(re.findall(r'class="month-group__title"', html)) == 3


def test_group_by_month_uses_tokyo_dates():
    first = Event(starts_at=datetime(YEAR, 1, 31, 15, 30, tzinfo=UTC))  # 1 Feb 00:30 JST
    second = Event(starts_at=datetime(YEAR, 1, 31, 14, 30, tzinfo=UTC))  # 31 Jan 23:30 JST
    groups = queries.group_by_month([second, first])
    assert [(g.year, g.month, g.events) for g in groups] == [
        (YEAR, 1, [second]),
        (YEAR, 2, [first]),
    ]


@pytest.mark.parametrize(
    ("start", "end", "japanese", "english"),
    [
        (
            jst(YEAR, 2, 1, 0, 30),
            jst(YEAR, 2, 1, 2, 0),
            f"{YEAR}年2月1日（土）00:30〜02:00",
            f"Sat 1 Feb {YEAR}, 00:30–02:00 JST",
        ),
        (
            jst(YEAR, 1, 31, 23, 30),
            jst(YEAR, 1, 31, 23, 55),
            f"{YEAR}年1月31日（金）23:30〜23:55",
            f"Fri 31 Jan {YEAR}, 23:30–23:55 JST",
        ),
        (
            jst(YEAR, 1, 31, 23, 30),
            jst(YEAR, 2, 1, 1, 0),
            f"{YEAR}年1月31日（金）23:30〜{YEAR}年2月1日（土）01:00",
            f"Fri 31 Jan {YEAR}, 23:30–Sat 1 Feb {YEAR}, 01:00 JST",
        ),
    ],
    ids=["0030-jst", "2330-jst", "over-midnight"],
)
def test_times_read_in_tokyo_on_list_and_detail(app, client, start, end, japanese, english):
    event = make_event(starts_at=start, ends_at=end)
    db.session.commit()
    for url in ("/", f"/events/{event.slug}"):
        assert japanese in page(client, url, query_string={"lang": "ja"})
        assert english in page(client, url, query_string={"lang": "en"})


# --- what the public never sees --------------------------------------------------------


def test_drafts_are_never_public(app, client):
    category = make_category(slug="seminar")
    draft = make_event(
        slug="secret-draft", title="下書きの講演会", status=EventStatus.draft, category=category
    )
    make_event(slug="visible", title="公開中の講演会", category=category)
    db.session.commit()

    assert "下書きの講演会" not in page(client, "/")
    assert "下書きの講演会" not in page(client, "/categories/seminar")
    assert "下書きの講演会" not in page(client, "/", query_string={"q": "下書き"})
    assert "公開中の講演会" in page(client, "/categories/seminar")
    assert client.get(f"/events/{draft.slug}").status_code == 404
    draft.starts_at = utcnow() - timedelta(days=3)
    draft.ends_at = draft.starts_at + timedelta(hours=2)
    db.session.commit()
    assert "下書きの講演会" not in page(client, "/events/past")


def test_members_only_events_are_hidden(app, client):
    category = make_category(slug="exchange")
    members = make_event(
        slug="members", title="個人会員交流会", is_members_only=True, category=category
    )
    db.session.commit()

    assert "個人会員交流会" not in page(client, "/")
    assert "個人会員交流会" not in page(client, "/categories/exchange")
    assert "個人会員交流会" not in page(client, "/", query_string={"q": "交流会"})
    # Its page says only that it is for members (tests/test_members_only_events.py).
    response = client.get(f"/events/{members.slug}")
    assert response.status_code == 403
    assert "個人会員交流会" not in response.get_data(as_text=True)


def test_cancelled_events_stay_visible_marked_cancelled(app, client):
    event = make_event(
        slug="cancelled",
        title="省エネ・環境経営セミナー",
        status=EventStatus.cancelled,
        cancellation_reason="講師の体調不良のため中止いたします。",
        capacity=30,
    )
    db.session.commit()

    listing = page(client, "/")
    assert "【中止】省エネ・環境経営セミナー" in listing
    assert '<span class="badge badge--cancelled">中止</span>' in listing
    detail = page(client, f"/events/{event.slug}")
    assert "この催しは中止になりました。" in detail
    assert "講師の体調不良のため中止いたします。" in detail
    assert "残り30席" not in detail
    english = page(client, f"/events/{event.slug}?lang=en")
    assert "This event has been cancelled." in english


def test_past_and_finished_events_leave_the_upcoming_list(app, client):
    now = utcnow()
    make_event(title="先週の会", starts_at=now - timedelta(days=7))
    make_event(
        title="開催中の会", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1)
    )
    db.session.commit()
    listing = page(client, "/")
    assert "先週の会" not in listing
    assert "開催中の会" in listing
    archive = page(client, "/events/past")
    assert "先週の会" in archive
    assert '<span class="badge badge--closed">終了</span>' in archive


# --- search and categories -------------------------------------------------------------


@pytest.fixture
def searchable(app):
    seminar = make_category(slug="seminar", name_ja="セミナー・講演会", name_en="Seminars")
    consultation = make_category(slug="consultation", name_ja="相談会", name_en="Consultations")
    yokohama = make_venue(name="横浜事務所", name_en="Yokohama office", address="横浜市金沢区片吹")
    yrp = make_venue(name="YRP事務所", address="横須賀市光の丘")
    make_event(
        slug="iso",
        title="ISO 9001 認証取得セミナー",
        summary="品質マネジメントの基礎",
        category=seminar,
        venue=yrp,
    )
    make_event(
        slug="eco",
        title="エコアクション21 説明会",
        summary="環境経営の仕組み。参加費100%無料",
        category=seminar,
        venue=yokohama,
    )
    make_event(
        slug="patent",
        title="特許 個別相談会",
        summary="弁理士経験者が対応します",
        category=consultation,
        venue=yrp,
    )
    db.session.commit()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ISO", {"iso"}),
        ("ｉｓｏ", {"iso"}),  # full-width, and case does not matter
        ("品質", {"iso"}),  # summary
        ("横浜事務所", {"eco"}),  # venue name
        ("Yokohama", {"eco"}),  # venue name in English
        ("光の丘", {"iso", "patent"}),  # venue address
        ("光の丘　特許", {"patent"}),  # every word must match (ideographic space)
        ("えこあくしょん", {"eco"}),  # hiragana finds katakana
        ("100%", {"eco"}),  # LIKE wildcards are taken literally
        ("%", {"eco"}),
        ("_", set()),
        ("存在しない言葉", set()),
    ],
)
def test_search_matches_title_summary_and_venue(client, searchable, query, expected):
    html = page(client, "/", query_string={"q": query})
    shown = listed(html)
    assert shown == expected
    if not expected:
        assert "条件に合う催しは見つかりませんでした。" in html
    else:
        assert f"{len(expected)}件の催しが見つかりました。" in html


def test_category_filter_and_category_page(client, searchable):
    html = page(client, "/", query_string={"category": "consultation"})
    assert listed(html) == {"patent"}
    assert '<option value="consultation" selected>' in html

    html = page(client, "/", query_string={"category": "seminar", "q": "エコ"})
    assert listed(html) == {"eco"}

    html = page(client, "/categories/seminar")
    assert "<h1>セミナー・講演会</h1>" in html
    assert listed(html) == {"iso", "eco"}
    assert "<h1>Seminars</h1>" in page(client, "/categories/seminar?lang=en")


def test_empty_states(app, client):
    make_category(slug="course")
    db.session.commit()
    assert "現在、予定している催しはありません。" in page(client, "/")
    assert "この分類の催しは、いまのところ予定がありません。" in page(client, "/categories/course")
    assert "これまでの催しはまだありません。" in page(client, "/events/past")


# --- the event page --------------------------------------------------------------------


def test_event_page_shows_everything_a_visitor_needs(app, client):
    venue = make_venue(
        name="YRP事務所",
        address="神奈川県横須賀市光の丘8番3号 YRPベンチャー棟209号",
        access_notes="YRP野比駅からバス10分",
        map_url="https://maps.example.org/yrp",
    )
    start = jst(YEAR, 3, 7, 14)
    event = make_event(
        title="米軍入札 参加支援セミナー",
        summary="登録手続きと入札の流れをご説明します。",
        body="## 内容\n\n- SAM登録\n\n<script>alert(1)</script>",
        starts_at=start,
        ends_at=jst(YEAR, 3, 7, 16, 30),
        venue=venue,
        capacity=40,
        fee_text="2,000円（会員無料）",
        registration_closes_at=jst(YEAR, 3, 5, 17),
    )
    db.session.commit()

    html = page(client, f"/events/{event.slug}")
    for text in (
        "<title>米軍入札 参加支援セミナー | ",
        "登録手続きと入札の流れをご説明します。",
        f"{YEAR}年3月7日（金）14:00〜16:30",
        "神奈川県横須賀市光の丘8番3号 YRPベンチャー棟209号",
        "YRP野比駅からバス10分",
        'href="https://maps.example.org/yrp"',
        "2,000円（会員無料）",
        "40名",
        f"{YEAR}年3月5日（水）17:00",
        "受付中",
        "残り40席",
        "<h2>内容</h2>",
        "<li>SAM登録</li>",
        'href="tel:',  # the organizer's contact
        'media="print"',
    ):
        assert text in html, text
    assert "<script>alert(1)</script>" not in html


def test_the_online_meeting_link_is_not_public(app, client):
    event = make_event(venue=None, online_url="https://zoom.example.org/j/123456")
    db.session.commit()
    html = page(client, f"/events/{event.slug}")
    facts = html[html.index('<dl class="event-facts">') : html.index("</dl>")]
    assert "zoom.example.org" not in facts
    assert "参加用のURLは、お申し込みの方にメールでお知らせします。" in facts
    assert "オンライン開催" in page(client, "/")
    assert "zoom.example.org" not in page(client, "/")


def _states_page(client, event: Event) -> str:
    return page(client, f"/events/{event.slug}")


def test_event_page_names_the_registration_state(app, client):
    now = utcnow()
    soon = make_event(registration_opens_at=now + timedelta(days=3), capacity=20)
    few = make_event(capacity=5)
    for _ in range(2):
        make_registration(few)
    full = make_event(capacity=2)
    make_registration(full)
    make_registration(full)
    make_registration(full, status=RegistrationStatus.waiting)
    closed = make_event(registration_closes_at=now - timedelta(hours=1))
    unlimited = make_event(capacity=None)
    db.session.commit()

    soon_html = _states_page(client, soon)
    assert "準備中" in soon_html and "受付開始" in soon_html
    few_html = _states_page(client, few)
    assert "受付中" in few_html and "残り3席" in few_html
    full_html = _states_page(client, full)
    assert "満席・キャンセル待ち受付中" in full_html
    assert "<dt>キャンセル待ち</dt><dd>1名</dd>" in full_html
    assert "締切" in _states_page(client, closed)
    assert "定員なし" in _states_page(client, unlimited)
    assert "1 seat left" not in page(client, f"/events/{few.slug}?lang=en")
    assert "3 seats left" in page(client, f"/events/{few.slug}?lang=en")


def test_list_shows_seats_fee_and_state(app, client):
    few = make_event(title="残りわずかの会", capacity=3, fee_text="1,000円（会員無料）")
    make_registration(few)
    make_registration(few)
    full = make_event(title="満席の会", capacity=1)
    make_registration(full)
    make_event(title="定員のない会", capacity=None, fee_text="")
    db.session.commit()
    html = page(client, "/")
    assert "残り1席" in html
    assert "1,000円（会員無料）" in html
    assert "満席・キャンセル待ち受付中" in html
    assert "定員なし" in html
    assert "無料" in html  # an empty fee reads as free


# --- the registration state rule (interface A) -----------------------------------------


def _event(**values) -> Event:
    values.setdefault("status", EventStatus.published)
    values.setdefault("starts_at", NOW + timedelta(days=10))
    values.setdefault("accepts_registrations", True)
    values.setdefault("is_members_only", False)
    values.setdefault("confirmed_count", 0)
    return Event(**values)


NOW = datetime(YEAR, 1, 1, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, RegistrationState.open),
        ({"status": EventStatus.draft}, RegistrationState.draft),
        ({"status": EventStatus.cancelled}, RegistrationState.cancelled),
        (
            {"status": EventStatus.cancelled, "starts_at": NOW - timedelta(days=1)},
            RegistrationState.cancelled,
        ),
        ({"accepts_registrations": False}, RegistrationState.not_accepting),
        # Who may sign up (a signed-in member) is registration.services' rule.
        ({"is_members_only": True}, RegistrationState.open),
        ({"registration_opens_at": NOW + timedelta(minutes=1)}, RegistrationState.not_yet_open),
        ({"registration_opens_at": NOW}, RegistrationState.open),
        ({"registration_closes_at": NOW}, RegistrationState.closed),
        ({"registration_closes_at": NOW + timedelta(minutes=1)}, RegistrationState.open),
        ({"starts_at": NOW}, RegistrationState.closed),
        ({"capacity": 2, "confirmed_count": 2}, RegistrationState.full),
        ({"capacity": 2, "confirmed_count": 1}, RegistrationState.open),
        (
            {"capacity": 2, "confirmed_count": 2, "registration_closes_at": NOW},
            RegistrationState.closed,
        ),
        ({"capacity": None, "confirmed_count": 500}, RegistrationState.open),
    ],
)
def test_registration_state(values, expected):
    assert registration_state(_event(**values), now=NOW) == expected


def test_can_register_only_while_open_or_full():
    allowed = {state for state in RegistrationState if can_register(state)}
    assert allowed == {RegistrationState.open, RegistrationState.full}


# --- the archive -----------------------------------------------------------------------


def test_past_events_newest_first_and_paginated(app, client):
    app.config["EVENTS_PER_PAGE"] = 2
    now = utcnow()
    for days in (30, 10, 20, 40, 50):
        make_event(slug=f"past-{days}", starts_at=now - timedelta(days=days))
    db.session.commit()

    def shown(html: str) -> list[str]:
        return re.findall(r'href="/events/(past-\d+)"', html)

    def older(html: str) -> str:
        return re.search(r'<a href="([^"]+)" rel="next">以前の催し →</a>', html).group(1)

    first = page(client, "/events/past")
    assert shown(first) == ["past-10", "past-20"]
    assert 'rel="prev"' not in first
    second = page(client, older(first))
    assert shown(second) == ["past-30", "past-40"]
    assert 'rel="prev">← 新しい催し</a>' in second
    assert '<a href="/events/past">最新の催しに戻る</a>' in second
    last = page(client, older(second))
    assert shown(last) == ["past-50"]
    assert 'rel="next"' not in last
    # Numbered pages are gone; their old addresses lead to the first page.
    assert client.get("/events/past?page=2").headers["Location"] == "/events/past"


# --- no N+1 ----------------------------------------------------------------------------

RECORDED_QUERY_COUNTS: dict[str, int] = {}


def _create_events(count: int, past: bool) -> None:
    """Each event with its own category and venue, so that loading them one by one
    would show as extra queries."""
    start = utcnow() + timedelta(days=1)
    step = timedelta(days=-1 if past else 1)
    if past:
        start = utcnow() - timedelta(days=1)
    for number in range(count):
        make_event(
            starts_at=start + number * step,
            capacity=None if number % 4 == 0 else 20,
            status=EventStatus.cancelled if number % 7 == 0 else EventStatus.published,
        )
    db.session.commit()


@pytest.mark.parametrize("url", ["/", "/?q=テスト", "/events/past"])
def test_list_page_query_count_does_not_grow_with_events(app, client, count_queries, url):
    past = url.startswith("/events/past")
    _create_events(5, past)
    # A fresh session, so that nothing is served from the identity map of the session
    # that created the rows (requests in tests share the test's app context).
    db.session.remove()
    with count_queries() as few:
        html = page(client, url)
    _create_events(195, past)
    db.session.remove()
    with count_queries() as many:
        more_html = page(client, url)
    assert html != more_html
    assert few.count == many.count, many.statements
    RECORDED_QUERY_COUNTS[url] = many.count
    print(f"queries for {url}: {few.count} with 5 events, {many.count} with 200")
