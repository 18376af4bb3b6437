"""Japanese by default, English on request: Accept-Language, ?lang= and the cookie
that remembers the choice. The same page reads fully in either language."""

from __future__ import annotations

from datetime import datetime

import pytest
from flask import g
from flask_babel import gettext, ngettext, refresh

from cluster_events.extensions import db
from cluster_events.timefmt import TOKYO
from tests.factories import make_category, make_event, make_venue


@pytest.fixture
def event(app):
    category = make_category(slug="seminar", name_ja="セミナー・講演会", name_en="Seminars")
    venue = make_venue(name="横浜事務所", name_en="Yokohama office")
    event = make_event(
        slug="bid-seminar",
        title="米軍入札 参加支援セミナー",
        title_en="Seminar: bidding for US forces contracts",
        starts_at=datetime(2031, 3, 7, 13, 30, tzinfo=TOKYO),
        ends_at=datetime(2031, 3, 7, 16, 30, tzinfo=TOKYO),
        category=category,
        venue=venue,
        capacity=40,
    )
    db.session.commit()
    return event


JAPANESE = (
    '<html lang="ja">',
    "これからの催し",
    "米軍入札 参加支援セミナー",
    "2031年3月7日（金）13:30〜16:30",
    "セミナー・講演会",
    "横浜事務所",
    "残り40席",
    "個人情報の取り扱い",
)
ENGLISH = (
    '<html lang="en">',
    "Upcoming events",
    "Seminar: bidding for US forces contracts",
    "Fri 7 Mar 2031, 13:30–16:30 JST",
    "Seminars",
    "Yokohama office",
    "40 seats left",
    "Privacy policy",
)


def text(response) -> str:
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/", "/events/bid-seminar"])
def test_japanese_by_default(client, event, url):
    html = text(client.get(url))
    for expected in JAPANESE if url == "/" else JAPANESE[:1] + JAPANESE[2:]:
        assert expected in html
    assert "Upcoming events" not in html


@pytest.mark.parametrize("url", ["/", "/events/bid-seminar"])
def test_english_from_accept_language(client, event, url):
    html = text(client.get(url, headers={"Accept-Language": "en-GB,en;q=0.9"}))
    for expected in ENGLISH:
        assert expected in html
    assert "これからの催し" not in html


def test_accept_language_prefers_japanese_when_it_comes_first(client, event):
    html = text(client.get("/", headers={"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.8"}))
    assert '<html lang="ja">' in html


def test_unsupported_accept_language_falls_back_to_japanese(client, event):
    assert '<html lang="ja">' in text(client.get("/", headers={"Accept-Language": "fr, de"}))


def test_lang_parameter_switches_and_the_cookie_remembers(client, event):
    response = client.get("/events/bid-seminar?lang=en")
    assert "Seminar: bidding for US forces contracts" in text(response)
    cookie = client.get_cookie("lang")
    assert cookie is not None and cookie.value == "en"
    assert cookie.http_only

    # Later pages stay English without the parameter, even with a Japanese browser.
    later = text(client.get("/", headers={"Accept-Language": "ja"}))
    assert '<html lang="en">' in later

    # And switching back is remembered too.
    assert '<html lang="ja">' in text(client.get("/?lang=ja"))
    assert client.get_cookie("lang").value == "ja"
    assert '<html lang="ja">' in text(client.get("/", headers={"Accept-Language": "en"}))


def test_language_switch_links_keep_the_page_and_its_query(client, event):
    html = text(client.get("/?q=セミナー&category=seminar"))
    assert (
        'href="/?q=%E3%82%BB%E3%83%9F%E3%83%8A%E3%83%BC&amp;category=seminar&amp;lang=en"' in html
    )
    html = text(client.get("/events/bid-seminar?lang=en"))
    assert 'href="/events/bid-seminar?lang=ja"' in html


def test_plurals_follow_the_language(app, event):
    """Japanese has one plural form; the merged catalogs must not apply English's rule."""
    for lang, one, many in (("ja", "残り1席", "残り3席"), ("en", "1 seat left", "3 seats left")):
        with app.test_request_context(f"/?lang={lang}"):
            g.requested_lang = lang
            refresh()
            assert ngettext("%(num)s seat left", "%(num)s seats left", 1) == one
            assert ngettext("%(num)s seat left", "%(num)s seats left", 3) == many


def test_site_texts_come_from_configuration(app, client, event):
    app.config.update(SITE_NAME="横須賀商工勉強会", SITE_NAME_EN="Yokosuka Business Circle")
    assert "横須賀商工勉強会" in text(client.get("/"))
    assert "Yokosuka Business Circle" in text(client.get("/?lang=en"))


def test_default_language_comes_from_configuration(app, client, event):
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    assert '<html lang="en">' in text(client.get("/"))


def test_outside_a_request_the_default_language_is_used(app):
    """CLI commands and the mail worker have no request to choose a language from."""
    assert gettext("Upcoming events") == "これからの催し"


@pytest.mark.parametrize(
    ("referrer", "expected"),
    [
        ("http://localhost/events/bid-seminar?x=1", "/events/bid-seminar?x=1&amp;lang=en"),
        ("http://localhost/events/bid-seminar?lang=ja", "/events/bid-seminar?lang=en"),
        ("https://elsewhere.example/phish", "/?lang=en"),
        (None, "/?lang=en"),
    ],
)
def test_language_switch_after_a_form_post_leads_back_to_a_real_page(
    client, event, referrer, expected
):
    """A page answering a POST has no address of its own: switching language there
    must not lead to the POST-only URL (which would answer 405)."""
    headers = {"Referer": referrer} if referrer else {}
    response = client.post("/events/bid-seminar/register", data={}, headers=headers)
    html = response.get_data(as_text=True)
    assert f'href="{expected}" lang="en"' in html
    assert 'href="/events/bid-seminar/register?lang=en"' not in html
