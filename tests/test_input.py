"""Hostile input (issue 9, point 6): control characters in every form, exports of what is
already stored, request size limits, web addresses, and email addresses.

The first test walks the whole app: every form class, present and future, must refuse a
control character in every text field, so a new form cannot forget the check.
"""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.csrf.core import CSRFTokenField

import cluster_events
from cluster_events import create_app
from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.forms import FORBIDDEN_CHARACTERS_MESSAGE, LINE_BREAKS_MESSAGE
from cluster_events.models import Category, Event, Organizer, Registration, Venue
from cluster_events.text import FORBIDDEN_CHARACTERS
from tests.conftest import base_test_config, sending_to
from tests.factories import ORGANIZER_PASSWORD, make_event, make_organizer, make_registration

# --- every form of the app ------------------------------------------------------------------


def app_form_classes() -> list[type[FlaskForm]]:
    """Every FlaskForm subclass defined in cluster_events, after importing every module."""
    for module in pkgutil.walk_packages(cluster_events.__path__, "cluster_events."):
        importlib.import_module(module.name)
    found: list[type[FlaskForm]] = []
    pending = [FlaskForm]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("cluster_events."):
                found.append(sub)
    return sorted(set(found), key=lambda cls: (cls.__module__, cls.__qualname__))


def _build(form_class: type[FlaskForm], formdata: MultiDict) -> FlaskForm:
    """A form from ``formdata``; keyword-only constructor arguments (the event form's
    categories and venues) get empty lists."""
    signature = inspect.signature(form_class.__init__)
    extra = {
        name: []
        for name, parameter in signature.parameters.items()
        if parameter.kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty
    }
    return form_class(formdata=formdata, **extra)


def text_fields(form: FlaskForm) -> list[Any]:
    return [f for f in form if isinstance(f, StringField) and not isinstance(f, CSRFTokenField)]


def refusal_failures(form_class: type[FlaskForm], value: str, message: Any) -> list[str]:
    """Names of the text fields of ``form_class`` that do not refuse ``value`` with
    ``message`` (one field at a time, the others empty)."""
    failures = []
    for name in [f.name for f in text_fields(_build(form_class, MultiDict()))]:
        form = _build(form_class, MultiDict({name: value}))
        if form.validate() or str(message) not in [str(e) for e in form[name].errors]:
            failures.append(f"{form_class.__module__}.{form_class.__qualname__}.{name}")
    return failures


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The app without a database: forms only need a request context."""
    path = tmp_path_factory.mktemp("forms")
    return create_app(base_test_config(f"sqlite:///{path / 'unused.sqlite3'}", Path(path)))


FORM_CLASSES = app_form_classes()


def test_the_walk_finds_every_form():
    names = {cls.__qualname__ for cls in FORM_CLASSES}
    assert {
        "RegistrationForm",
        "LoginForm",
        "PasswordChangeForm",
        "NewAccountForm",
        "EventForm",
        "VenueForm",
        "CategoryForm",
        "ContactForm",
        "AddRegistrationForm",
        "NoteForm",
        "MessageForm",
        "ConfirmForm",
        "AttendeeSearchForm",
    } <= names


def test_the_walk_covers_the_english_texts(bare_app):
    """Issue 13: the English summary, description, fee, cancellation reason and access
    notes are text fields of forms the walk checks."""
    by_name = {cls.__qualname__: cls for cls in FORM_CLASSES}
    with bare_app.test_request_context():
        walked = {
            (name, field.name)
            for name in ("EventForm", "CancelEventForm", "VenueForm")
            for field in text_fields(_build(by_name[name], MultiDict()))
        }
    assert {
        ("EventForm", "summary_en"),
        ("EventForm", "body_en"),
        ("EventForm", "fee_text_en"),
        ("CancelEventForm", "reason_en"),
        ("VenueForm", "access_notes_en"),
    } <= walked


@pytest.mark.parametrize("form_class", FORM_CLASSES, ids=lambda cls: cls.__qualname__)
def test_every_text_field_of_every_form_refuses_a_control_character(bare_app, form_class):
    with bare_app.test_request_context("/", method="POST"):
        assert refusal_failures(form_class, "a\x01b", FORBIDDEN_CHARACTERS_MESSAGE) == []


@pytest.mark.parametrize("form_class", FORM_CLASSES, ids=lambda cls: cls.__qualname__)
def test_one_line_fields_refuse_line_breaks_and_text_areas_keep_them(bare_app, form_class):
    with bare_app.test_request_context("/", method="POST"):
        failures = []
        for field in text_fields(_build(form_class, MultiDict())):
            form = _build(form_class, MultiDict({field.name: "a\r\nb"}))
            form.validate()
            refused = str(LINE_BREAKS_MESSAGE) in [str(e) for e in form[field.name].errors]
            if refused == isinstance(field, TextAreaField | PasswordField):
                failures.append(field.name)
        assert failures == []


def test_the_walk_would_catch_a_form_that_forgets_the_base_class(bare_app):
    class Forgetful(FlaskForm):
        name = StringField("Name")

    with bare_app.test_request_context("/", method="POST"):
        assert refusal_failures(Forgetful, "a\x01b", FORBIDDEN_CHARACTERS_MESSAGE) == [
            f"{__name__}.{Forgetful.__qualname__}.name"
        ]


def test_the_registration_form_with_an_events_questions_refuses_them_too(bare_app):
    """The form made per event (``RegistrationForm.for_questions``) is not in the walk."""
    from cluster_events.models import EventQuestion, QuestionKind
    from cluster_events.registration.forms import MemberRegistrationForm, RegistrationForm

    asked = [
        EventQuestion(id=1, kind=QuestionKind.short_text, label_ja="所属", choices=[]),
        EventQuestion(id=2, kind=QuestionKind.long_text, label_ja="ご要望", choices=[]),
    ]
    with bare_app.test_request_context("/", method="POST"):
        form_class = RegistrationForm.for_questions(asked, "ja")
        assert {"question_1", "question_2"} <= {
            f.name for f in text_fields(form_class(formdata=MultiDict()))
        }
        assert refusal_failures(form_class, "a\x01b", FORBIDDEN_CHARACTERS_MESSAGE) == []
        member_class = MemberRegistrationForm.for_questions(asked, "en")
        assert issubclass(member_class, MemberRegistrationForm)


@pytest.mark.parametrize(
    "value",
    ["\x00", "\x1f", "\x7f", "\x85", "\ufffe", "\uffff", "\ufdd0", "\U0010ffff", "\ud800"],
    ids=repr,
)
def test_each_kind_of_forbidden_character_is_refused(bare_app, value):
    from cluster_events.admin.attendees.forms import NoteForm

    with bare_app.test_request_context("/", method="POST"):
        form = NoteForm(formdata=MultiDict({"organizer_note": f"before{value}after"}))
        assert not form.validate()
        assert form.organizer_note.errors == [FORBIDDEN_CHARACTERS_MESSAGE]
        assert form.organizer_note.data == "beforeafter"  # shown again without it


def test_ordinary_text_passes(bare_app):
    from cluster_events.admin.attendees.forms import NoteForm

    note = "横須賀　太郎様より\n\t電話あり（２名）😀 café \ufffd"
    with bare_app.test_request_context("/", method="POST"):
        assert NoteForm(formdata=MultiDict({"organizer_note": note})).validate()


# --- over HTTP: the refusal is shown at its field, in the reader's language ----------------


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def _tied_error(html: str, field_id: str) -> str:
    """The error paragraph of ``field_id``, after checking the input points to it."""
    tag = re.search(rf'<(?:input|textarea)[^>]*id="{field_id}"[^>]*>', html)
    assert tag, f"no input {field_id}"
    assert re.search(rf'aria-describedby="[^"]*\b{field_id}-error\b', tag.group(0)), tag.group(0)
    assert 'aria-invalid="true"' in tag.group(0)
    error = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', html, re.S)
    assert error, f"no error paragraph for {field_id}"
    return error.group(1)


REGISTRATION = {
    "name": "横須賀 太郎",
    "name_kana": "よこすか たろう",
    "email": "taro@example.jp",
    "member_type": "general",
    "agree_privacy": "y",
}
JA_REFUSAL = "使えない文字"
EN_REFUSAL = "characters that cannot be used"


@pytest.mark.parametrize(
    ("field", "value", "lang", "expected"),
    [
        ("name", "横須賀\x01太郎", "ja", JA_REFUSAL),
        ("name", "横須賀\x00太郎", "ja", JA_REFUSAL),  # PostgreSQL would refuse to store it
        ("name_kana", "よこすか\ufffeたろう", "en", EN_REFUSAL),
        ("organization", "横須賀\n精機", "ja", "1行で"),
        ("remarks", "駐車場\x1bはありますか", "en", EN_REFUSAL),
        ("email", "taro@example.jp\r\nBcc: x@example.org", "ja", "1行で"),
    ],
)
def test_the_public_form_refuses_control_characters_at_the_field(
    client, field, value, lang, expected
):
    event = make_event(capacity=10)
    db.session.commit()
    response = client.post(
        f"/events/{event.slug}/register?lang={lang}", data={**REGISTRATION, field: value}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    assert expected in _tied_error(html, field)
    assert _count(Registration) == 0


NOT_ONE_PLAIN_ADDRESS = [
    '"x" <taro@example.jp>',
    "x <taro@example.jp>",
    "taro@example.jp, x@example.org",
    "taro@example.jp\\nBcc: x@example.org",  # a backslash and an n, not a line break
    "太郎@example.jp",  # no mail server on the way has to speak SMTPUTF8
    "taro",
]


def test_every_email_field_refuses_what_is_not_one_plain_address(app, logged_in_client):
    client = logged_in_client("admin")
    event = make_event(capacity=10)
    registration = make_registration(event, email="before@example.jp")
    db.session.commit()
    attendee = f"/admin/events/{event.id}/attendees"
    for address in NOT_ONE_PLAIN_ADDRESS:
        public = client.post(
            f"/events/{event.slug}/register?lang=ja", data={**REGISTRATION, "email": address}
        )
        assert public.status_code == 400, address
        assert "メールアドレスを正しく" in _tied_error(public.get_data(as_text=True), "email")
        contact = {"name": "山田 太郎", "name_kana": "やまだ たろう", "email": address}
        account = {"email": address, "role": "organizer", "password": "x" * 12}
        for url, data in [
            (f"{attendee}/new", contact),
            (f"{attendee}/{registration.id}/contact", contact),
            ("/admin/accounts/new", account),
        ]:
            response = client.post(url + "?lang=en", data=data)
            assert response.status_code in (200, 400), url  # adding answers 200 with errors
            error = _tied_error(response.get_data(as_text=True), "email")
            assert "Enter a valid email address" in error, (url, address)
    assert _count(Registration) == 1
    assert _count(Organizer) == 1
    db.session.expire_all()
    assert db.session.get(Registration, registration.id).email == "before@example.jp"


def test_login_refuses_a_control_character_at_the_field(client):
    make_organizer(email="office@example.org")
    db.session.commit()
    response = client.post(
        "/login?lang=en",
        data={"email": "office@example.org\x01", "password": ORGANIZER_PASSWORD},
    )
    assert response.status_code == 401
    assert EN_REFUSAL in _tied_error(response.get_data(as_text=True), "email")


def test_console_forms_refuse_control_characters_and_store_nothing(app, logged_in_client):
    client = logged_in_client("admin")
    event = make_event()
    registration = make_registration(event, name="山田 太郎")
    db.session.commit()
    attendee = f"/admin/events/{event.id}/attendees"
    contact = {"name": "山田 太郎", "name_kana": "やまだ たろう", "email": "yamada@example.jp"}
    posts = [
        ("/admin/events/new", {"title": "説明会\x01", "save": "1"}, "title"),
        ("/admin/venues/new", {"name": "会場\x02"}, "name"),
        ("/admin/categories/new", {"name_ja": "分類\x7f", "name_en": "x", "slug": "x"}, "name_ja"),
        (f"{attendee}/new", {**contact, "name": "山田\x03"}, "name"),
        (f"{attendee}/{registration.id}/contact", {**contact, "phone": "046\x0c"}, "phone"),
        (f"{attendee}/{registration.id}/note", {"organizer_note": "メモ\x04"}, "organizer_note"),
        (
            f"/admin/events/{event.id}/messages/preview",
            {"audience": "confirmed", "subject": "件名\r\nBcc: x@example.org", "body": "本文"},
            "subject",
        ),
        (
            "/admin/accounts/new",
            {
                "email": "new@example.org",
                "name": "新\x05",
                "role": "organizer",
                "password": "x" * 12,
            },
            "name",
        ),
        (
            "/admin/password",
            {"current_password": "\x06", "password": "y" * 12, "password_again": "y" * 12},
            "current_password",
        ),
    ]
    before = {model: _count(model) for model in (Event, Venue, Category, Registration, Organizer)}
    for url, data, field in posts:
        response = client.post(url + "?lang=ja", data=data)
        assert response.status_code in (200, 400), url
        html = response.get_data(as_text=True)
        assert JA_REFUSAL in _tied_error(html, field) or "1行で" in _tied_error(html, field), url
    assert {model: _count(model) for model in before} == before
    db.session.expire_all()
    assert db.session.get(Registration, registration.id).organizer_note == ""
    assert db.session.get(Registration, registration.id).phone == ""


def test_console_search_boxes_refuse_control_characters_beside_the_box(app, logged_in_client):
    client = logged_in_client()
    event = make_event()
    make_registration(event, name="山田 太郎")
    db.session.commit()
    for path in ("attendees", "check-in"):
        response = client.get(f"/admin/events/{event.id}/{path}?lang=en&q=%E5%B1%B1%01")
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert EN_REFUSAL in _tied_error(html, "q")
        assert "山田 太郎" in html  # the list is shown, not searched
    export = client.get(f"/admin/events/{event.id}/attendees.xlsx?lang=en&q=%01")
    assert export.status_code == 400
    assert EN_REFUSAL in export.get_data(as_text=True)


def test_the_public_search_refuses_control_characters_with_a_message(client):
    for query in ("%01", "%EF%BF%BE", "a%09b"):
        response = client.get(f"/?lang=en&q={query}")
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert 'class="site-header"' in html
        assert "The search words contain characters that cannot be used" in html


# --- exports of what is already stored ----------------------------------------------------

#: Written straight into the database, as rows stored before the forms refused them.
STORED = {
    "name": "山田\x01太郎",
    "name_kana": "やまだ\x1fたろう",
    "organization": "\x0b=HYPERLINK(1)",  # a formula once the control character is gone
    "remarks": "一行目\n二行目\x7f\ufffe",
    "organizer_note": "メモ\x08\x1b[31m",
}


@pytest.fixture
def stored_event(app):
    event = make_event(title="説明会\x02第1回")
    make_registration(event, email="yamada@example.jp", **STORED)
    db.session.commit()
    return event


def test_the_xlsx_export_drops_control_characters_of_stored_rows(stored_event, logged_in_client):
    from openpyxl import load_workbook

    response = logged_in_client().get(f"/admin/events/{stored_event.id}/attendees.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    header = [cell.value for cell in sheet[1]]
    row = dict(zip(header, (cell.value for cell in sheet[2]), strict=True))
    assert row["氏名"] == "山田太郎"
    assert row["ふりがな"] == "やまだたろう"
    assert row["会社・団体名"] == "'=HYPERLINK(1)"
    assert row["備考"] == "一行目\n二行目"
    assert row["事務局メモ"] == "メモ[31m"
    assert "attachment" in response.headers["Content-Disposition"]


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_the_csv_exports_drop_control_characters_of_stored_rows(
    stored_event, logged_in_client, encoding
):
    response = logged_in_client().get(
        f"/admin/events/{stored_event.id}/attendees.csv?encoding={encoding}"
    )
    assert response.status_code == 200
    text = response.data.decode("utf-8-sig" if encoding == "utf-8" else "cp932")
    assert not FORBIDDEN_CHARACTERS.search(text)
    assert "山田太郎" in text and "'=HYPERLINK(1)" in text


# --- request size -------------------------------------------------------------------------

TWO_MIB = "x" * (2 * 1024 * 1024)


def _assert_too_large(response, lang: str = "ja") -> None:
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    assert 'class="site-header"' in html
    heading = "送信された内容が大きすぎます" if lang == "ja" else "What was sent is too large"
    assert heading in html


@pytest.fixture
def with_csrf(app_config):
    """CSRFProtect reads the form before any view: the limit must answer first."""
    app_config["WTF_CSRF_ENABLED"] = True


def test_a_large_post_is_refused_unread_anonymous_and_logged_in(
    with_csrf, app, client, logged_in_client
):
    event = make_event(capacity=10)
    db.session.commit()
    body = io.BytesIO(b"password=x&email=" + TWO_MIB.encode())
    response = client.post(
        "/login",
        input_stream=body,
        content_type="application/x-www-form-urlencoded",
        headers={"Content-Length": str(len(body.getvalue()))},
    )
    _assert_too_large(response)
    assert body.tell() == 0  # not a byte of it was read
    _assert_too_large(
        client.post(
            f"/events/{event.slug}/register",
            data={"remarks": TWO_MIB},
            headers={"Accept-Language": "en"},
        ),
        "en",
    )
    console = logged_in_client()
    _assert_too_large(console.post("/admin/events/new", data={"title": TWO_MIB}))
    _assert_too_large(console.post("/logout", data={"x": TWO_MIB}))
    assert _count(Event) == 1
    assert _count(Registration) == 0


def test_too_many_multipart_parts_or_a_large_part_answer_413(app, client):
    event = make_event(capacity=10)
    db.session.commit()
    url = f"/events/{event.slug}/register"
    many = [(f"f{n}", "x") for n in range(app.config["MAX_FORM_PARTS"] + 1)]
    _assert_too_large(client.post(url, data=MultiDict(many), content_type="multipart/form-data"))
    large = {**REGISTRATION, "remarks": "x" * (app.config["MAX_FORM_MEMORY_SIZE"] + 1)}
    _assert_too_large(client.post(url, data=large, content_type="multipart/form-data"))
    assert _count(Registration) == 0


def test_the_limit_is_a_setting(app_config):
    assert app_config.get("MAX_CONTENT_LENGTH") is None  # the default applies
    small = create_app({**app_config, "MAX_CONTENT_LENGTH": 1000})
    _assert_too_large(small.test_client().post("/login", data={"email": "x" * 1000}))
    large = create_app({**app_config, "MAX_CONTENT_LENGTH": 4 * 1024 * 1024})
    response = large.test_client().post("/login", data={"email": TWO_MIB, "password": "x"})
    assert response.status_code == 401  # read, and refused as a login
    for app in (small, large):
        with app.app_context():
            db.engine.dispose()


# --- web addresses --------------------------------------------------------------------------

NOT_WEB_ADDRESSES = [
    "javascript:alert(1)",
    "JavaScript://zoom.us/%0Aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://files.example.jp/a",
    "/events/other",
    "zoom.us/j/123",
    "https://",
    "https:///path",
    "https://office@evil.example/",  # shows zoom.us-like text before the real host
    "https:\\\\evil.example",
    "https://zoom.us/j/1 2",
    "https://zoom.us:99999/",
]


def test_services_accept_only_whole_http_and_https_addresses(app):
    from cluster_events.errors import ServiceError
    from cluster_events.events.services import EventData, create_event
    from cluster_events.events.venues_and_categories import save_venue
    from tests.factories import make_category

    category = make_category()
    db.session.commit()
    starts = utcnow() + timedelta(days=5)

    def event_with(url: str) -> EventData:
        return EventData(
            title="説明会", category_id=category.id, starts_at=starts,
            ends_at=starts + timedelta(hours=1), online_url=url,
        )  # fmt: skip

    for url in NOT_WEB_ADDRESSES:
        with pytest.raises(ServiceError) as refused:
            create_event(event_with(url))
        assert set(refused.value.field_errors) == {"online_url"}, url
        with pytest.raises(ServiceError) as refused:
            save_venue(None, {"name": "会場", "map_url": url})
        assert set(refused.value.field_errors) == {"map_url"}, url
    assert _count(Event) == 0 and _count(Venue) == 0
    create_event(event_with("https://zoom.us/j/123?pwd=abc"))
    save_venue(None, {"name": "会場", "map_url": "http://maps.example.jp/?q=横須賀"})
    assert _count(Event) == 1 and _count(Venue) == 1


def test_the_console_forms_refuse_other_schemes_at_the_field(app, logged_in_client):
    from tests.factories import make_category

    client = logged_in_client()
    category = make_category()
    db.session.commit()
    start = (utcnow() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    end = (utcnow() + timedelta(days=5, hours=2)).strftime("%Y-%m-%dT%H:%M")
    event = {"title": "説明会", "category_id": category.id, "starts_at": start, "ends_at": end}
    response = client.post(
        "/admin/events/new?lang=en",
        data={**event, "online_url": "javascript:alert(1)", "save": "1"},
    )
    assert response.status_code == 400
    assert "starting with https://" in _tied_error(response.get_data(as_text=True), "online_url")
    response = client.post(
        "/admin/venues/new?lang=ja", data={"name": "会場", "map_url": "data:text/html,x"}
    )
    assert response.status_code == 400
    assert "https://" in _tied_error(response.get_data(as_text=True), "map_url")
    assert _count(Event) == 0 and _count(Venue) == 0


# --- email addresses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Taro@EXAMPLE.com", "Taro@example.com"),  # the local part is the owner's; kept
        (" taro@example.jp ", "taro@example.jp"),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp"),  # full-width: NFKC first
        ("taro@例え.ＪＰ", "taro@xn--r8jz45g.jp"),  # a Japanese domain, in its ASCII form
        ("taro@XN--R8JZ45G.jp", "taro@xn--r8jz45g.jp"),
    ],
)
def test_addresses_are_stored_normalised(typed, stored):
    from cluster_events.text import normalise_email_address

    assert normalise_email_address(typed) == stored


@pytest.fixture
def mail_to_recorder(app_config, smtp_server):
    app_config.update(sending_to(smtp_server))


def test_the_same_address_written_differently_is_one_registration_and_a_valid_to_header(
    mail_to_recorder, app, client, smtp_server
):
    from cluster_events.mail import outbox

    event = make_event(capacity=10)
    db.session.commit()
    url = f"/events/{event.slug}/register?lang=ja"
    first = client.post(url, data={**REGISTRATION, "email": "Taro@例え.JP"})
    assert first.status_code == 303
    other_browser = app.test_client()
    again = other_browser.post(url, data={**REGISTRATION, "email": "TARO@xn--r8jz45g.jp"})
    assert again.status_code == 200
    [registration] = db.session.scalars(select(Registration)).all()
    assert registration.email == "Taro@xn--r8jz45g.jp"
    assert registration.email_normalized == "taro@xn--r8jz45g.jp"
    # The confirmation, then the personal link sent again to the one registrant.
    assert outbox.deliver_due().sent == 2
    assert [message["To"] for message in smtp_server.messages()] == ["Taro@xn--r8jz45g.jp"] * 2
    assert [envelope.rcpt_tos for envelope in smtp_server.envelopes] == [
        ["Taro@xn--r8jz45g.jp"]
    ] * 2


def test_services_store_addresses_normalised_and_refuse_others(app):
    from cluster_events.auth import services as accounts
    from cluster_events.errors import ServiceError
    from cluster_events.registration.services import RegistrationDetails, register

    event = make_event(capacity=10)
    db.session.commit()
    details = RegistrationDetails(name="山田 太郎", name_kana="やまだ たろう", email="")
    for address in ('"x" <taro@example.jp>', "taro@example.jp\r\nBcc: x@example.org"):
        with pytest.raises(ServiceError) as refused:
            register(event.id, replace(details, email=address))
        assert set(refused.value.field_errors) == {"email"}
        with pytest.raises(ServiceError) as refused:
            accounts.create_organizer(address, "x" * 12)
        assert set(refused.value.field_errors) == {"email"}
    outcome = register(event.id, replace(details, email="Yamada@Example.JP"))
    assert outcome.registration.email == "Yamada@example.jp"

    organizer = accounts.create_organizer("Office@EXAMPLE.org", "x" * 12)
    assert organizer.email == "office@example.org"  # accounts: lower case, as before
    with pytest.raises(ServiceError) as taken:
        accounts.create_organizer("ＯＦＦＩＣＥ＠example.org", "y" * 12)
    assert taken.value.http_status == 409
    assert accounts.authenticate(" OFFICE@example.ORG", "x" * 12) is not None
    assert _count(Registration) == 1 and _count(Organizer) == 1
