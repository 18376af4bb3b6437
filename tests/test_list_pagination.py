"""The catalogue, the category pages and the archive a page at a time, by cursor (issue
11, point 5), on SQLite and PostgreSQL: the boundaries (exactly a page, one event more,
events that start at the same moment), who sees what on every page, the search and the
category kept in the links, malformed cursors, the archive's old ``?page=N`` addresses,
and the query plans that keep a page's cost independent of the number of events."""

from __future__ import annotations

import html as html_module
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, text

from cluster_events.database import utcnow
from cluster_events.events import queries
from cluster_events.events.pagination import Cursor, Position
from cluster_events.extensions import db
from cluster_events.models import EventStatus
from tests.factories import make_category, make_event
from tests.members import first_person, make_member, sign_in_member

PER_PAGE = 3
LISTS = {
    "catalogue": "/",
    "category": "/categories/seminar",
    "archive": "/events/past",
}
BAD_REQUEST = "ご指定の内容を読み取れませんでした"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "CATALOGUE_EVENTS_PER_PAGE": PER_PAGE, "EVENTS_PER_PAGE": PER_PAGE}


@pytest.fixture
def seminar(app):
    return make_category(slug="seminar", name_ja="セミナー・講演会", name_en="Seminars")


def when(list_name: str, number: int) -> datetime:
    """The start of the ``number``-th event of a list, in the list's order (the
    archive's are further back the larger the number)."""
    if list_name == "archive":
        return utcnow() - timedelta(days=number)
    return utcnow() + timedelta(days=number)


def add(list_name: str, category, count: int, **values) -> list[str]:
    slugs = []
    for number in range(1, count + 1):
        slug = f"{list_name}-{number}"
        make_event(slug=slug, starts_at=when(list_name, number), category=category, **values)
        slugs.append(slug)
    db.session.commit()
    return slugs


def cards(html: str) -> list[str]:
    """The slugs of the event cards, in the page's order."""
    return re.findall(r'event-card__title">\s*<a href="/events/([^"]+)"', html)


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return html_module.unescape(found.group(1)) if found else None


def get(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, url
    return response.get_data(as_text=True)


def joined(pages: list[list[str]]) -> list[str]:
    return [slug for page in pages for slug in page]


def walk(client, url: str) -> list[list[str]]:
    """Every page from ``url`` on, following the links to the next page."""
    pages = []
    while url is not None:
        html = get(client, url)
        pages.append(cards(html))
        assert (link(html, "prev") is None) == (len(pages) == 1), url
        url = link(html, "next")
    return pages


# --- boundaries ------------------------------------------------------------------------------


@pytest.mark.parametrize("list_name", LISTS)
def test_exactly_a_page_shows_no_page_links(client, seminar, list_name):
    slugs = add(list_name, seminar, PER_PAGE)
    html = get(client, LISTS[list_name])
    assert cards(html) == slugs
    assert 'class="pagination"' not in html


@pytest.mark.parametrize("list_name", LISTS)
def test_one_event_more_than_a_page_makes_a_second_page(client, seminar, list_name):
    slugs = add(list_name, seminar, PER_PAGE + 1)
    first = get(client, LISTS[list_name])
    assert cards(first) == slugs[:PER_PAGE]
    assert link(first, "prev") is None
    second_url = link(first, "next")
    assert second_url.startswith(LISTS[list_name] + "?after=")

    second = get(client, second_url)
    assert cards(second) == slugs[PER_PAGE:]
    assert link(second, "next") is None
    assert "（続き）" in re.search(r"<title>(.*?)</title>", second).group(1)
    nav = re.search(r'<nav class="pagination" aria-label="([^"]+)">', second).group(1)
    assert nav in ("これからの催しのページ送り", "これまでの催しのページ送り")
    # Back from the second page is the first page itself, at its own address.
    back = client.get(link(second, "prev"))
    assert back.status_code == 302
    assert back.headers["Location"] == LISTS[list_name]


@pytest.mark.parametrize("list_name", LISTS)
def test_events_that_start_together_are_ordered_by_id_across_pages(client, seminar, list_name):
    moment = when(list_name, 5)
    ids = [
        make_event(slug=f"together-{n}", starts_at=moment, category=seminar).id for n in range(7)
    ]
    db.session.commit()
    in_order = sorted(ids, reverse=list_name == "archive")
    expected = [f"together-{ids.index(i)}" for i in in_order]

    pages = walk(client, LISTS[list_name])
    assert [len(page) for page in pages] == [3, 3, 1]
    assert joined(pages) == expected

    # Back from the last page: the middle page again, then the first page's address.
    last_url = LISTS[list_name]
    for _ in range(2):
        last_url = link(get(client, last_url), "next")
    middle = get(client, link(get(client, last_url), "prev"))
    assert cards(middle) == pages[1]
    assert client.get(link(middle, "prev")).headers["Location"] == LISTS[list_name]


def test_an_event_under_way_is_on_the_catalogue_first(client, seminar):
    started = make_event(
        slug="under-way",
        starts_at=utcnow() - timedelta(days=2),
        ends_at=utcnow() + timedelta(hours=3),
        category=seminar,
    )
    add("catalogue", seminar, PER_PAGE)
    pages = walk(client, "/")
    assert pages[0][0] == started.slug
    assert joined(pages) == ["under-way", "catalogue-1", "catalogue-2", "catalogue-3"]


def test_each_page_heads_its_first_month(client, seminar):
    base = datetime(2031, 1, 28, 5, tzinfo=UTC)  # 14:00 in Tokyo
    for number in range(5):
        make_event(slug=f"m{number}", starts_at=base + timedelta(days=2 * number), category=seminar)
    db.session.commit()
    first = get(client, "/")
    second = get(client, link(first, "next"))
    headings = re.compile(r'class="month-group__title">([^<]+)<')
    assert headings.findall(first) == ["2031年1月", "2031年2月"]
    assert headings.findall(second) == ["2031年2月"]


# --- who sees what ---------------------------------------------------------------------------

#: The events of each list in its order: what they are, and who sees them.
MIX = ["public", "members", "cancelled", "draft", "public", "members", "public", "cancelled"]


def _mixed(list_name: str, category) -> tuple[list[str], list[str]]:
    visitor, member = [], []
    for number, kind in enumerate(MIX, start=1):
        slug = f"{list_name}-{kind}-{number}"
        make_event(
            slug=slug,
            title=f"{kind} {number}",
            starts_at=when(list_name, number),
            category=category,
            is_members_only=kind == "members",
            status={"cancelled": EventStatus.cancelled, "draft": EventStatus.draft}.get(
                kind, EventStatus.published
            ),
        )
        if kind in ("public", "cancelled"):
            visitor.append(slug)
        if kind != "draft":
            member.append(slug)
    db.session.commit()
    return visitor, member


@pytest.mark.parametrize("list_name", LISTS)
def test_every_page_shows_what_the_viewer_may_see(app, client, seminar, list_name):
    visitor, member = _mixed(list_name, seminar)
    pages = walk(client, LISTS[list_name])
    assert [len(page) for page in pages] == [3, 2]
    assert joined(pages) == visitor
    assert "中止" in get(client, LISTS[list_name])  # cancelled events stay, marked

    signed_in = app.test_client()
    sign_in_member(signed_in, first_person(make_member()))
    pages = walk(signed_in, LISTS[list_name])
    assert [len(page) for page in pages] == [3, 3, 1]
    assert joined(pages) == member

    # A member's link passed on shows a visitor only what a visitor may see.
    members_second_page = link(get(signed_in, LISTS[list_name]), "next")
    shown = cards(get(client, members_second_page))
    assert shown and set(shown) <= set(visitor)


# --- search and category ---------------------------------------------------------------------


def test_the_search_and_the_category_are_kept_in_the_links(client, seminar):
    other = make_category(slug="course")
    matching = []
    for number in range(1, 9):
        category = seminar if number % 4 else other
        title = f"省エネセミナー{number}" if number % 3 else f"交流会{number}"
        slug = f"s{number}"
        make_event(slug=slug, title=title, starts_at=when("catalogue", number), category=category)
        if category is seminar and "セミナー" in title:
            matching.append(slug)
    db.session.commit()
    assert len(matching) == 4

    url = "/?q=セミナー&category=seminar"
    first = get(client, url)
    assert "3件を超える催しが見つかりました。3件ずつ表示しています。" in first
    next_url = link(first, "next")
    assert "q=%E3%82%BB%E3%83%9F%E3%83%8A%E3%83%BC" in next_url and "category=seminar" in next_url
    second = get(client, next_url)
    assert "見つかった催しの続きです。" in second
    assert "q=%E3%82%BB" in link(second, "prev") and "category=seminar" in link(second, "prev")
    assert walk(client, url) == [matching[:3], matching[3:]]
    assert '<option value="seminar" selected>' in second
    assert 'value="セミナー"' in second

    one_page = get(client, "/?q=交流会")
    assert "2件の催しが見つかりました。" in one_page
    assert 'class="pagination"' not in one_page


def test_a_category_page_pages_its_own_events_only(client, seminar):
    other = make_category(slug="course")
    add("catalogue", other, 2)
    for number in range(1, 5):
        make_event(slug=f"sem-{number}", starts_at=when("catalogue", 10 + number), category=seminar)
    db.session.commit()
    assert walk(client, "/categories/seminar") == [["sem-1", "sem-2", "sem-3"], ["sem-4"]]
    assert walk(client, "/?category=seminar") == [["sem-1", "sem-2", "sem-3"], ["sem-4"]]


def test_english_page_links(client, seminar):
    add("catalogue", seminar, PER_PAGE + 1)
    add("archive", seminar, PER_PAGE + 1)
    html = get(client, "/?lang=en")
    assert "Next 3 events →" in html
    second = get(client, link(html, "next"))
    assert "← Previous page" in second
    assert "Upcoming events (continued)" in second
    archive = get(client, link(get(client, "/events/past"), "next"))
    assert "← Newer events" in archive and "Back to the latest events" in archive


# --- odd addresses ---------------------------------------------------------------------------

BAD_CURSORS = [
    "",
    "abc",
    "20261205T050000Z",
    "20261205T050000Z_",
    "20261205T050000Z_0",
    "20261205T050000Z_-1",
    "20261205T050000Z_01",
    "20261205T050000_1",
    "20261305T050000Z_1",  # month 13
    "20260230T050000Z_1",  # 30 February
    "20261205T250000Z_1",
    "00001205T050000Z_1",  # year 0
    "20261205T050000.12Z_1",
    "20261205T050000.1234567Z_1",
    "2026-12-05T05:00:00Z_1",
    "20261205T050000Z_2147483648",  # beyond PostgreSQL's INTEGER
    "20261205T050000Z_99999999999",
    "２０２６1205T050000Z_1",  # full-width digits
    "20261205T050000Z_1 ",
    "20261205T050000Z_1" + "0" * 5000,
]


@pytest.mark.parametrize("list_name", LISTS)
@pytest.mark.parametrize("direction", ["after", "before"])
@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_a_malformed_cursor_is_a_400_page(client, seminar, list_name, direction, cursor):
    response = client.get(LISTS[list_name], query_string={direction: cursor})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'class="site-header"' in html and BAD_REQUEST in html


@pytest.mark.parametrize("list_name", LISTS)
def test_a_cursor_both_ways_at_once_is_a_400_page(client, seminar, list_name):
    cursor = "20261205T050000Z_1"
    response = client.get(LISTS[list_name], query_string={"after": cursor, "before": cursor})
    assert response.status_code == 400


@pytest.mark.parametrize("list_name", LISTS)
@pytest.mark.parametrize(
    ("query", "shown_by"),
    [
        # After the end of the list in its own order: nothing there.
        ("after=99991231T235959.999999Z_2147483647", {"archive"}),
        ("after=00010101T000000Z_1&lang=en", {"catalogue", "category"}),
        # Before the first page: that is the first page.
        ("before=00010101T000000Z_1", set()),
        ("before=99991231T235959Z_1", set()),
    ],
)
def test_a_cursor_off_the_list_goes_to_the_first_page(client, seminar, list_name, query, shown_by):
    """Far beyond either end (the events of a link ended or were removed since): the
    first page, or, for "after" a moment before the list begins, the list itself."""
    slugs = add(list_name, seminar, 2)
    response = client.get(f"{LISTS[list_name]}?{query}")
    if list_name in shown_by:
        assert response.status_code == 200
        assert cards(response.get_data(as_text=True)) == slugs
        return
    assert response.status_code == 302
    expected = LISTS[list_name] + ("?lang=en" if "lang=en" in query else "")
    assert response.headers["Location"] == expected


def test_a_cursor_is_written_and_read_back_exactly():
    for moment in (
        datetime(2026, 12, 5, 5, tzinfo=UTC),
        datetime(2026, 12, 5, 5, 0, 0, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ):
        cursor = Cursor(moment, 42)
        assert Cursor.parse(str(cursor)) == cursor
    assert str(Cursor(datetime(2026, 12, 5, 5, tzinfo=UTC), 7)) == "20261205T050000Z_7"


@pytest.mark.parametrize(
    ("query", "location"),
    [
        ("page=1", "/events/past"),
        ("page=2", "/events/past"),
        ("page=10000", "/events/past"),
        ("page=3&lang=en", "/events/past?lang=en"),
    ],
)
def test_old_numbered_archive_pages_move_to_the_first_page(client, seminar, query, location):
    add("archive", seminar, PER_PAGE * 3)
    response = client.get(f"/events/past?{query}")
    assert response.status_code == 301
    assert response.headers["Location"] == location


# --- query plans -----------------------------------------------------------------------------


def _statement_of(read) -> tuple[str, object]:
    """The SQL and parameters of the one statement ``read()`` sends."""
    sent = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        read()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    selects = [(sql, parameters) for sql, parameters in sent if sql.lstrip().startswith("SELECT")]
    assert len(selects) == 1, selects
    return selects[0]


def _plan(read) -> str:
    sql, parameters = _statement_of(read)
    connection = db.session.connection()
    if db.engine.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters).all()
        return "\n".join(str(row[-1]) for row in rows)
    # The test database is tiny, so PostgreSQL would read it whole: forbid that, and
    # sorting, to see whether the statement can be answered by walking an index alone.
    for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
        connection.execute(text(f"SET LOCAL {setting} = off"))
    rows = connection.exec_driver_sql("EXPLAIN " + sql, parameters).all()
    return "\n".join(row[0] for row in rows)


@pytest.mark.parametrize("member", [False, True])
@pytest.mark.parametrize("backwards", [None, False, True])
def test_an_archive_page_walks_the_start_time_index_and_sorts_nothing(
    app, seminar, member, backwards
):
    add("archive", seminar, 5)
    position = (
        Position() if backwards is None else Position(Cursor(when("archive", 3), 3), backwards)
    )
    plan = _plan(
        lambda: queries.archive_listing(
            per_page=PER_PAGE, position=position, viewer_is_member=member
        )
    )
    assert "ix_event_starts_at_id" in plan, plan
    if db.engine.dialect.name == "sqlite":
        assert "TEMP B-TREE" not in plan, plan
    else:
        assert "Sort" not in plan, plan


@pytest.mark.parametrize("by_category", [False, True])
@pytest.mark.parametrize("backwards", [None, False, True])
def test_an_upcoming_page_reads_upcoming_events_only(app, seminar, by_category, backwards):
    """Upcoming lists are read through the end time (an event under way is listed
    before events that start later), never along the start time from the oldest past
    event: SQLite, whose plans do not depend on statistics, shows the index chosen."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL chooses by its statistics: see `python -m bench --scale`")
    add("catalogue", seminar, 5)
    position = (
        Position() if backwards is None else Position(Cursor(when("catalogue", 3), 3), backwards)
    )

    def read():
        if by_category:
            queries.category_listing("seminar", per_page=PER_PAGE, position=position)
        else:
            queries.catalogue_listing(per_page=PER_PAGE, position=position)

    plan = _plan(read)
    index = "ix_event_category_ends_at" if by_category else "ix_event_status_ends_at"
    assert f"SEARCH event USING INDEX {index}" in plan, plan
    assert "ends_at>?" in plan, plan
