"""Sign-in by emailed link (issue 10, point 3): asking for a link, the email, the page the
link opens, using it once, the limits, signing out, and the command for local use.
Real SMTP (the recorder), both databases, the test client as two different browsers."""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.exc import OperationalError

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.members import services
from cluster_events.members import sign_in as service
from cluster_events.members.sign_in import SIGN_IN_URL_MARK
from cluster_events.models import (
    Base,
    MemberKind,
    MemberLoginToken,
    MemberPerson,
    OutboxMessage,
)
from tests.concurrency import run_at_once
from tests.conftest import sending_to
from tests.factories import make_organizer
from tests.members import first_person, make_member, sign_in_member

LAYOUT = '<header class="site-header">'
LINK_PATH = re.compile(r"https?://[^/\s]+(/members/login/[A-Za-z0-9_-]+)")


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {**app_config, **sending_to(smtp_server), "MAIL_DELIVERY": "inline"}


@pytest.fixture
def person(app) -> MemberPerson:
    return first_person(make_member(name="横須賀 花子", number="I-0001"))


def ask(client, email: str, lang: str = "ja", **kwargs: Any):
    """Ask for a link; the response is closed, so inline delivery has run."""
    response = client.post(f"/members/login?lang={lang}", data={"email": email}, **kwargs)
    response.close()
    return response


def emailed_links(smtp_server) -> list[str]:
    """The sign-in link paths of every email received, in order."""
    links = []
    for message in smtp_server.messages():
        found = LINK_PATH.search(message.get_body(("plain",)).get_content())
        if found:
            links.append(found.group(1))
    return links


def token_of(path: str) -> str:
    return path.rsplit("/", 1)[1]


def row_counts() -> dict[str, int]:
    db.session.expire_all()
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in Base.metadata.sorted_tables
    }


def header_of(page: str) -> str:
    return page.split(LAYOUT, 1)[1].split("</header>", 1)[0]


def signed_in_name(client) -> str | None:
    """The member name the site header shows this browser, or None."""
    header = header_of(client.get("/about?lang=ja").get_data(as_text=True))
    found = re.search(r'class="member-menu__name">([^<]*) 様でログイン中<', header)
    return found.group(1) if found else None


# --- the whole way, and what is stored ------------------------------------------------------


def test_one_email_whose_link_signs_in_from_another_browser(app, client, person, smtp_server):
    asked = ask(client, "I-0001@EXAMPLE.org")
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert LAYOUT in page and "メールをご確認ください" in page
    assert asked.headers["Cache-Control"] == "private, no-store"

    (message,) = smtp_server.messages()
    assert message["To"] == person.email
    assert message["Subject"].startswith("【会員ログイン】")
    text_body = message.get_body(("plain",)).get_content()
    html_body = message.get_body(("html",)).get_content()
    assert "横須賀 花子 様" in text_body and "ログイン用のリンク" in text_body
    assert "事務局" in text_body  # the footer of every email
    (link,) = emailed_links(smtp_server)
    assert f"http://localhost{link}" in text_body and f'href="http://localhost{link}"' in html_body
    assert SIGN_IN_URL_MARK not in text_body + html_body

    phone = app.test_client()  # the mail app's own browser: no cookie of the first one
    opened = phone.get(link)
    assert opened.status_code == 200
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    assert opened.headers["Cache-Control"] == "private, no-store"
    assert "ログインする" in opened.get_data(as_text=True)
    assert signed_in_name(phone) is None

    signed_in = phone.post(link)
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/members/me"
    assert signed_in.headers["Referrer-Policy"] == "no-referrer"
    assert signed_in_name(phone) == "横須賀 花子"
    assert signed_in_name(client) is None  # the browser that asked is not signed in


def test_the_link_is_in_english_for_an_english_page(app, client, person, smtp_server):
    ask(client, person.email, lang="en")
    (message,) = smtp_server.messages()
    assert message["Subject"] == "Your sign-in link: Industrial Cluster Study Group (NPO)"
    body = message.get_body(("plain",)).get_content()
    assert "Dear 横須賀 花子," in body and "can be used once" in body


def test_the_raw_token_is_kept_nowhere(app, client, person, smtp_server):
    ask(client, person.email)
    (link,) = emailed_links(smtp_server)
    token = token_of(link)
    assert len(token) >= 43  # 256 bits of URL-safe base64

    (stored,) = db.session.scalars(select(MemberLoginToken))
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert stored.expires_at - stored.created_at == timedelta(minutes=30)
    (outbox_row,) = db.session.scalars(select(OutboxMessage))
    assert SIGN_IN_URL_MARK in outbox_row.body_text and SIGN_IN_URL_MARK in outbox_row.body_html
    everything = []
    for table in Base.metadata.sorted_tables:
        everything += [repr(tuple(row)) for row in db.session.execute(select(table))]
    dump = "\n".join(everything)
    assert token not in dump and "/members/login/" not in dump


def test_unknown_and_inactive_addresses_get_the_same_page_and_nothing_is_stored(
    app, client, person, smtp_server
):
    known = ask(client, person.email).get_data(as_text=True).replace(person.email, "ADDRESS")
    withdrawn = first_person(make_member(number="W-1"))
    lapsed_member = make_member(number="L-1")
    corporate = make_member(
        kind=MemberKind.corporate,
        number="C-1",
        name="株式会社さくら",
        name_kana="さくら",
        people=[
            {"name": "山田 太郎", "name_kana": "やまだ たろう", "email": "yamada@example.org"},
            {"name": "佐藤 一郎", "name_kana": "さとう いちろう", "email": "sato@example.org"},
        ],
    )
    with app.test_request_context():
        services.withdraw_member(withdrawn.member_id)
        services.update_member(
            lapsed_member.id,
            number="L-1",
            name=lapsed_member.name,
            name_kana=lapsed_member.name_kana,
            joined_on=None,
            note="",
            status="lapsed",
        )
        services.remove_person(corporate.current_people[0].id)
    before = row_counts()
    for address in (
        "nobody@example.org",
        withdrawn.email,
        first_person(lapsed_member).email,
        "yamada@example.org",
    ):
        page = ask(app.test_client(), address)
        assert page.status_code == 200
        assert page.get_data(as_text=True).replace(address, "ADDRESS") == known, address
    assert row_counts() == before
    assert len(smtp_server.messages()) == 1  # only the known address's


def test_a_bad_address_is_shown_again_with_its_error(app, client, person):
    before = row_counts()
    for value, message in (
        ("", "メールアドレスを入力してください。"),
        ("not an address", "メールアドレスを正しく入力してください"),
        ("a\x07@example.org", "制御文字"),
        ("x" * 300 + "@example.org", "文字以内"),
    ):
        response = client.post("/members/login?lang=ja", data={"email": value})
        page = response.get_data(as_text=True)
        assert response.status_code == 400, value
        assert LAYOUT in page and 'aria-invalid="true"' in page and message in page, value
    assert row_counts() == before


# --- the page the link opens, and using it ---------------------------------------------------


def fresh_link(app, client, person, smtp_server) -> str:
    ask(client, person.email)
    return emailed_links(smtp_server)[-1]


def test_opening_the_link_uses_nothing_up(app, client, person, smtp_server):
    link = fresh_link(app, client, person, smtp_server)
    for _ in range(3):  # a mail scanner, a link preview, the member
        assert app.test_client().get(link).status_code == 200
    assert db.session.scalar(select(MemberLoginToken.used_at)) is None
    assert app.test_client().post(link).status_code == 303
    assert db.session.scalar(select(MemberLoginToken.used_at)) is not None


def refusal(client, method: str, path: str, lang: str) -> tuple[int, str]:
    response = client.open(f"{path}?lang={lang}", method=method)
    page = response.get_data(as_text=True)
    assert LAYOUT in page, (method, path)
    assert response.headers["Referrer-Policy"] == "no-referrer"
    return response.status_code, page


def test_a_used_link_is_refused(app, client, person, smtp_server):
    link = fresh_link(app, client, person, smtp_server)
    assert app.test_client().post(link).status_code == 303
    for lang, words in (("ja", "すでに使われています"), ("en", "already been used")):
        for method in ("GET", "POST"):
            status, page = refusal(app.test_client(), method, link, lang)
            assert status == 409 and words in page and 'href="/members/login"' in page


def test_an_expired_link_is_refused_with_a_way_to_ask_again(app, client, person, smtp_server):
    link = fresh_link(app, client, person, smtp_server)
    db.session.execute(update(MemberLoginToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    for lang, words in (("ja", "有効期限が切れています"), ("en", "has expired")):
        for method in ("GET", "POST"):
            browser = app.test_client()
            status, page = refusal(browser, method, link, lang)
            assert status == 409 and words in page and 'href="/members/login"' in page
            assert signed_in_name(browser) is None
    assert db.session.scalar(select(MemberLoginToken.used_at)) is None


@pytest.mark.parametrize(
    ("token", "our_page"),
    [
        ("A" * 43, True),  # well-formed, never issued
        ("A" * 42, True),
        ("A" * 44, True),
        ("A" * 5000, True),
        ("%E3%83%AD%E3%82%B0%E3%82%A4%E3%83%B3", True),  # ログイン
        ("abc$def", True),
        ("%27%20OR%20%271%27%3D%271", True),
        ("A" * 42 + "%3D", True),
        ("A" * 42 + "%00", False),  # a control character in the address: the plain 404 page
        ("..%2F..%2Fetc%2Fpasswd", False),  # no such route
    ],
)
def test_forged_and_strange_tokens_are_not_found(app, client, person, token, our_page):
    before = row_counts()
    for lang, words in (("ja", "正しくありません"), ("en", "is not valid")):
        for method in ("GET", "POST"):
            response = client.open(f"/members/login/{token}?lang={lang}", method=method)
            page = response.get_data(as_text=True)
            assert response.status_code == 404, (token, method)
            assert LAYOUT in page
            if our_page:
                assert words in page and 'href="/members/login"' in page
    assert row_counts() == before
    assert signed_in_name(client) is None


def test_forged_tokens_go_through_the_service_as_not_found(app):
    for token in (None, 12, "", "A" * 43, "A" * 100_000, "Ａ" * 43, "A" * 42 + "\n"):
        with pytest.raises(service.SignInLinkNotFound):
            service.redeem(token)


@pytest.mark.parametrize("change", ["withdrawn", "lapsed", "removed"])
def test_a_link_of_someone_no_longer_a_member_is_refused(app, client, smtp_server, change):
    member = make_member(
        kind=MemberKind.corporate,
        number="C-2",
        name="株式会社みなと",
        name_kana="みなと",
        people=[
            {"name": "山田 太郎", "name_kana": "やまだ たろう", "email": "yamada@example.org"},
            {"name": "佐藤 一郎", "name_kana": "さとう いちろう", "email": "sato@example.org"},
        ],
    )
    yamada = member.current_people[0]
    ask(client, yamada.email)
    (link,) = emailed_links(smtp_server)
    with app.test_request_context():
        if change == "withdrawn":
            services.withdraw_member(member.id)
        elif change == "lapsed":
            services.update_member(
                member.id,
                number="C-2",
                name=member.name,
                name_kana=member.name_kana,
                joined_on=None,
                note="",
                status="lapsed",
            )
        else:
            services.remove_person(yamada.id)
    for lang, words in (("ja", "事務局までご連絡ください"), ("en", "contact the office")):
        for method in ("GET", "POST"):
            browser = app.test_client()
            status, page = refusal(browser, method, link, lang)
            assert status == 403 and words in page
            assert signed_in_name(browser) is None


def test_two_redemptions_at_once_sign_in_exactly_one(app, client, person, smtp_server):
    link = fresh_link(app, client, person, smtp_server)
    token = token_of(link)
    db.session.commit()

    def redeem() -> str:
        try:
            return f"person {service.redeem(token).id}"
        except service.SignInLinkUsed:
            return "used"

    results = run_at_once(app, 4, redeem)
    assert sorted(results) == [f"person {person.id}", "used", "used", "used"]


def test_two_browsers_posting_the_link_at_once_one_is_signed_in(app, client, person, smtp_server):
    link = fresh_link(app, client, person, smtp_server)
    db.session.commit()
    browsers = [app.test_client() for _ in range(2)]
    barrier = threading.Barrier(len(browsers))
    statuses: dict[int, int] = {}

    def post(index: int) -> None:
        barrier.wait(timeout=30)
        statuses[index] = browsers[index].post(link).status_code

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses.values()) == [303, 409]
    names = [signed_in_name(browser) for browser in browsers]
    assert sorted(names, key=lambda name: name is None) == ["横須賀 花子", None]


def test_the_conditional_update_refuses_a_link_used_after_it_was_read(
    app, client, person, smtp_server, database_url
):
    """PostgreSQL: another transaction uses the link between our read and our update; the
    update's ``used_at IS NULL`` finds it used. (On SQLite the write transaction holds
    the database's write lock from before the read, so nothing can come between.)"""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's BEGIN IMMEDIATE leaves no moment between the read and the update")
    link = fresh_link(app, client, person, smtp_server)
    token_id = db.session.scalar(select(MemberLoginToken.id))
    db.session.commit()
    fired: list[bool] = []

    def use_it_first(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE MEMBER_LOGIN_TOKEN") and not fired:
            fired.append(True)
            with db.engine.connect() as other:
                other.execute(
                    text("UPDATE member_login_token SET used_at = now() WHERE id = :id"),
                    {"id": token_id},
                )
                other.commit()

    event.listen(db.engine, "before_cursor_execute", use_it_first)
    try:
        with pytest.raises(service.SignInLinkUsed):
            service.redeem(token_of(link))
    finally:
        event.remove(db.engine, "before_cursor_execute", use_it_first)
    assert fired == [True]


def test_other_links_of_the_person_stay_valid(app, client, person, smtp_server):
    first = fresh_link(app, client, person, smtp_server)
    second = fresh_link(app, client, person, smtp_server)
    assert first != second
    computer, phone = app.test_client(), app.test_client()
    assert computer.post(second).status_code == 303
    assert phone.post(first).status_code == 303
    assert signed_in_name(computer) == signed_in_name(phone) == "横須賀 花子"


def test_signing_in_replaces_a_previous_member_session(app, client, person, smtp_server):
    other = first_person(make_member(name="三浦 次郎", name_kana="みうら じろう", number="I-2"))
    sign_in_member(client, other)
    assert signed_in_name(client) == "三浦 次郎"
    link = fresh_link(app, client, person, smtp_server)
    assert client.post(link).status_code == 303
    assert signed_in_name(client) == "横須賀 花子"


# --- where to go afterwards ------------------------------------------------------------------


def test_the_browser_that_asked_goes_back_where_it_was_going(app, client, person, smtp_server):
    form = client.get("/members/login?next=/events/past%3Fpage%3D2").get_data(as_text=True)
    assert 'value="/events/past?page=2"' in form
    client.post(
        "/members/login", data={"email": person.email, "next": "/events/past?page=2"}
    ).close()
    (link,) = emailed_links(smtp_server)
    assert client.post(link).headers["Location"] == "/events/past?page=2"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/members/login"]
)
def test_a_next_elsewhere_is_ignored(app, client, person, smtp_server, target):
    assert f'value="{target}"' not in client.get(
        "/members/login", query_string={"next": target}
    ).get_data(as_text=True)
    client.post("/members/login", data={"email": person.email, "next": target}).close()
    link = emailed_links(smtp_server)[-1]
    assert client.post(link).headers["Location"] == "/members/me"


def test_a_mangled_next_is_dropped(app, client, person, smtp_server):
    response = client.post("/members/login", data={"email": person.email, "next": "/a\x01b"})
    response.close()
    assert response.status_code == 200
    assert client.post(emailed_links(smtp_server)[-1]).headers["Location"] == "/members/me"


def test_a_members_page_sends_to_the_form_with_next(app, client):
    from tests.test_member_sessions import add_probe

    add_probe(app)
    location = client.get("/__members_only").headers["Location"]
    assert 'value="/__members_only"' in client.get(location).get_data(as_text=True)


# --- limits -------------------------------------------------------------------------------


def test_an_address_gets_three_links_per_quarter_hour_and_ten_a_day(
    app, client, person, smtp_server
):
    def links_now() -> int:
        db.session.expire_all()
        return db.session.scalar(select(func.count()).select_from(MemberLoginToken))

    def time_passes(delta: timedelta) -> None:
        for login_token in db.session.scalars(select(MemberLoginToken)):
            login_token.created_at -= delta
        db.session.commit()

    def an_hour_passes() -> None:
        time_passes(timedelta(hours=1))

    first_page = ask(client, person.email).get_data(as_text=True)
    ask(client, person.email)
    ask(client, person.email)
    refused = ask(client, person.email)
    assert refused.status_code == 200 and refused.get_data(as_text=True) == first_page
    assert links_now() == 3 and len(smtp_server.messages()) == 3
    for _ in range(3):
        an_hour_passes()
        for _ in range(3):
            ask(client, person.email)
    assert links_now() == 10  # 3 in each of the first three hours, then 1: the day's 10
    an_hour_passes()
    assert ask(client, person.email).status_code == 200
    assert links_now() == 10 and len(smtp_server.messages()) == 10
    # A day after the first ones, links go out again.
    time_passes(timedelta(days=1))
    ask(client, person.email)
    assert links_now() == 11


class TestPerNetworkAddressLimit:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "RATELIMIT_ENABLED": True, "MEMBER_LOGIN_RATE_LIMIT": "3 per minute"}

    def test_the_fourth_request_in_a_minute_is_429(self, app, client, person, smtp_server):
        address = f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
        for number in range(3):
            response = ask(
                client, f"someone{number}@example.org", environ_base={"REMOTE_ADDR": address}
            )
            assert response.status_code == 200
        before = row_counts()
        refused = ask(client, person.email, environ_base={"REMOTE_ADDR": address})
        page = refused.get_data(as_text=True)
        assert refused.status_code == 429
        assert LAYOUT in page and "アクセスが集中しています" in page
        assert row_counts() == before and smtp_server.messages() == []
        # The form itself still shows, and another network address may ask.
        assert (
            client.get("/members/login", environ_base={"REMOTE_ADDR": address}).status_code == 200
        )
        assert (
            ask(client, person.email, environ_base={"REMOTE_ADDR": "10.8.8.8"}).status_code == 200
        )
        assert len(smtp_server.messages()) == 1


# --- CSRF, signing out, and the console -------------------------------------------------------


class TestWithCsrf:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    @staticmethod
    def csrf(page: str) -> str:
        return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)

    def test_the_whole_way_with_csrf_tokens_and_without(self, app, client, person, smtp_server):
        before = row_counts()
        assert ask(client, person.email).status_code == 400  # no token
        assert row_counts() == before

        token = self.csrf(client.get("/members/login").get_data(as_text=True))
        client.post("/members/login", data={"email": person.email, "csrf_token": token}).close()
        (link,) = emailed_links(smtp_server)

        phone = app.test_client()
        page = phone.get(link).get_data(as_text=True)
        assert phone.post(link).status_code == 400  # no token: the link stays unused
        assert db.session.scalar(select(MemberLoginToken.used_at)) is None
        assert phone.post(link, data={"csrf_token": self.csrf(page)}).status_code == 303
        assert signed_in_name(phone) == "横須賀 花子"

        header = header_of(phone.get("/").get_data(as_text=True))
        assert phone.post("/members/logout").status_code == 400
        assert signed_in_name(phone) == "横須賀 花子"
        out = phone.post("/members/logout", data={"csrf_token": self.csrf(header)})
        assert out.status_code == 303
        assert signed_in_name(phone) is None


def test_signing_out_keeps_an_organizers_session(app, client, person, login):
    organizer = make_organizer()
    db.session.commit()
    login(organizer)
    sign_in_member(client, person)
    assert signed_in_name(client) == "横須賀 花子"
    out = client.post("/members/logout?lang=ja")
    assert out.status_code == 303
    after = client.get(out.headers["Location"]).get_data(as_text=True)
    assert "ログアウトしました。" in after and "会員ログイン" in header_of(after)
    assert client.get("/admin/").status_code == 200  # still the organizer


def test_logout_by_get_is_405_in_the_layout(app, client, person):
    sign_in_member(client, person)
    response = client.get("/members/logout")
    assert response.status_code == 405 and LAYOUT in response.get_data(as_text=True)
    assert signed_in_name(client) == "横須賀 花子"


def test_a_member_session_opens_nothing_in_the_console(app, client, person, smtp_server):
    link = fresh_link(app, client, person, smtp_server)
    assert client.post(link).status_code == 303
    for path in (
        "/admin/",
        "/admin/members",
        "/admin/events",
        f"/admin/members/{person.member_id}",
    ):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# --- the header ---------------------------------------------------------------------------


def test_the_header_shows_sign_in_or_the_member(app, client, person, count_queries):
    with count_queries() as counter:
        anonymous = client.get("/about?lang=ja").get_data(as_text=True)
    assert not any("member_person" in statement for statement in counter.statements)
    header = header_of(anonymous)
    assert 'href="/members/login"' in header and "会員ログイン" in header

    sign_in_member(client, person)
    with count_queries() as counter:
        page = client.get("/about?lang=en").get_data(as_text=True)
    assert sum("member_person" in statement for statement in counter.statements) == 1
    header = header_of(page)
    assert "Signed in as 横須賀 花子" in header and "Sign out" in header
    assert 'action="/members/logout"' in header and 'name="csrf_token"' in header
    assert "Member sign-in" not in header


def test_the_header_never_turns_an_error_page_into_a_500(app, client, person):
    """A member's page while the database is away: the 503 page, with nobody in the header."""

    @app.get("/__database_gone")
    def gone() -> str:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    def refuse(conn, cursor, statement, parameters, context, executemany):
        if "member_person" in statement:
            raise OperationalError(statement, parameters, Exception("server closed"))

    sign_in_member(client, person)
    event.listen(db.engine, "before_cursor_execute", refuse)
    try:
        response = client.get("/__database_gone")
    finally:
        event.remove(db.engine, "before_cursor_execute", refuse)
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert LAYOUT in page and "会員ログイン" in header_of(page)


# --- the command --------------------------------------------------------------------------


def test_the_command_prints_a_working_link(app, runner, person):
    result = runner.invoke(args=["member-login-link", "i-0001@example.org"])
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert url.startswith("http://localhost/members/login/")
    browser = app.test_client()
    assert browser.post(urlsplit(url).path).status_code == 303
    assert signed_in_name(browser) == "横須賀 花子"
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_the_command_refuses_unknown_and_inactive_addresses(app, runner, person):
    withdrawn = first_person(make_member(number="W-9"))
    with app.test_request_context():
        services.withdraw_member(withdrawn.member_id)
    for address in ("nobody@example.org", withdrawn.email, "not an address"):
        result = runner.invoke(args=["member-login-link", address])
        assert result.exit_code == 1, address
        assert "Error:" in result.output and (
            "active member" in result.output or "valid" in result.output
        )
    assert db.session.scalar(select(func.count()).select_from(MemberLoginToken)) == 0
