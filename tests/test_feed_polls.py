"""Polls of the public feeds answered before Flask (calendar/polls.py): the same status,
headers and bytes as Flask's own answer, one query, never an answer older than the
data (in any worker), and everything else left to Flask."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from flask import request
from sqlalchemy import create_engine, select, text
from sqlalchemy import event as sa_event

from cluster_events import create_app
from cluster_events.calendar.cache import calendar_cache
from cluster_events.calendar.content_version import TOKEN_SQL
from cluster_events.calendar.polls import feed_polls
from cluster_events.calendar.queries import FEED_DAYS_BACK
from cluster_events.database import utcnow
from cluster_events.extensions import db, limiter
from cluster_events.models import Event
from tests.conftest import RequestIsolatingClient
from tests.factories import make_category, make_event, make_organizer
from tests.members import first_person, make_member, sign_in_member
from tests.test_member_feeds import feed_paths
from tests.test_security_headers import assert_protected

FEEDS = (
    "/calendar.ics",
    "/calendar.ics?lang=en",
    "/calendar.ics?lang=ja",
    "/calendar/seminars.ics",
    "/calendar/seminars.ics?lang=en",
)


@pytest.fixture
def feeds(app):
    seminars = make_category(slug="seminars", name_ja="セミナー", name_en="Seminars")
    for number in range(3):
        make_event(
            slug=f"seminar-{number}", title=f"経営セミナー（第{number}回）", category=seminars
        )
    make_event(slug="exchange", title="交流会")
    db.session.commit()


def _answer(response) -> tuple[str, list[tuple[str, str]], bytes]:
    return response.status, list(response.headers.items()), response.data


def _requests(client, url: str) -> list[tuple[str, dict[str, str]]]:
    """Every kind of poll of ``url``: plain, each validator that matches, one that does not."""
    first = client.get(url)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    conditions = [
        {},
        {"If-None-Match": etag},
        {"If-None-Match": f'W/{etag}, "other"'},
        {"If-None-Match": "*"},
        {"If-None-Match": '"other"'},
        {"If-Modified-Since": modified},
        {"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
        {"If-None-Match": '"other"', "If-Modified-Since": modified},
    ]
    return [(method, headers) for method in ("GET", "HEAD") for headers in conditions]


def test_polls_answered_before_flask_get_flasks_own_answers(app, client, feeds, count_queries):
    app.config["CALENDAR_POLLS_BEFORE_FLASK"] = False
    cases = [(url, method, headers) for url in FEEDS for method, headers in _requests(client, url)]
    by_flask = {}
    for url, method, headers in cases:
        with count_queries() as counter:
            response = client.open(url, method=method, headers=headers)
        assert TOKEN_SQL not in counter.statements
        by_flask[url, method, str(headers)] = _answer(response)
    assert {answer[0] for answer in by_flask.values()} == {"200 OK", "304 NOT MODIFIED"}

    app.config["CALENDAR_POLLS_BEFORE_FLASK"] = True
    for url in FEEDS:  # Flask answers once more, and the answers are kept
        etag = client.get(url).headers["ETag"]
        client.get(url, headers={"If-None-Match": etag})
    for url, method, headers in cases:
        with count_queries() as counter:
            response = client.open(url, method=method, headers=headers)
        assert counter.statements == [TOKEN_SQL], (url, method, headers)
        assert _answer(response) == by_flask[url, method, str(headers)], (url, method, headers)


def _assert_plain_304(response, etag: str) -> None:
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"] == "public, no-cache"
    assert_protected(response)
    assert "Vary" not in response.headers
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("url", ["/calendar.ics", "/calendar/seminars.ics?lang=en"])
def test_a_304_costs_one_query_and_carries_the_headers(
    app, app_config, client, feeds, count_queries, url
):
    etag = client.get(url).headers["ETag"]
    for _ in range(3):  # Flask's 304 first, then the same answer before Flask
        with count_queries() as counter:
            response = client.get(url, headers={"If-None-Match": etag})
        _assert_plain_304(response, etag)
        assert counter.count == 1, counter.statements

    # Another worker, which has answered nothing yet: the same 304 from Flask.
    other = create_app(app_config)
    other.test_client_class = RequestIsolatingClient
    statements: list[str] = []
    try:
        with other.app_context():
            engine = db.engine
        sa_event.listen(engine, "before_cursor_execute", _recorder(statements))
        response = other.test_client().get(url, headers={"If-None-Match": etag})
        _assert_plain_304(response, etag)
        assert len(statements) == 1, statements
        assert statements != [TOKEN_SQL]
    finally:
        with other.app_context():
            db.engine.dispose()


def _recorder(statements: list[str]):
    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA", "SAVEPOINT")):
            statements.append(statement)

    return record


def test_public_feeds_neither_vary_on_cookies_nor_set_any(app, client, feeds, login):
    anonymous = {url: client.get(url).data for url in FEEDS}
    visitor = app.test_client()
    sign_in_member(visitor, first_person(make_member()))
    login(make_organizer(), visitor)
    db.session.commit()
    with visitor.session_transaction() as session:
        session.permanent = True  # as after a real sign-in: Flask refreshes such a cookie
    visitor.set_cookie("lang", "en")
    for url in FEEDS:
        for _ in range(3):
            response = visitor.get(url)
            assert response.status_code == 200
            assert response.data == anonymous[url], url
            assert "Vary" not in response.headers, url
            assert "Set-Cookie" not in response.headers, url
    # A page reads the session (who is signed in) and says so, and refreshes its cookie;
    # ?lang= is remembered there.
    page = visitor.get("/?lang=ja")
    assert "Cookie" in page.headers["Vary"]
    cookies = page.headers.getlist("Set-Cookie")
    assert any(cookie.startswith("session=") for cookie in cookies)
    assert any(cookie.startswith("lang=ja") for cookie in cookies)


def test_an_answer_with_a_header_of_its_own_is_never_repeated(app, client, feeds, count_queries):
    @app.after_request
    def _stamp(response):
        response.headers["X-Seen-From"] = request.remote_addr or ""
        return response

    for number in range(4):
        address = f"192.0.2.{number}"
        with count_queries() as counter:
            response = client.get("/calendar.ics", environ_base={"REMOTE_ADDR": address})
        assert response.headers["X-Seen-From"] == address
        assert TOKEN_SQL not in counter.statements


def test_cached_and_uncached_feeds_are_the_same_bytes_in_both_languages(app, client, feeds):
    for url in ("/calendar.ics", "/calendar/seminars.ics"):
        for lang in ("ja", "en"):
            cached = [client.get(f"{url}?lang={lang}") for _ in range(3)]
            calendar_cache(app).clear()
            feed_polls(app).clear()
            built = client.get(f"{url}?lang={lang}")
            app.config["CALENDAR_CACHE_MAX_BYTES"] = 0
            app.extensions.pop("calendar_cache")
            never_kept = client.get(f"{url}?lang={lang}")
            app.config.pop("CALENDAR_CACHE_MAX_BYTES")
            app.extensions.pop("calendar_cache")
            for response in [*cached, never_kept]:
                assert response.status_code == 200
                assert response.data == built.data, (url, lang)
                assert response.headers["ETag"] == built.headers["ETag"]
        english = client.get(f"{url}?lang=en").data
        assert english != client.get(url).data
    assert b"Seminars" in client.get("/calendar/seminars.ics?lang=en").data


def test_no_worker_repeats_an_answer_older_than_the_data(app, app_config, client, feeds):
    other = create_app(app_config)
    other.test_client_class = RequestIsolatingClient
    elsewhere = other.test_client()
    try:
        etags = {}
        for worker in (client, elsewhere):
            for _ in range(3):
                response = worker.get("/calendar/seminars.ics")
                assert "経営セミナー（第1回）" in response.get_data(as_text=True)
            etags[worker] = response.headers["ETag"]
        assert etags[client] == etags[elsewhere]

        event = db.session.scalars(select(Event).where(Event.slug == "seminar-1")).one()
        event.title = "経営セミナー（第1回・会場変更）"
        db.session.commit()

        for worker in (elsewhere, client):
            plain = worker.get("/calendar/seminars.ics")
            assert "経営セミナー（第1回・会場変更）" in plain.get_data(as_text=True)
            assert plain.headers["ETag"] != etags[worker]
            poll = worker.get("/calendar/seminars.ics", headers={"If-None-Match": etags[worker]})
            assert poll.status_code == 200
            assert "会場変更" in poll.get_data(as_text=True)
    finally:
        with other.app_context():
            db.engine.dispose()


def test_an_event_that_leaves_the_window_leaves_the_feed_at_once(app, client, feeds):
    """Nothing is written when an event becomes older than the window, so the token stays;
    an answer kept from before must still not be repeated."""
    window = timedelta(days=FEED_DAYS_BACK)
    leaving = make_event(
        slug="leaving", title="まもなく期間外", starts_at=utcnow() - window + timedelta(seconds=2)
    )
    db.session.commit()
    first = [client.get("/calendar.ics") for _ in range(3)][-1]
    assert leaving.uid in first.get_data(as_text=True)

    time.sleep(max(0.0, (leaving.starts_at + window - utcnow()).total_seconds()) + 0.1)
    poll = client.get("/calendar.ics", headers={"If-None-Match": first.headers["ETag"]})
    assert poll.status_code == 200
    assert leaving.uid not in poll.get_data(as_text=True)
    assert "経営セミナー（第1回）" in poll.get_data(as_text=True)


def test_everything_else_is_answered_by_flask(app, client, feeds, count_queries):
    person = first_person(make_member())
    paths = feed_paths(app, person)
    urls = [
        paths["members"],
        paths["my"],
        "/calendar.ics?x=1",
        "/calendar.ics?lang=en&x=1",
        "/events/seminar-1.ics",
    ]
    for url in urls:
        for _ in range(3):
            with count_queries() as counter:
                response = client.get(url)
            assert response.status_code == 200, url
            assert counter.statements and TOKEN_SQL not in counter.statements, url
    assert client.get(paths["my"]).headers["Cache-Control"] == "private, no-cache"

    for _ in range(2):
        client.get("/calendar.ics")
    assert client.get("/calendar.ics?lang=fr").status_code == 400
    assert client.get("/calendar.ics?lang=").status_code == 400
    assert client.post("/calendar.ics").status_code == 405
    assert client.get("/calendar/nope.ics").status_code == 404
    assert client.get("/calendar/semi%00nars.ics").status_code == 404

    app.config["TRUSTED_HOSTS"] = ["localhost"]
    assert client.get("/calendar.ics").status_code == 200
    refused = client.get("/calendar.ics", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert b"BEGIN:VCALENDAR" not in refused.data


@pytest.fixture
def limits_for_every_request(app_config):
    """Limits beyond the views' own, set on the shared limiter for one app and removed after."""
    yield app_config
    limiter.limit_manager.set_application_limits([])
    limiter.limit_manager.set_default_limits([])


@pytest.mark.parametrize("setting", ["RATELIMIT_APPLICATION", "RATELIMIT_DEFAULT"])
def test_limits_for_every_request_still_count_feed_polls_and_pages(
    limits_for_every_request, setting
):
    app = create_app(
        {**limits_for_every_request, "RATELIMIT_ENABLED": True, setting: "3 per minute"}
    )
    app.test_client_class = RequestIsolatingClient
    try:
        with app.app_context():
            make_event()
            db.session.commit()
        for url in ("/calendar.ics", "/about"):
            browser = app.test_client()
            statuses = [
                browser.get(url, environ_base={"REMOTE_ADDR": f"192.0.2.{len(url)}"}).status_code
                for _ in range(5)
            ]
            assert statuses == [200, 200, 200, 429, 429], url
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_lost_connection_is_replaced_and_flask_answers_meanwhile(
    app, client, feeds, count_queries
):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("pg_terminate_backend: PostgreSQL only")
    etag = client.get("/calendar.ics").headers["ETag"]
    for _ in range(2):
        assert client.get("/calendar.ics", headers={"If-None-Match": etag}).status_code == 304
    db.session.remove()  # the test's own connection goes back to the pool first
    admin = create_engine(db.engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": db.engine.url.database},
            )
    finally:
        admin.dispose()
    with count_queries() as counter:
        response = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert response.status_code == 304  # Flask's answer, on a connection the pool checked
    assert len(counter.statements) == 2  # the read that failed, then Flask's
    with count_queries() as counter:
        response = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert counter.statements == [TOKEN_SQL]
