"""Odd addresses on the public pages get a 400 or 404 page in the site's layout and
the reader's language, never a 500 — on SQLite and on PostgreSQL (which, unlike
SQLite, refuses NUL characters in queries)."""

from __future__ import annotations

import pytest

from cluster_events.extensions import db
from tests.factories import make_category, make_event

LONG = "あ" * 10_000

BAD_REQUESTS = [
    ("/?category=no-such-category", 404),
    ("/?category=%00", 404),
    ("/?category=" + "x" * 5000, 404),
    ("/categories/no-such-category", 404),
    ("/categories/%00", 404),
    ("/categories/%E3%82%BB%E3%83%9F%E3%83%8A%E3%83%BC", 404),
    ("/events/past?page=abc", 400),
    ("/events/past?page=-1", 400),
    ("/events/past?page=0", 400),
    ("/events/past?page=1.5", 400),
    ("/events/past?page=", 400),
    ("/events/past?page=%EF%BC%92", 400),  # full-width ２
    ("/events/past?page=%C2%B2", 400),  # superscript ², which str.isdigit() accepts
    ("/events/past?page=99999999999999999999999999", 400),
    ("/events/past?page=10001", 400),
    ("/events/past?after=x", 400),
    ("/events/past?before=20261205T050000Z_1&after=20261205T050000Z_1", 400),
    ("/events/past?after=20261205T050000Z_99999999999", 400),
    ("/?after=20261305T050000Z_1", 400),
    ("/?before=%00", 400),
    ("/categories/seminar?after=" + "9" * 5000, 400),
    ("/?q=" + LONG, 400),
    ("/?q=%00", 400),
    ("/?q=abc%0Adef", 400),
    ("/events/%00", 404),
    ("/events/a%00b", 404),
    ("/events/%E3%82%BB%E3%83%9F%E3%83%8A%E3%83%BC", 404),
    ("/events/..%2F..%2Fetc%2Fpasswd", 404),
    ("/events/../../etc/passwd", 404),
    ("/events/" + "a" * 5000, 404),
    ("/events/%27%3B%20DROP%20TABLE%20event%3B--", 404),
    ("/events/%25", 404),
    ("/events/%F0%9F%98%80", 404),
    ("/?lang=fr", 400),
    ("/?lang=", 400),
    ("/?lang=%00", 400),
    ("/events/past?lang=" + "x" * 3000, 400),
    ("/no/such/page", 404),
]


@pytest.fixture
def catalogue(app):
    make_event(slug="real-event", category=make_category(slug="seminar"))
    db.session.commit()


@pytest.mark.parametrize(("url", "status"), BAD_REQUESTS)
def test_bad_input_gets_an_error_page_in_the_layout(client, catalogue, url, status):
    response = client.get(url)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert '<html lang="ja">' in html
    assert 'class="site-header"' in html
    heading = "ページが見つかりません" if status == 404 else "ご指定の内容を読み取れませんでした"
    assert heading in html
    assert 'href="/"' in html  # a way back


@pytest.mark.parametrize(
    ("url", "status", "heading"),
    [
        ("/events/%00?lang=en", 404, "The page could not be found"),
        ("/events/past?page=abc&lang=en", 400, "The request could not be understood"),
        ("/?q=%00&lang=en", 400, "The request could not be understood"),
    ],
)
def test_error_pages_speak_the_readers_language(client, catalogue, url, status, heading):
    response = client.get(url)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert heading in html


def test_an_unknown_lang_value_keeps_the_remembered_language(client, catalogue):
    client.get("/?lang=en")
    response = client.get("/?lang=klingon")
    assert response.status_code == 400
    assert "The request could not be understood" in response.get_data(as_text=True)
    assert client.get_cookie("lang").value == "en"


def test_wrong_method_gets_the_layout(client, catalogue):
    response = client.post("/events/real-event")
    assert response.status_code == 405
    assert "この操作はここではできません" in response.get_data(as_text=True)


def test_a_search_at_the_limit_still_works(client, catalogue):
    assert client.get("/", query_string={"q": "あ" * 100}).status_code == 200
    assert client.get("/", query_string={"q": "あ" * 101}).status_code == 400


def test_an_unexpected_error_shows_the_layout_and_is_logged(app_config, caplog):
    """In production a bug still answers in the site's layout (and is logged), not as a
    bare stack trace."""
    from cluster_events import create_app

    production = create_app({**app_config, "TESTING": False})

    @production.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    response = production.test_client().get("/boom", headers={"Accept-Language": "ja"})
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert 'class="site-header"' in html
    assert "申し訳ありません。問題が起きました" in html
    assert "a bug" not in html
    assert any("a bug" in str(record.exc_info[1]) for record in caplog.records if record.exc_info)
    with production.app_context():
        from cluster_events.extensions import db

        db.engine.dispose()
