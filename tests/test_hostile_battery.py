"""A hostile battery (issue 9, point 9): every route of ``app.url_map``, public and
console, anonymous and logged in as an organizer and as an admin, with and without a
valid CSRF token, gets requests no browser sends: random Unicode with control
characters, 100,000-character values, SQL, HTML and JavaScript, broken multipart
bodies, wrong methods, odd and duplicated headers, path traversal and ids beyond 64 bits.

Every answer is checked:

- no 5xx (an exception that escapes a view counts as one);
- every HTML page is in the site's layout (its header and footer), 404 and 405 included;
  every other error is an HTML page too; .ics, .csv and .xlsx answers are what they say;
  a redirect stays on the site; a 304 has no body;
- a refused request (a 4xx, an exception, a form shown again with errors, a redirect
  with an error message) leaves every row of every table as it was: no registration,
  no audit entry, no outbox row.

Routes are taken from ``app.url_map``, so a new route is covered without touching this
file; URL variables are filled by name with the ids, slugs and tokens of a small seeded
world, and with hostile values. The generated parts use Hypothesis with a fixed number of
examples, ``derandomize=True`` and no example database, so the number of requests is the
same on every run; the figures are printed at the end of the run ("hostile battery").
"""

from __future__ import annotations

import html.parser
import io
import itertools
import re
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from flask import Flask, g, session
from flask_wtf.csrf import generate_csrf
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from sqlalchemy import event, select
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule
from werkzeug.test import encode_multipart

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import (
    Base,
    Member,
    MemberPerson,
    Organizer,
    OutboxStatus,
    RegistrationStatus,
)
from cluster_events.registration import tokens
from tests.factories import (
    ORGANIZER_PASSWORD,
    make_category,
    make_event,
    make_organizer,
    make_registration,
    make_venue,
)

ROLES = ("anonymous", "organizer", "admin")
#: The raw CSRF secret put in every session the battery makes; the signed token made
#: from it (``Battery.csrf_token``) is valid in all of them.
CSRF_SECRET = "0" * 40
#: Present on every page of the site, public and console (templates/base.html).
LAYOUT_MARKERS = ('<header class="site-header">', '<footer class="site-footer">')
#: A page that shows the request was refused (templates/_macros, admin/_form, flashes).
REFUSAL_MARKERS = (
    'class="error-summary"',
    'class="field-error"',
    'aria-invalid="true"',
    "flash--error",
    "notice--error",
    'class="error-page"',
)
#: Payloads that would run if a page echoed them unescaped.
SCRIPT_MARKERS = (
    "<script>alert(31337)",
    "<img src=x onerror=alert(31337)>",
    "<svg onload=alert(31337)>",
)
EVIL_HOST = "evil.example"
NON_HTML_TYPES = {
    "text/calendar": b"BEGIN:VCALENDAR",
    "text/csv": b"",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": b"PK",
}
WRONG_METHODS = ("PUT", "DELETE", "PATCH", "TRACE", "PROPFIND", "BREW")


# Hostile values ---------------------------------------------------------------------------

LONG = 100_000
PAYLOADS = [
    "",
    " ",
    "' OR '1'='1",
    "1; DROP TABLE registration; --",
    "' UNION SELECT password_hash, email FROM organizer --",
    '" OR ""="',
    "%' AND 1=0 UNION SELECT NULL --",
    "\\'; SELECT pg_sleep(0); --",
    "<script>alert(31337)</script>",
    '"><img src=x onerror=alert(31337)>',
    "<svg onload=alert(31337)>",
    "javascript:alert(31337)",
    "{{ 7*7 }}{% raw %}${7*7}",
    "\x00",
    "a\x00b",
    "\x01\x02\x03\x1b[31m\x7f",
    "\u202etxt.exe",
    "\ufeff\u200b\u2028\u2029",
    "\ufffe\uffff",
    "\U0010ffff\U000e0001",
    "ｔｅｓｔ＠ｅｘａｍｐｌｅ．ｊｐ",
    "テスト\r\n太郎",
    "18446744073709551617",
    "-1",
    "0",
    "²",
    "١٢٣",
    "１２３",
    "1e309",
    "NaN",
    "9" * 40,
    "2024-02-30T25:61",
    "9999-12-31T23:59",
    "0000-00-00T00:00",
    "a@b",
    "x@" + "a" * 300 + ".com",
    '"<>"@example.org',
    "user@[127.0.0.1]",
    "ユーザー@例え.jp",
    "//evil.example/",
    "https://evil.example/",
    "/\\evil.example",
    "../../etc/passwd",
    "あ" * LONG,
    "A" * LONG,
    "<" * LONG,
]

#: Typed into each field of the public sign-up form: every form refuses them (point 6);
#: a NUL stored would be a 500 on PostgreSQL.
CONTROL_VALUES = ["a\x00b", "a\x01b\x7f", "\ufffe"]

#: Values for URL variables (already percent-encoded where needed): ids beyond 64 bits,
#: negative and non-numeric ids, traversal, NUL, invalid UTF-8, overlong slugs.
HOSTILE_INT_SEGMENTS = [str(2**64 + 1), "-1", "abc"]  # on every id of every route
#: Two of these per id, in turn, so that each is tried on many routes.
MORE_INT_SEGMENTS = [
    str(10**30),
    str(2**31),
    "0",
    "%EF%BC%91",  # full-width 1
    "%C2%B2",  # superscript 2, a digit to str.isdigit() but not to int()
    "..%2F..%2Fetc%2Fpasswd",
    "1%00",
]
#: Werkzeug's int converter reads any Unicode decimal digit (int("１") == 1), so these
#: name the same record as the ASCII id; they must still get a clean answer.
SAME_AS_ASCII_ID = {"%EF%BC%91"}
HOSTILE_TEXT_SEGMENTS = [
    "..%2F..%2Fetc%2Fpasswd",
    "../../etc/passwd",
    "....//....//etc/passwd",
    "%00",
    "a%00b",
    "%2500",
    "%FF%FE",
    "%C0%AF",  # overlong "/"
    "%ED%A0%80",  # a surrogate in UTF-8
    "x" * 5000,
    "%E3%81%82" * 2000,
    "%27%20OR%20%271%27%3D%271",
    "%3Cscript%3Ealert(31337)%3C%2Fscript%3E",
    "%0D%0ASet-Cookie:%20x=1",
    str(2**64 + 1),
    "%20",
    "%C2%B2-AAAAAAAAAA",
    "1-%C2%B2",
]

QUERY_NAMES = [
    "page",
    "q",
    "category",
    "lang",
    "show",
    "sort",
    "status",
    "member_type",
    "encoding",
    "event",
    "step",
    "next",
]
QUERY_VALUES = [
    "-1",
    "0",
    str(10**30),
    str(2**64 + 1),
    "1.5",
    "abc",
    "",
    "unknown",
    "en",
    "fr",
    "cancel",
    "cp932",
    "//evil.example",
    "https://evil.example/",
    "/\\evil.example",
    "javascript:alert(31337)",
]
#: Query strings sent exactly as written: invalid percent-encoding, repeats, oddities.
RAW_QUERIES = [
    "page=-1",
    f"page={10**30}",
    "page=1&page=2&page=-1",
    "sort=unknown&sort=name",
    "q=%FF%FE%FD",
    "q=%C0%AF%ED%A0%80",
    "q=%",
    "q=%zz%2",
    "q=%00",
    "lang=en&lang=ja&lang=fr",
    "&&&==&=",
    "q" * 5000 + "=1",
    "q=" + "%E3%81%82" * 3000,
    "status=cancelled&status=confirmed&member_type=x",
    "encoding=utf-16",
    "event=" + str(2**64 + 1),
    "next=%2F%2Fevil.example",
    "show=all&show=drafts&show=../../",
]

#: Header sets; ``{session}`` becomes the prepared session cookie (so a duplicate Cookie
#: header carries the real session next to a forged one).
HEADER_CASES: list[list[tuple[str, str]]] = [
    [("Accept-Language", "ja;q=abc, *;q=2")],
    [("Accept-Language", "en;q=NaN, ja;q=-1, *;q=1e999")],
    [("Accept-Language", ",,,;;;q=,=")],
    [("Accept-Language", "x" * 10_000)],
    [("Accept-Language", "zh-Hant-TW-u-ca-japanese, \x01ja")],
    [("Accept-Language", "en"), ("Accept-Language", "ja;q=0.1")],
    [("Cookie", "session={session}"), ("Cookie", "session=forged")],
    [("Cookie", "session=forged; session={session}")],
    [("Cookie", "session={session}; lang=fr; lang=en")],
    [("Cookie", "session={session}; lang=" + "x" * 5000)],
    [("Cookie", "session={session}; remember_token=1|" + "a" * 128)],
    [("Cookie", 'session={session}; "; = ; ;;=;')],
    [("Cookie", "session=" + "A" * 8000)],
    [("Host", EVIL_HOST), ("Cookie", "session={session}")],
    [
        ("X-Forwarded-Host", EVIL_HOST),
        ("X-Forwarded-Proto", "gopher"),
        ("X-Forwarded-For", "1.2.3.4, ::1, garbage"),
        ("Cookie", "session={session}"),
    ],
    [("If-None-Match", "*"), ("Cookie", "session={session}")],
    [("If-None-Match", '"' + "x" * 5000 + '", W/"", ,,')],
    [("If-Modified-Since", "garbage")],
    [("If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT")],
    [("If-Modified-Since", "Mon, 01 Jan 0001 00:00:00 GMT"), ("If-None-Match", "garbage")],
    [("Range", "bytes=99999999999999999999-")],
    [("Range", "bytes=-0,5-1,abc")],
    [("Content-Type", "application/json"), ("Cookie", "session={session}")],
    [("X-Huge", "a" * LONG)],
    [("Referer", "javascript:alert(31337)"), ("Origin", "null")],
    [("User-Agent", "<script>alert(31337)</script>\x01")],
    [("Accept", "application/json;q=abc, */*;q=2")],
    [("Accept-Encoding", "gzip;q=abc, br;q=-1")],
    [("Authorization", "Basic !!!"), ("Cookie", "session={session}")],
    [("X-CSRFToken", "forged"), ("Cookie", "session={session}")],
]


def _codepoint(value: int) -> str:
    # Lone surrogates cannot be encoded into a request; the raw cases send them as bytes.
    return chr(value) if not 0xD800 <= value <= 0xDFFF else "\ufffd"


#: Any Unicode code point, with control characters, the last planes and odd spaces
#: drawn more often than their share.
CHARACTERS = st.one_of(
    st.integers(0x00, 0x1F),
    st.integers(0x20, 0x7F),
    st.integers(0x80, 0x9F),
    st.integers(0xA0, 0xFFFF),
    st.integers(0x10000, 0x10FFFF),
    st.sampled_from([0x3000, 0x200B, 0x202E, 0xFEFF, 0xFFFE, 0xFFFF, 0xFFFD]),
).map(_codepoint)
RANDOM_TEXT = st.lists(CHARACTERS, max_size=60).map("".join)
HOSTILE_TEXT = st.one_of(
    st.sampled_from(PAYLOADS),
    RANDOM_TEXT,
    st.tuples(st.sampled_from(PAYLOADS), RANDOM_TEXT).map("".join),
    st.integers(-(2**70), 2**70).map(str),
)


# The seeded world -------------------------------------------------------------------------


@dataclass
class World:
    organizer: Organizer
    admin: Organizer
    values: dict[str, str]
    category_slug: str
    accounts: dict[int, tuple[str, bool]]


def seed_world() -> World:
    """Events in every state, registrations in every state, the two accounts, a failed
    organizer message (so the retry form is shown) and an audit entry."""
    from cluster_events.registration import messages

    category = make_category(slug="seminar")
    make_category(slug="unused")
    venue = make_venue()
    make_venue(name="使わない会場")
    open_event = make_event(slug="open-event", category=category, venue=venue, capacity=2)
    past = make_event(
        slug="past-event",
        category=category,
        starts_at=utcnow() - timedelta(days=30),
        online_url="https://meet.example.org/past",
    )
    make_event(slug="draft-event", category=category, status="draft")
    make_event(slug="cancelled-event", category=category, status="cancelled")
    make_event(slug="members-event", category=category, is_members_only=True)
    confirmed = make_registration(open_event, name="山田太郎", name_kana="やまだたろう")
    make_registration(open_event)
    make_registration(open_event, status=RegistrationStatus.waiting)
    make_registration(open_event, status=RegistrationStatus.cancelled)
    make_registration(past)
    # The personal link works only if the stored hash is the hash of the real token.
    confirmed.token_hash = tokens.hash_token(tokens.personal_token(confirmed))
    organizer = make_organizer(email="organizer@example.org")
    admin = make_organizer(email="admin@example.org", role="admin")
    member = Member(number="C-1", kind="corporate", name="青木工業", name_kana="あおきこうぎょう")
    people = [
        MemberPerson(
            member=member, name=name, name_kana="たんとう", email=email, email_normalized=email
        )
        for name, email in (("青木", "aoki@example.org"), ("鈴木", "suzuki@example.org"))
    ]
    db.session.add_all([member, *people])
    db.session.commit()
    sent = messages.send_message(
        open_event.id, messages.Audience.confirmed, "ご案内", "本文です。", batch_key="seed"
    )
    sent[0].status, sent[0].last_error = OutboxStatus.failed, "550 no such user"
    db.session.commit()
    values = {
        "event_id": str(open_event.id),
        "registration_id": str(confirmed.id),
        "organizer_id": str(organizer.id),
        "category_id": str(category.id),
        "venue_id": str(venue.id),
        "member_id": str(member.id),
        "person_id": str(people[0].id),
        "slug": open_event.slug,
        "token": tokens.personal_token(confirmed),
        "code": tokens.checkin_code(confirmed),
        "filename": "css/site.css",
    }
    accounts = {o.id: (o.role, o.is_enabled) for o in (organizer, admin)}
    return World(organizer, admin, values, category.slug, accounts)


# Reading pages ----------------------------------------------------------------------------


@dataclass
class Form:
    role: str
    page: str
    action: str
    fields: list[tuple[str, str]]
    checkboxes: list[tuple[str, str]] = field(default_factory=list)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(html.parser.HTMLParser):
    """The POST forms of a page, with the values a browser would send."""

    def __init__(self, role: str, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.role, self.page = role, page
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._select_value: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            action = (a.get("action") or self.page).split("#", 1)[0]  # browsers send no fragment
            self._form = Form(self.role, self.page, action, [])
        form = self._form
        if form is None or not a.get("name"):
            return
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "checkbox":
                form.checkboxes.append((name, a.get("value") or "y"))
            elif kind == "radio":
                if "checked" in a or name not in dict(form.fields):
                    form.fields = [f for f in form.fields if f[0] != name]
                    form.fields.append((name, a.get("value", "")))
            elif kind in ("submit", "button", "image"):
                form.buttons.append((name, a.get("value", "")))
            else:
                form.fields.append((name, a.get("value", "")))
        elif tag == "button":
            form.buttons.append((name, a.get("value", "")))
        elif tag == "select":
            self._select, self._select_value = name, None
        elif tag == "option" and self._select is not None:
            if self._select_value is None or "selected" in a:
                self._select_value = a.get("value", "")
        elif tag == "textarea":
            self._textarea, self._text = name, []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._form is None:
            return
        if tag == "select" and self._select is not None:
            self._form.fields.append((self._select, self._select_value or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self._form.fields.append((self._textarea, "".join(self._text)))
            self._textarea = None
        elif tag == "form":
            self.forms.append(self._form)
            self._form = None


#: Plausible values for fields a page leaves empty, so that a mutated form gets past
#: "required" and its other checks are exercised too.
_PLAUSIBLE = {
    "email": "battery@example.org",
    "name": "試験太郎",
    "name_kana": "しけんたろう",
    "phone": "046-847-6355",
    "password": ORGANIZER_PASSWORD + " new",
    "password_again": ORGANIZER_PASSWORD + " new",
    "current_password": ORGANIZER_PASSWORD,
    "subject": "ご案内",
    "body": "本文です。",
    "reason": "講師の体調不良のため",
    "slug": "battery-event",
    "title": "試験のセミナー",
    "starts_at": "2030-05-01T14:00",
    "ends_at": "2030-05-01T16:00",
    "name_ja": "試験",
    "name_en": "Test",
    "q": "山田",
}


_addresses = itertools.count(1)


def _plausible(form: Form, world: World) -> list[tuple[str, str]]:
    filled = []
    for name, value in form.fields:
        key = name.split("-", 1)[-1]  # "reset-password" -> "password"
        if not value and key in _PLAUSIBLE:
            value = _PLAUSIBLE[key]
        if key == "email" and value == _PLAUSIBLE["email"]:
            value = f"battery{next(_addresses)}@example.org"  # a new registrant each time
        if form.action == "/login" and key == "email":
            value = world.organizer.email
        if form.action == "/login" and key == "password":
            value = ORGANIZER_PASSWORD
        filled.append((name, value))
    return filled


# Sending and checking ---------------------------------------------------------------------


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    outside_layout: int = 0
    stored_after_refusal: int = 0
    refused: int = 0
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)


#: Figures per database, printed at the end of the run.
TALLIES: dict[str, Tally] = {}
SELF_TEST = "self-test"


@dataclass
class Outcome:
    status: int
    refused: bool


class WriteWatcher:
    """Counts transactions of the app's engine that wrote and were committed: a request
    during which none was committed stored nothing (and needs no new snapshot)."""

    WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "TRUNCATE")

    def __init__(self) -> None:
        self.writing: set[int] = set()
        self.committed = 0
        event.listen(db.engine, "before_cursor_execute", self._executed)
        event.listen(db.engine, "commit", self._committed)
        event.listen(db.engine, "rollback", self._rolled_back)

    def _executed(self, connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(self.WRITES):
            self.writing.add(id(connection))

    def _committed(self, connection: Any) -> None:
        if id(connection) in self.writing:
            self.writing.discard(id(connection))
            self.committed += 1

    def _rolled_back(self, connection: Any) -> None:
        self.writing.discard(id(connection))


class Battery:
    """Sends one request at a time as a given role, and checks the answer and the
    database."""

    def __init__(self, app: Flask, world: World, login: Callable[..., Any], backend: str) -> None:
        self.app, self.world, self.login = app, world, login
        self.tally = TALLIES.setdefault(backend, Tally())
        self.problems: list[str] = []
        self.serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        with app.test_request_context():
            session["csrf_token"] = CSRF_SECRET
            self.csrf_token = generate_csrf()
        g.pop("csrf_token", None)
        self.watcher = WriteWatcher()
        self.cookies: dict[tuple[str, int], str] = {}
        self.account_ids = {"admin": world.admin.id, "organizer": world.organizer.id}
        self.before = self.snapshot()

    # The database ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        with db.engine.connect() as connection:
            return {
                table.name: [
                    tuple(row)
                    for row in connection.execute(
                        select(table).order_by(*table.primary_key.columns)
                    )
                ]
                for table in Base.metadata.sorted_tables
            }

    def _after_writes(self) -> None:
        """Something was stored. A submission the app accepted may have demoted or
        disabled the battery's own accounts, or ended their sessions (that is allowed):
        put the accounts back and make new sessions, so later requests keep their role."""
        for organizer_id, (role, enabled) in self.world.accounts.items():
            organizer = db.session.get(Organizer, organizer_id)
            organizer.role, organizer.is_enabled = role, enabled
        db.session.commit()
        db.session.remove()
        self.cookies.clear()
        self.before = self.snapshot()

    # Requests -------------------------------------------------------------------------

    def session_cookie(self, role: str) -> str:
        """A session of ``role`` holding the battery's CSRF secret, made with the
        suite's ``login`` fixture. A logout or a password change in the battery ends
        the account's sessions; the next request gets one of the new generation."""
        account = (
            db.session.get(Organizer, self.account_ids[role]) if role in self.account_ids else None
        )
        key = (role, account.session_generation if account else 0)
        if key not in self.cookies:
            client = self.app.test_client()
            with client.session_transaction() as prepared:
                prepared.clear()
                prepared["csrf_token"] = CSRF_SECRET
            if account is not None:
                self.login(account, client)
            cookie = client.get_cookie("session")
            self.cookies[key] = cookie.value if cookie else ""
        db.session.remove()
        return self.cookies[key]

    def send(
        self,
        family: str,
        role: str,
        method: str,
        url: str,
        *,
        data: Any = None,
        headers: Iterable[tuple[str, str]] = (),
        content_type: str | None = None,
        csrf: str = "none",
        environ: dict[str, Any] | None = None,
        count: bool = True,
        note: str = "",
    ) -> Outcome:
        """``csrf``: "none", "field" (a valid token in the form), "header" (in
        X-CSRFToken) or "forged". ``note`` says what is odd, in reports."""
        cookie = self.session_cookie(role)
        headers = [(k, v.replace("{session}", cookie)) for k, v in headers]
        if not any(k.lower() == "cookie" for k, _ in headers):
            headers.append(("Cookie", f"session={cookie}"))
        if csrf == "header":
            headers.append(("X-CSRFToken", self.csrf_token))
        if isinstance(data, list):
            data = MultiDict(data)
        if isinstance(data, MultiDict) and csrf in ("field", "forged"):
            data.setlist("csrf_token", [self.csrf_token if csrf == "field" else "forged"])
        if isinstance(data, MultiDict) and content_type == "multipart/form-data":
            # Encoded here, in memory: the test client spools a big body to a temporary
            # file that it never closes.
            boundary, data = encode_multipart(data)
            content_type = f"multipart/form-data; boundary={boundary}"
        if count:
            self.tally.requests[family] += 1
        label = f"[{family}] {role} {method} {_short(url)}" + (f" ({note})" if note else "")
        client = self.app.test_client(use_cookies=False)
        committed = self.watcher.committed
        try:
            response = client.open(
                url,
                method=method,
                data=data,
                headers=headers,
                content_type=content_type,
                environ_overrides=environ,
            )
        except Exception as error:  # a view's exception: in production, a 500
            outcome = Outcome(500, True)
            self.tally.server_errors += 1
            where = "".join(traceback.format_exception(error)[-3:])
            self.problems.append(f"{label}: exception {type(error).__name__}: {where}")
        else:
            outcome = self._check(label, method, url, response)
            response.close()
        finally:
            db.session.remove()
        if outcome.refused:
            self.tally.refused += 1
        if count:
            self.tally.statuses[family, outcome.status] += 1
        if self.watcher.committed != committed:
            after = self.snapshot()
            changed = [name for name in after if after[name] != self.before[name]]
            # A failed login is counted (auth/throttle.py): that row is what it must store.
            counted_login = urlsplit(url).path == "/login" and changed == ["login_throttle"]
            if outcome.refused and changed and not counted_login:
                self.tally.stored_after_refusal += 1
                self.problems.append(f"{label}: refused ({outcome.status}) but stored {changed}")
            self._after_writes()
        return outcome

    def _check(self, label: str, method: str, url: str, response: Any) -> Outcome:
        status = response.status_code
        body = response.get_data()
        mimetype = response.mimetype
        problems = []
        if status >= 500:
            self.tally.server_errors += 1
            problems.append("5xx")
        text = body.decode("utf-8", "replace") if mimetype == "text/html" else ""
        refused = status >= 400
        if method == "HEAD" or (method == "OPTIONS" and status == 200):
            if body:
                problems.append("body in answer to HEAD/OPTIONS")
            if status >= 400 and mimetype != "text/html":
                problems.append(f"error answered as {mimetype}")
        elif 300 <= status < 400 and status != 304:
            location = response.headers.get("Location", "")
            target = urlsplit(location)
            if not location:
                problems.append("redirect without Location")
            if (target.netloc and target.hostname != "localhost") or location.startswith(
                ("//", "/\\")
            ):
                problems.append(f"redirect off the site: {location[:80]}")
            refused = refused or self._flashed_error(response)
        elif status == 304:
            if body:
                problems.append("304 with a body")
        elif mimetype == "text/html":
            if not all(marker in text for marker in LAYOUT_MARKERS):
                self.tally.outside_layout += 1
                problems.append("HTML outside the layout")
            language = re.search(r'<html lang="(ja|en)">', text)
            wanted = next((v for k, v in parse_qsl(urlsplit(url).query) if k == "lang"), None)
            if not language:
                problems.append("page without the site's language")
            elif wanted in ("ja", "en") and language[1] != wanted:
                problems.append(f"page in {language[1]!r} though ?lang={wanted} was asked")
            for marker in SCRIPT_MARKERS:
                if marker in text:
                    at = text.index(marker)
                    problems.append(
                        f"a script payload echoed unescaped: {text[max(at - 120, 0) : at + 60]!r}"
                    )
            refused = refused or any(marker in text for marker in REFUSAL_MARKERS)
        elif status >= 400:
            self.tally.outside_layout += 1
            problems.append(f"error answered as {mimetype}, not a page in the layout")
        elif mimetype in NON_HTML_TYPES:
            if not body.startswith(NON_HTML_TYPES[mimetype]):
                problems.append(f"{mimetype} answer that is not one")
        elif not (url.startswith("/static/") and status in (200, 206)):
            problems.append(f"unexpected {status} {mimetype}")
        for problem in problems:
            self.problems.append(f"{label}: {status} {problem}")
        return Outcome(status, refused)

    def _flashed_error(self, response: Any) -> bool:
        for header in response.headers.getlist("Set-Cookie"):
            if header.startswith("session="):
                value = header.split(";", 1)[0][len("session=") :]
                try:
                    stored = self.serializer.loads(value)
                except Exception:
                    return False
                return any(category == "error" for category, _ in stored.get("_flashes", []))
        return False

    def expect(self, label: str, ok: bool) -> None:
        if not ok:
            self.problems.append(label)

    def assert_clean(self) -> None:
        assert not self.problems, f"{len(self.problems)} problems:\n" + "\n".join(
            self.problems[:60]
        )


def _short(url: str) -> str:
    return url if len(url) <= 160 else f"{url[:150]}…({len(url)} chars)"


# Routes -----------------------------------------------------------------------------------

_VARIABLE = re.compile(r"<(?:(?P<converter>[a-zA-Z_]+)(?:\([^>]*\))?:)?(?P<name>[a-zA-Z_]+)>")


def routes(app: Flask) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint))


def variables(rule: Rule) -> list[tuple[str, str]]:
    """(name, converter) of each URL variable."""
    return [(m["name"], m["converter"] or "default") for m in _VARIABLE.finditer(rule.rule)]


def real_value(world: World, rule: Rule, name: str, converter: str) -> str:
    if name == "slug" and ("categor" in rule.endpoint or rule.rule.startswith("/calendar/")):
        return world.category_slug
    if name in world.values:
        return world.values[name]
    # A route with a variable the battery does not know yet still gets a plausible value.
    return world.values["event_id"] if converter == "int" else world.values["slug"]


def build_url(world: World, rule: Rule, overrides: dict[str, str] | None = None) -> str:
    overrides = overrides or {}

    def fill(match: re.Match[str]) -> str:
        name, converter = match["name"], match["converter"] or "default"
        return overrides.get(name) or real_value(world, rule, name, converter)

    return _VARIABLE.sub(fill, rule.rule)


def page_methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def role_for(rule: Rule) -> str:
    return "admin" if rule.rule.startswith("/admin") else "anonymous"


# Fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # CSRF on, as in production: requests without a token are refused first, and
    # requests with a valid one reach the forms' own validation.
    return {**app_config, "WTF_CSRF_ENABLED": True}


@pytest.fixture
def battery(app: Flask, login: Callable[..., Any], database_url: str) -> Iterator[Battery]:
    world = seed_world()
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    battery = Battery(app, world, login, backend)
    # The token is good: logging out with it works, without it is refused.
    check: dict[str, Any] = {"count": False, "data": []}
    assert (
        battery.send("check", "organizer", "POST", "/logout", csrf="field", **check).status == 302
    )
    assert battery.send("check", "organizer", "POST", "/logout", **check).status == 400
    # The watcher sees what is stored: a duplicated event.
    committed = battery.watcher.committed
    duplicate = f"/admin/events/{world.values['event_id']}/duplicate"
    assert battery.send("check", "admin", "POST", duplicate, csrf="header", **check).status == 302
    assert battery.watcher.committed > committed
    yield battery


@pytest.fixture(scope="module", autouse=True)
def _no_hypothesis_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis caches what it reads of the source in .hypothesis/ even without an
    example database; keep that out of the working tree."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture(scope="module", autouse=True)
def _print_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not TALLIES:
        return
    with capture.global_and_fixture_disabled():
        _write_figures(reporter)


def _write_figures(reporter: Any) -> None:
    reporter.write_line("")
    for backend, tally in TALLIES.items():
        if backend == SELF_TEST:
            continue
        sent = sum(tally.requests.values())
        families = ", ".join(f"{name} {count}" for name, count in sorted(tally.requests.items()))
        reporter.write_line(
            f"hostile battery [{backend}]: {sent} hostile requests ({families}); "
            f"5xx seen: {tally.server_errors}; outside the layout: {tally.outside_layout}; "
            f"refused: {tally.refused}, of which changed the database: "
            f"{tally.stored_after_refusal}"
        )
        statuses = Counter()
        for (_family, status), count in tally.statuses.items():
            statuses[status] += count
        reporter.write_line(
            f"  answers [{backend}]: "
            + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        )


def hypothesis_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


# The battery ------------------------------------------------------------------------------


def test_every_route_every_role_and_method(app: Flask, battery: Battery) -> None:
    """Each route as each role: its own methods with no body (with and without a CSRF
    token), HEAD, OPTIONS and a wrong method, which must be a 405 page in the layout."""
    for index, rule in enumerate(routes(app)):
        url = build_url(battery.world, rule)
        methods = page_methods(rule)
        for role in ROLES:
            for method in methods:
                if method == "GET":
                    battery.send("every-route", role, "GET", url)
                else:
                    refused = battery.send("every-route", role, method, url, data=[])
                    battery.expect(
                        f"{role} {method} {url} without a CSRF token: {refused.status}",
                        refused.status in (400, 401),
                    )
                    battery.send("every-route", role, method, url, data=[], csrf="field")
            wrong = WRONG_METHODS[index % len(WRONG_METHODS)]
            outcome = battery.send("every-route", role, wrong, url, data=[], csrf="field")
            battery.expect(f"{role} {wrong} {url}: {outcome.status}", outcome.status == 405)
        if "GET" in methods:
            battery.send("every-route", role_for(rule), "HEAD", url)
        else:
            outcome = battery.send("every-route", role_for(rule), "GET", url)
            battery.expect(f"GET {url}: {outcome.status}", outcome.status == 405)
        battery.send("every-route", role_for(rule), "OPTIONS", url)
    battery.assert_clean()
    assert battery.tally.requests["every-route"] >= 3 * len(routes(app))


def test_hostile_url_values_on_every_route(app: Flask, battery: Battery) -> None:
    """Every URL variable of every route gets ids beyond 64 bits, negative and
    non-numeric ids, traversal, NUL, invalid UTF-8 and overlong slugs: a 400 or 404 page
    in the layout, as the role that could otherwise use the page."""
    turn = itertools.cycle(MORE_INT_SEGMENTS)
    for rule in routes(app):
        method = "GET" if "GET" in page_methods(rule) else page_methods(rule)[0]
        for name, converter in variables(rule):
            if converter == "int":
                values = [*HOSTILE_INT_SEGMENTS, next(turn), next(turn)]
            else:
                values = HOSTILE_TEXT_SEGMENTS
            for position, value in enumerate(values):
                url = build_url(battery.world, rule, {name: value})
                if position % 2:
                    url += "?lang=en"  # the 404 page must still be in English
                outcome = battery.send(
                    "url-values", role_for(rule), method, url, data=[], csrf="field"
                )
                battery.expect(
                    f"{method} {_short(url)}: {outcome.status}, not 400/404",
                    outcome.status in (400, 404) or value in SAME_AS_ASCII_ID,
                )
    battery.assert_clean()
    assert battery.tally.requests["url-values"] >= 100


def test_generated_form_submissions(app: Flask, battery: Battery) -> None:
    """Every POST form of the site (read from its pages, as each role sees them),
    submitted with some fields replaced by hostile values, fields repeated, dropped or
    added, as the form's role or another, with a valid, forged or missing CSRF token,
    urlencoded or multipart."""
    forms = crawl_forms(app, battery)
    assert len({form.action for form in forms}) >= 15
    sign_up = next(form for form in forms if form.action.endswith("/register"))
    for name, _ in sign_up.fields:
        for value in CONTROL_VALUES:
            fields = [(n, value if n == name else v) for n, v in _plausible(sign_up, battery.world)]
            fields += sign_up.checkboxes
            battery.send("forms", "anonymous", "POST", sign_up.action, data=fields, csrf="field")

    @hypothesis_settings(200)
    @given(st.data())
    def submit(data: st.DataObject) -> None:
        form = data.draw(st.sampled_from(forms), label="form")
        fields = _plausible(form, battery.world)
        if form.checkboxes:
            fields += data.draw(st.lists(st.sampled_from(form.checkboxes), unique=True))
        if form.buttons and data.draw(st.booleans()):
            fields.append(data.draw(st.sampled_from(form.buttons)))
        fields = [(n, v) for n, v in fields if n != "csrf_token"]
        for _ in range(data.draw(st.integers(1, 3), label="mutations")):
            mutation = data.draw(st.sampled_from(["replace", "replace", "repeat", "drop", "add"]))
            if mutation == "add" or not fields:
                fields.append((data.draw(HOSTILE_TEXT) or "x", data.draw(HOSTILE_TEXT)))
                continue
            index = data.draw(st.integers(0, len(fields) - 1))
            name = fields[index][0]
            if mutation == "replace":
                fields[index] = (name, data.draw(HOSTILE_TEXT))
            elif mutation == "repeat":
                fields.append((name, data.draw(HOSTILE_TEXT)))
            else:
                del fields[index]
        role = data.draw(st.sampled_from([form.role, form.role, form.role, *ROLES]))
        csrf = data.draw(st.sampled_from(["field", "field", "field", "header", "none", "forged"]))
        content_type = data.draw(st.sampled_from([None, None, "multipart/form-data"]))
        headers = data.draw(st.sampled_from([[], [], [], *HEADER_CASES]))
        battery.send(
            "forms",
            role,
            "POST",
            form.action,
            data=fields,
            csrf=csrf,
            content_type=content_type,
            headers=headers,
        )

    submit()
    # What was stored must not break a page: every page again.
    for rule in routes(app):
        if "GET" in page_methods(rule):
            battery.send("forms", role_for(rule), "GET", build_url(battery.world, rule))
    battery.assert_clean()
    assert battery.tally.requests["forms"] >= 200


def test_generated_queries_and_headers(app: Flask, battery: Battery) -> None:
    """Every GET route with repeated, unknown and out-of-range query parameters, query
    strings with invalid percent-encoding, and odd, huge or duplicated headers
    (Accept-Language, Cookie, Host, X-Forwarded-*, conditional and Range headers)."""
    get_routes = [rule for rule in routes(app) if "GET" in page_methods(rule)]

    @hypothesis_settings(150)
    @given(st.data())
    def request_page(data: st.DataObject) -> None:
        rule = data.draw(st.sampled_from(get_routes), label="route")
        url = build_url(battery.world, rule)
        if data.draw(st.booleans()):
            query = data.draw(st.sampled_from(RAW_QUERIES))
        else:
            pairs = data.draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(QUERY_NAMES),
                        st.one_of(st.sampled_from(QUERY_VALUES), HOSTILE_TEXT),
                    ),
                    min_size=1,
                    max_size=4,
                )
            )
            query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in pairs)
        headers = data.draw(st.lists(st.sampled_from(HEADER_CASES), max_size=2))
        role = data.draw(st.sampled_from([*ROLES, role_for(rule)]))
        battery.send(
            "queries-headers",
            role,
            "GET",
            f"{url}?{query}",
            headers=[header for case in headers for header in case],
        )

    request_page()
    battery.assert_clean()
    assert battery.tally.requests["queries-headers"] >= 150


def _multipart(boundary: str, parts: list[tuple[str, str]], *, close: bool = True) -> bytes:
    out = io.BytesIO()
    for name, value in parts:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() + b"\r\n")
    if close:
        out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue()


def _body_cases(fields: list[tuple[str, str]]) -> list[tuple[str, str | None, bytes, dict]]:
    """(name, content type, raw body, environ overrides) of malformed bodies."""
    good = _multipart("B0UNDARY", fields)
    return [
        ("boundary mismatch", "multipart/form-data; boundary=OTHER", good, {}),
        (
            "truncated multipart",
            "multipart/form-data; boundary=B0UNDARY",
            good[: len(good) // 2],
            {},
        ),
        (
            "unclosed multipart",
            "multipart/form-data; boundary=B0UNDARY",
            _multipart("B0UNDARY", fields, close=False),
            {},
        ),
        ("no boundary", "multipart/form-data", good, {}),
        (
            "overlong boundary",
            "multipart/form-data; boundary=" + "b" * 300,
            _multipart("b" * 300, fields),
            {},
        ),
        ("empty multipart", "multipart/form-data; boundary=B0UNDARY", b"", {}),
        ("only the close", "multipart/form-data; boundary=B0UNDARY", b"--B0UNDARY--\r\n", {}),
        (
            "part without a name",
            "multipart/form-data; boundary=B0UNDARY",
            b"--B0UNDARY\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B0UNDARY--\r\n",
            {},
        ),
        (
            "a file where text belongs",
            "multipart/form-data; boundary=B0UNDARY",
            b'--B0UNDARY\r\nContent-Disposition: form-data; name="name"; filename="../../x.exe"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\nMZ\x00\x01\r\n--B0UNDARY--\r\n",
            {},
        ),
        (
            "a huge part header",
            "multipart/form-data; boundary=B0UNDARY",
            b'--B0UNDARY\r\nContent-Disposition: form-data; name="'
            + b"n" * 20_000
            + b'"\r\n\r\nx\r\n--B0UNDARY--\r\n',
            {},
        ),
        (
            "Shift_JIS part",
            "multipart/form-data; boundary=B0UNDARY",
            b'--B0UNDARY\r\nContent-Disposition: form-data; name="name"\r\n'
            b"Content-Type: text/plain; charset=shift_jis\r\n\r\n"
            + "山田".encode("shift_jis")
            + b"\r\n--B0UNDARY--\r\n",
            {},
        ),
        (
            "LF-only multipart",
            "multipart/form-data; boundary=B0UNDARY",
            good.replace(b"\r\n", b"\n"),
            {},
        ),
        (
            "invalid percent-encoding",
            "application/x-www-form-urlencoded",
            b"name=%FF%FE&email=%zz&q=%",
            {},
        ),
        (
            "surrogate bytes",
            "application/x-www-form-urlencoded",
            b"name=%ED%A0%80&name_kana=%C0%AF",
            {},
        ),
        (
            "Shift_JIS form",
            "application/x-www-form-urlencoded; charset=shift_jis",
            "name=山田".encode("shift_jis"),
            {},
        ),
        ("JSON body", "application/json", b'{"name": "x", "email": ["a", {"b": null}]}', {}),
        ("broken JSON", "application/json", b'{"name": ', {}),
        ("text/plain body", "text/plain", b"name=x&email=y", {}),
        (
            "XML body",
            "application/xml",
            b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
            {},
        ),
        ("too many fields", "application/x-www-form-urlencoded", b"&".join([b"a=1"] * 5000), {}),
        (
            "Content-Length beyond the body",
            "application/x-www-form-urlencoded",
            b"name=x",
            {"CONTENT_LENGTH": "999999"},
        ),
        (
            "garbage gzip",
            "application/x-www-form-urlencoded",
            b"\x1f\x8b\x08garbage",
            {"HTTP_CONTENT_ENCODING": "gzip"},
        ),
        ("no Content-Type", None, b"name=x&email=y", {}),
    ]


def test_malformed_bodies(app: Flask, battery: Battery) -> None:
    """Every POST route gets broken bodies (bad or missing boundary, truncated
    multipart, invalid encodings, a body that is not a form), with the CSRF token in
    the X-CSRFToken header (so the app's own reading of the body is reached) and
    without it."""
    post_routes = [rule for rule in routes(app) if "POST" in page_methods(rule)]
    fields = [("name", "試験太郎"), ("email", "battery@example.org"), ("title", "<b>x</b>")]
    cases = _body_cases(fields)
    # Four cases per route, in turn, then every case on the login form.
    plan = [
        (build_url(battery.world, rule), role_for(rule), cases[(index * 4 + k) % len(cases)], k)
        for index, rule in enumerate(post_routes)
        for k in range(4)
    ]
    plan += [("/login", "anonymous", case, 0) for case in cases]
    for url, role, (name, content_type, body, environ), k in plan:
        battery.send(
            "bodies",
            role,
            "POST",
            url,
            data=body,
            content_type=content_type,
            csrf="header" if k % 2 == 0 else "none",
            environ=environ,
            note=name,
        )
    battery.assert_clean()
    assert battery.tally.requests["bodies"] >= len(cases)


def crawl_forms(app: Flask, battery: Battery) -> list[Form]:
    """The POST forms on every GET page, as each role sees it (not counted as hostile)."""
    forms: dict[tuple[str, str, tuple[str, ...]], Form] = {}
    for rule in routes(app):
        if "GET" not in page_methods(rule) or rule.endpoint == "static":
            continue
        url = build_url(battery.world, rule)
        for role in ("organizer", "admin") if role_for(rule) == "admin" else ("anonymous",):
            client = app.test_client(use_cookies=False)
            cookie = battery.session_cookie(role)
            response = client.get(url, headers={"Cookie": f"session={cookie}"})
            response.close()
            db.session.remove()
            if response.mimetype != "text/html":
                continue
            parser = _FormParser(role, url)
            parser.feed(response.get_data(as_text=True))
            for form in parser.forms:
                key = (role, form.action, tuple(sorted(name for name, _ in form.fields)))
                forms.setdefault(key, form)
    battery.before = battery.snapshot()
    return list(forms.values())


def test_the_battery_catches_what_it_looks_for(app: Flask, login: Callable[..., Any]) -> None:
    """The checks can fail: planted views that break each rule are each reported."""
    from flask import redirect, render_template_string

    from cluster_events.audit import record_change
    from cluster_events.transactions import write_transaction

    @app.post("/planted/stores-and-refuses")
    def stores_and_refuses() -> Any:
        with write_transaction():
            record_change("planted", "event", 1)
        return render_template_string('{% extends "base.html" %}'), 400

    @app.get("/planted/bare")
    def bare() -> str:
        return "<p>no layout</p>"

    @app.get("/planted/boom")
    def boom() -> str:
        raise RuntimeError("planted")

    @app.get("/planted/echo")
    def echo() -> str:
        return render_template_string(
            '{% extends "base.html" %}{% block content %}<script>alert(31337)</script>'
            "{% endblock %}"
        )

    @app.get("/planted/away")
    def away() -> Any:
        return redirect(f"https://{EVIL_HOST}/")

    battery = Battery(app, seed_world(), login, SELF_TEST)
    battery.send("planted", "admin", "POST", "/planted/stores-and-refuses", data=[], csrf="field")
    for name in ("bare", "boom", "echo", "away"):
        battery.send("planted", "anonymous", "GET", f"/planted/{name}")
    found = "\n".join(battery.problems)
    assert "stores-and-refuses: refused (400) but stored ['audit_log_entry']" in found
    assert "/planted/bare: 200 HTML outside the layout" in found
    assert "/planted/bare: 200 page without the site's language" in found
    assert "/planted/boom: exception RuntimeError" in found
    assert "/planted/echo: 200 a script payload echoed unescaped" in found
    assert "/planted/away: 302 redirect off the site" in found
    assert len(battery.problems) == 6
