"""Public pages kept in memory and their HTTP caching (issue 11, point 4 and "Bad input"),
on SQLite and PostgreSQL, with CSRF on as in production:

- a page from memory is byte for byte the page rendered afresh, in Japanese and
  English, for a visitor and for a signed-in member (the CSRF token aside, which is the
  visitor's own in both);
- a kept page is never stale: a registration, an edit (even one that leaves
  ``updated_at`` alone), a renamed venue or category, the passing of a deadline;
- validators and 304; what is private; and a shared cache in front of the site never
  gives one visitor's page to another.
"""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from flask import template_rendered
from sqlalchemy import update

from cluster_events import database
from cluster_events.database import utcnow
from cluster_events.events.cards import card_cache
from cluster_events.extensions import db
from cluster_events.members.sessions import SESSION_KEY
from cluster_events.models import Category, Event, Venue
from cluster_events.page_cache import page_cache
from tests.factories import make_category, make_event, make_registration, make_venue
from tests.members import first_person, make_member, sign_in_member

MEMBER_NAME = "追浜 一郎"
OPEN_TITLE = "省エネ・環境経営セミナー"
MEMBERS_TITLE = "会員交流会"
PAST_TITLE = "昨年の工場見学会"
CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
CSRF_VALUE = re.compile(r'value="([^"]+)"')


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


@pytest.fixture
def world(app):
    category = make_category(slug="seminar", name_ja="セミナー", name_en="Seminars")
    venue = make_venue(name="ヴェルクよこすか", name_en="Werk Yokosuka")
    events = {
        "open": make_event(
            slug="open-seminar",
            title=OPEN_TITLE,
            title_en="Energy Saving Seminar",
            # Described in English: the one event of /?described=en.
            summary_en="Ways to save energy in small factories.",
            category=category,
            venue=venue,
            capacity=20,
        ),
        "unlimited": make_event(slug="talk", category=category, venue=venue, capacity=None),
        "members": make_event(
            slug="members-meetup",
            title=MEMBERS_TITLE,
            category=category,
            is_members_only=True,
            starts_at=utcnow() + timedelta(days=20),
        ),
        "past": make_event(
            slug="last-year", title=PAST_TITLE, starts_at=utcnow() - timedelta(days=30)
        ),
    }
    db.session.commit()
    return events


@pytest.fixture
def member(app):
    made = make_member(name=MEMBER_NAME, name_kana="おっぱま いちろう")
    return first_person(made)


@pytest.fixture
def renders(app):
    """The templates rendered so far (a page from memory renders none)."""
    rendered: list[str] = []

    def record(sender, template, context, **extra):
        rendered.append(template.name)

    template_rendered.connect(record, app)
    yield rendered
    template_rendered.disconnect(record, app)


def forget_pages(app) -> None:
    page_cache(app).clear()
    card_cache(app).clear()


def without_tokens(html: str) -> str:
    return CSRF_INPUT.sub("<csrf>", html)


def tokens_in(html: str) -> list[str]:
    return [CSRF_VALUE.search(tag).group(1) for tag in CSRF_INPUT.findall(html)]


def text(response) -> str:
    return response.get_data(as_text=True)


PAGES = [
    "/",
    "/?q=セミナー",
    "/?category=seminar",
    "/?described=en",
    "/categories/seminar",
    "/events/past",
    "/events/open-seminar",
    "/events/talk",
]


# --- the bytes -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("viewer", ["anonymous", "member"])
def test_a_page_from_memory_is_the_page_rendered_afresh(
    app, client, world, member, renders, lang, viewer
):
    if viewer == "member":
        sign_in_member(client, member)
    for page in PAGES:
        url = f"{page}{'&' if '?' in page else '?'}lang={lang}"
        forget_pages(app)
        renders.clear()
        fresh = client.get(url)
        assert fresh.status_code == 200, url
        assert renders, url  # rendered
        renders.clear()
        kept = client.get(url)
        assert kept.status_code == 200, url
        assert renders == [], url  # from memory
        assert without_tokens(text(kept)) == without_tokens(text(fresh)), url
        assert kept.headers["Content-Type"] == fresh.headers["Content-Type"]
        html = text(kept)
        if viewer == "anonymous":
            assert MEMBERS_TITLE not in html, url
        elif page in ("/", "/?category=seminar", "/categories/seminar"):
            assert MEMBERS_TITLE in html, url
        assert (MEMBER_NAME in html) == (viewer == "member"), url
        if lang == "en":
            assert '<html lang="en">' in html


LISTS = ["/", "/?q=セミナー", "/?category=seminar", "/categories/seminar", "/events/past"]


def next_page(html: str) -> str:
    found = re.search(r'<a href="([^"]+)" rel="next">', html)
    assert found, "no link to a next page"
    return found.group(1).replace("&amp;", "&")


def one_event_a_page(app) -> None:
    app.config["CATALOGUE_EVENTS_PER_PAGE"] = 1
    app.config["EVENTS_PER_PAGE"] = 1
    make_event(
        slug="two-years-ago", title="一昨年の見学会", starts_at=utcnow() - timedelta(days=700)
    )
    db.session.commit()


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("viewer", ["anonymous", "member"])
def test_a_second_page_from_memory_is_the_page_rendered_afresh(
    app, client, world, member, renders, lang, viewer
):
    """Pages after the first are kept under their own cursor, per viewer and language."""
    one_event_a_page(app)
    if viewer == "member":
        sign_in_member(client, member)
    for first in LISTS:
        joiner = "&" if "?" in first else "?"
        url = next_page(text(client.get(f"{first}{joiner}lang={lang}")))
        assert "after=" in url
        forget_pages(app)
        renders.clear()
        fresh = client.get(url)
        assert fresh.status_code == 200, url
        assert renders, url
        renders.clear()
        kept = client.get(url)
        assert renders == [], url
        assert without_tokens(text(kept)) == without_tokens(text(fresh)), url
        html = text(kept)
        assert 'rel="prev"' in html, url
        assert (MEMBER_NAME in html) == (viewer == "member"), url
        if viewer == "anonymous":
            assert MEMBERS_TITLE not in html, url
        assert (f'<html lang="{lang}">') in html, url


def test_a_page_is_keyed_by_its_own_events_only(app, client, world, count_queries):
    """A change to an event on the second page changes that page at once, and leaves
    the first page's tag alone: the first page's version reads its own rows (and
    whether one more follows), not the whole list."""
    one_event_a_page(app)
    first = client.get("/?lang=ja")
    second_url = next_page(text(first))
    assert "テストセミナー" in text(client.get(second_url))  # the talk, second by its start
    db.session.execute(
        update(Event).where(Event.id == world["unlimited"].id).values(title="改題した講演")
    )
    db.session.commit()
    db.session.remove()
    assert (
        client.get("/?lang=ja", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    )
    assert "改題した講演" in text(client.get(second_url))


def test_each_visitor_gets_their_own_valid_token_in_a_kept_page(app, client, world):
    first = client.get("/events/open-seminar?lang=ja")
    other = app.test_client()
    second = other.get("/events/open-seminar?lang=ja")
    (first_token,) = tokens_in(text(first))
    (second_token,) = tokens_in(text(second))
    assert first_token != second_token
    assert without_tokens(text(first)) == without_tokens(text(second))
    # The token put into the kept page is good for that visitor's session only.
    signed_up = other.post(
        "/events/open-seminar/register?lang=ja",
        data={**SIGN_UP, "csrf_token": second_token},
    )
    assert signed_up.status_code == 303
    refused = other.post(
        "/events/open-seminar/register?lang=ja",
        data={**SIGN_UP, "email": "other@example.jp", "csrf_token": first_token},
    )
    assert refused.status_code == 400


SIGN_UP = {
    "name": "横須賀 太郎",
    "name_kana": "よこすか たろう",
    "email": "taro@example.jp",
    "member_type": "general",
    "agree_privacy": "y",
}


def test_a_flashed_message_is_shown_and_such_a_page_is_kept_nowhere(app, client, world):
    client.get("/events/open-seminar?lang=ja")  # kept
    (token,) = tokens_in(text(client.get("/events/open-seminar?lang=ja")))
    bot = client.post(
        "/events/open-seminar/register?lang=ja",
        data={**SIGN_UP, "website": "http://spam.example", "csrf_token": token},
    )
    assert bot.status_code == 303
    flashed = client.get("/events/open-seminar?lang=ja")
    assert "お申込みを受け付けました" in text(flashed)
    assert flashed.headers["Cache-Control"] == "private, no-store"
    assert "ETag" not in flashed.headers
    again = client.get("/events/open-seminar?lang=ja")
    assert "お申込みを受け付けました" not in text(again)
    assert without_tokens(text(again)) != without_tokens(text(flashed))


# --- never stale -----------------------------------------------------------------------------


def both_pages(client) -> tuple[str, str]:
    return text(client.get("/?lang=ja")), text(client.get("/events/open-seminar?lang=ja"))


def test_a_registration_changes_the_seats_on_the_kept_pages(client, world):
    listing, page = both_pages(client)
    assert "残り20席" in listing and "残り20席" in page
    (token,) = tokens_in(page)
    response = client.post(
        "/events/open-seminar/register?lang=ja", data={**SIGN_UP, "csrf_token": token}
    )
    assert response.status_code == 303
    listing, page = both_pages(client)
    assert "残り19席" in listing and "残り19席" in page
    assert "残り20席" not in listing


def test_a_full_event_says_so_at_once(client, world):
    event = world["open"]
    both_pages(client)
    for _ in range(20):
        make_registration(event)
    db.session.commit()
    listing, page = both_pages(client)
    assert "満席・キャンセル待ち受付中" in listing and "満席・キャンセル待ち受付中" in page
    assert "キャンセル待ちに申し込む" in page


def test_changes_that_leave_updated_at_alone_still_show(client, world):
    """The version holds what the page shows, whichever column a change writes."""
    event = world["open"]
    listing, page = both_pages(client)
    db.session.execute(
        update(Event)
        .where(Event.id == event.id)
        .values(title="新しい題名", confirmed_count=5, updated_at=Event.updated_at)
    )
    db.session.commit()
    listing, page = both_pages(client)
    assert "新しい題名" in listing and "新しい題名" in page
    assert "残り15席" in listing and "残り15席" in page


def test_an_edited_venue_or_category_shows_on_every_kept_page(client, world):
    both_pages(client)
    text(client.get("/categories/seminar?lang=ja"))
    db.session.execute(update(Venue).values(name="産業交流プラザ", updated_at=Venue.updated_at))
    db.session.execute(update(Category).values(name_ja="講演会", updated_at=Category.updated_at))
    db.session.commit()
    listing, page = both_pages(client)
    category_page = text(client.get("/categories/seminar?lang=ja"))
    for html in (listing, page, category_page):
        assert "講演会" in html
    assert "産業交流プラザ" in listing and "産業交流プラザ" in page
    assert "ヴェルクよこすか" not in listing


def test_a_changed_member_sees_their_new_name_at_once(client, world, member):
    sign_in_member(client, member)
    assert MEMBER_NAME in text(client.get("/?lang=ja"))
    member.name = "追浜 次郎"
    db.session.commit()
    html = text(client.get("/?lang=ja"))
    assert "追浜 次郎" in html and MEMBER_NAME not in html


@pytest.fixture
def clock(monkeypatch):
    """The time every module reads (``utcnow``), moved by the test."""
    real = database.utcnow
    offset = [timedelta(0)]

    def now():
        return real() + offset[0]

    for name, module in list(sys.modules.items()):
        if name.startswith("cluster_events") and getattr(module, "utcnow", None) is real:
            monkeypatch.setattr(module, "utcnow", now)

    def advance(delta: timedelta) -> None:
        offset[0] += delta

    return advance


def test_a_deadline_passing_changes_the_kept_pages(client, world, clock):
    event = world["open"]
    event.registration_closes_at = utcnow() + timedelta(hours=1)
    db.session.commit()
    listing, page = both_pages(client)
    assert "受付中" in listing and 'name="agree_privacy"' in page
    clock(timedelta(hours=2))
    listing, page = both_pages(client)
    assert "締切" in listing and "お申込み受付は終了しました" in page
    assert 'name="agree_privacy"' not in page


def test_registration_opening_and_an_event_ending_change_the_kept_pages(client, world, clock):
    event = world["open"]
    event.registration_opens_at = utcnow() + timedelta(days=1)
    db.session.commit()
    listing, page = both_pages(client)
    archive = text(client.get("/events/past?lang=ja"))
    assert "準備中" in listing and 'name="agree_privacy"' not in page
    assert OPEN_TITLE not in archive
    clock(timedelta(days=2))
    listing, page = both_pages(client)
    assert "準備中" not in listing and 'name="agree_privacy"' in page
    clock(timedelta(days=30))
    listing, page = both_pages(client)
    archive = text(client.get("/events/past?lang=ja"))
    assert OPEN_TITLE not in listing and OPEN_TITLE in archive
    assert "終了" in page


# --- HTTP ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/?lang=ja", "/categories/seminar", "/events/past", "/events/talk"]
)
def test_public_pages_have_a_strong_tag_and_answer_304_until_something_changes(client, world, url):
    world["unlimited"].accepts_registrations = False  # no form: nothing personal
    db.session.commit()
    first = client.get(url)
    assert first.status_code == 200
    tag = first.headers["ETag"]
    assert tag.startswith('"')
    assert first.headers["Cache-Control"] == "public, no-cache"
    assert {"Cookie", "Accept-Language"} <= set(first.headers["Vary"].replace(" ", "").split(","))
    assert tokens_in(text(first)) == []
    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == tag
    assert again.headers["Cache-Control"] == "public, no-cache"
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    # Another language is another page.
    english = client.get(url, headers={"If-None-Match": tag, "Accept-Language": "en"})
    if "lang=" not in url:
        assert english.status_code == 200
    for event in (world["past"], world["unlimited"]):
        event.title = "変更しました"
    db.session.commit()
    changed = client.get(url, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tag


def test_a_page_with_a_form_is_private_and_its_tag_is_the_visitors(app, client, world):
    first = client.get("/events/open-seminar")
    assert first.headers["Cache-Control"] == "private, no-cache"
    tag = first.headers["ETag"]
    assert tag.startswith('W/"')
    assert client.get("/events/open-seminar", headers={"If-None-Match": tag}).status_code == 304
    # Another visitor (another session, so another CSRF secret) never gets a 304 for it.
    other = app.test_client()
    answer = other.get("/events/open-seminar", headers={"If-None-Match": tag})
    assert answer.status_code == 200
    assert answer.headers["ETag"] != tag
    assert tokens_in(text(answer))


def test_a_members_page_is_private_and_tagged_for_that_member(app, client, world, member):
    anonymous = client.get("/?lang=ja")
    sign_in_member(client, member)
    signed_in = client.get("/?lang=ja", headers={"If-None-Match": anonymous.headers["ETag"]})
    assert signed_in.status_code == 200
    assert signed_in.headers["Cache-Control"] == "private, no-cache"
    assert signed_in.headers["ETag"].startswith('W/"')
    assert (
        client.get("/?lang=ja", headers={"If-None-Match": signed_in.headers["ETag"]}).status_code
        == 304
    )
    other = make_member(name="長井 三郎", name_kana="ながい さぶろう")
    other_client = app.test_client()
    sign_in_member(other_client, first_person(other))
    theirs = other_client.get("/?lang=ja", headers={"If-None-Match": signed_in.headers["ETag"]})
    assert theirs.status_code == 200
    assert "長井 三郎" in text(theirs) and MEMBER_NAME not in text(theirs)


def test_a_kept_list_costs_one_query(app, client, world, count_queries):
    one_event_a_page(app)
    seconds = [next_page(text(client.get(url))) for url in LISTS]
    for url in ("/", "/?category=seminar", "/categories/seminar", "/events/past", *seconds):
        client.get(url)
        db.session.remove()
        with count_queries() as kept:
            assert client.get(url).status_code == 200
        assert kept.count == 1, kept.statements
        with count_queries() as revalidated:
            tag = client.get(url).headers["ETag"]
            assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
        assert revalidated.count == 2, revalidated.statements


# --- a shared cache in front of the site ---------------------------------------------------


class Visitor:
    """A browser: its own cookies and languages, sent by hand so that the shared cache
    sees the request as a proxy would."""

    def __init__(self, app, accept_language: str = "ja") -> None:
        self.app = app
        self.cookies: dict[str, str] = {}
        self.accept_language = accept_language

    def headers(self) -> dict[str, str]:
        headers = {"Accept-Language": self.accept_language}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in sorted(self.cookies.items()))
        return headers

    def keep_cookies(self, response) -> None:
        for header in response.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value

    def sign_in(self, person) -> None:
        serializer = self.app.session_interface.get_signing_serializer(self.app)
        value = serializer.dumps({SESSION_KEY: f"{person.id}:{person.session_generation}"})
        self.cookies[self.app.config["SESSION_COOKIE_NAME"]] = value


class SharedCache:
    """A proxy's cache that follows RFC 9111 as far as these pages need: it stores only
    ``public`` answers, keyed by the URL and the request headers named in Vary, and
    revalidates a stored answer (``no-cache``) with its ETag before serving it."""

    def __init__(self, app) -> None:
        self.client = app.test_client(use_cookies=False)
        self.stored: dict[str, list[tuple[dict[str, str | None], object, bytes]]] = {}
        self.served_from_store = 0

    def get(self, visitor: Visitor, url: str):
        headers = visitor.headers()
        for varied, response, body in self.stored.get(url, []):
            if all(headers.get(name) == value for name, value in varied.items()):
                answer = self.client.get(
                    url, headers={**headers, "If-None-Match": response.headers["ETag"]}
                )
                if answer.status_code == 304:
                    self.served_from_store += 1
                    return response, body
                break
        response = self.client.get(url, headers=headers)
        visitor.keep_cookies(response)
        cache_control = response.headers.get("Cache-Control", "")
        if "public" in cache_control and "Set-Cookie" not in response.headers:
            names = [name.strip() for name in response.headers.get("Vary", "").split(",")]
            varied = {name: headers.get(name) for name in names if name}
            self.stored.setdefault(url, []).append((varied, response, response.get_data()))
        return response, response.get_data()


def test_a_shared_cache_never_gives_a_visitor_anothers_page(app, world, member):
    proxy = SharedCache(app)
    first, second, english = Visitor(app), Visitor(app), Visitor(app, "en")
    signed_in = Visitor(app)
    signed_in.sign_in(member)
    seen: dict[tuple[int, str], bytes] = {}
    for _round in range(2):
        for number, visitor in enumerate((first, signed_in, second, english)):
            for url in ("/", "/categories/seminar", "/events/past", "/events/open-seminar"):
                response, body = proxy.get(visitor, url)
                assert response.status_code == 200, url
                html = body.decode()
                has_token = bool(tokens_in(html))
                personal = has_token or MEMBER_NAME in html or MEMBERS_TITLE in html
                if personal:
                    assert "private" in response.headers["Cache-Control"], url
                else:
                    assert response.headers["Cache-Control"] == "public, no-cache", url
                assert (MEMBER_NAME in html) == (visitor is signed_in), url
                assert ('<html lang="en">' in html) == (visitor is english), url
                if has_token:
                    # The token in the page is the one of this visitor's own session.
                    assert visitor.cookies, url
                previous = seen.setdefault((number, url), body)
                assert without_tokens(previous.decode()) == without_tokens(html), url
    assert proxy.served_from_store > 0
    assert not any(
        MEMBER_NAME.encode() in body or b'name="csrf_token"' in body
        for variants in proxy.stored.values()
        for _, _, body in variants
    )


def test_nothing_is_kept_while_templates_are_read_afresh(app, client, world):
    """``flask run --debug``: an edited template shows at the next request."""
    app.jinja_env.auto_reload = True
    for url in ("/", "/events/open-seminar"):
        response = client.get(url)
        assert response.status_code == 200
        assert "ETag" not in response.headers
    assert len(page_cache(app)) == 0 and len(card_cache(app)) == 0
    assert app.test_client().get("/").headers["Cache-Control"] == "public, no-cache"
