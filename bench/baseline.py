"""The ceilings: a bare Flask app doing the least each public path must do, served by the
same gunicorn settings in the same run, so the benchmark shows what the real app's rules
and machinery cost.

- ``GET /form``, ``POST /form``: the registration form's fields validated with Flask-WTF
  (CSRF included), one row inserted, a redirect as the real route answers.
- ``GET /catalogue``: the real catalogue page, captured once, rendered by Jinja on every
  request as a page of cards: each card a macro call, each text of it autoescaped, no
  database, no translation, no URL building.
- ``GET /event``: the real event page rendered the same way, its registration form's
  inputs rendered by a Flask-WTF form (a new CSRF token, so a session cookie, each time).
- ``GET /feed/<name>``: the bytes of a real feed, read once into memory, with a strong
  ETag so If-None-Match gets a 304.

The captured pages are files in ``BENCH_CEILING_DIR`` (``catalogue.html``, ``event.html``,
``<name>.ics``), read on a worker's first request for them.

Configured from the environment: FLASK_SQLALCHEMY_DATABASE_URI, FLASK_SECRET_KEY,
BENCH_CEILING_DIR (optional).
"""

from __future__ import annotations

import hashlib
import html
import itertools
import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, redirect, request
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
)
from sqlalchemy.engine import Engine
from wtforms import (
    BooleanField,
    EmailField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, Optional

from cluster_events.config import normalise_database_url

metadata = MetaData()
baseline_registration = Table(
    "bench_baseline_registration",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("name_kana", String(100), nullable=False),
    Column("email", String(254), nullable=False),
    Column("organization", String(200), nullable=False),
    Column("job_title", String(100), nullable=False),
    Column("phone", String(30), nullable=False),
    Column("member_type", String(20), nullable=False),
    Column("remarks", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)


class RegistrationForm(FlaskForm):
    name = StringField(validators=[DataRequired(), Length(max=100)])
    name_kana = StringField(validators=[DataRequired(), Length(max=100)])
    email = EmailField(validators=[DataRequired(), Length(max=254), Email()])
    organization = StringField(validators=[Optional(), Length(max=200)])
    title = StringField(validators=[Optional(), Length(max=100)])
    phone = StringField(validators=[Optional(), Length(max=30)])
    member_type = SelectField(
        choices=[SelectChoice(value, value) for value in ("corporate", "individual", "general")]
    )
    remarks = TextAreaField(validators=[Optional(), Length(max=2000)])
    agree_privacy = BooleanField(validators=[DataRequired()])


class EventPageForm(FlaskForm):
    """The inputs of the real event page's form that a plain WTForms field can render
    (its radio buttons stay as they are in the captured page)."""

    name = StringField(validators=[DataRequired(), Length(max=100)])
    name_kana = StringField(validators=[DataRequired(), Length(max=100)])
    email = EmailField(validators=[DataRequired(), Length(max=254), Email()])
    organization = StringField(validators=[Optional(), Length(max=200)])
    title = StringField(validators=[Optional(), Length(max=100)])
    phone = StringField(validators=[Optional(), Length(max=30)])
    remarks = TextAreaField(validators=[Optional(), Length(max=2000)])
    agree_privacy = BooleanField(validators=[DataRequired()])
    website = StringField()


FORM_PAGE = """<!doctype html><title>form</title>
<form method="post">{{ form.hidden_tag() }}{% for f in form if f.name != 'csrf_token' %}
{{ f.label() }} {{ f() }}{% endfor %}<button>send</button></form>"""

#: One piece of a captured page: markup as it was, then a form field to render (with
#: the attributes the real input had) or none, then a text to autoescape.
Piece = tuple[Markup, str, dict[str, Any], str]

CATALOGUE_PAGE = """{% macro part(pieces) %}{% for markup, field, attrs, text in pieces -%}
{{ markup }}{{ text }}{% endfor %}{% endmacro -%}
{{ part(head) }}{% for card in cards %}{{ part(card) }}{% endfor %}"""

EVENT_PAGE = """{% for markup, field, attrs, text in pieces -%}
{{ markup }}{% if field %}{{ form[field](**attrs) }}{% endif %}{{ text }}{% endfor %}"""

CARD_START = '<article class="event-card'
_TOKEN = re.compile(r"<!--.*?-->|<[^>]*>|\x00\w+\x00|[^<\x00]+", re.DOTALL)
_ATTRIBUTE = re.compile(r'([\w:-]+)(="[^"]*")?')
_INPUT = re.compile(r"<input\b[^>]*>|<textarea\b[^>]*>.*?</textarea>", re.DOTALL)
#: Attributes the field sets itself.
_OWN_ATTRIBUTES = {"name", "type", "value", "checked"}


def split_pieces(page: str) -> list[Piece]:
    """``page`` as markup, fields (``\\x00name\\x00``) and unescaped texts, in order."""
    pieces: list[Piece] = []
    markup: list[str] = []
    field = ""
    attrs: dict[str, Any] = {}
    fields: dict[str, dict[str, Any]] = {}
    for match in re.finditer(r"\x00(\w+)\x01([^\x00]*)\x00", page):
        fields[match.group(1)] = _attributes(match.group(2))
    page = re.sub(r"\x00(\w+)\x01[^\x00]*\x00", "\x00\\1\x00", page)

    def flush(text: str) -> None:
        nonlocal markup, field, attrs
        pieces.append((Markup("".join(markup)), field, attrs, text))
        markup, field, attrs = [], "", {}

    for token in _TOKEN.findall(page):
        if token.startswith("\x00"):
            if field:
                flush("")
            field = token.strip("\x00")
            attrs = fields.get(field, {})
        elif token.startswith("<"):
            if field:
                flush("")
            markup.append(token)
        else:
            flush(html.unescape(token))
    if markup or field:
        flush("")
    return pieces


def _attributes(tag: str) -> dict[str, Any]:
    """The attributes of an opening tag, as keyword arguments of a WTForms field."""
    inside = re.sub(r"^<\w+", "", tag).rstrip(">/")
    attributes: dict[str, Any] = {}
    for name, value in _ATTRIBUTE.findall(inside):
        if name.lower() not in _OWN_ATTRIBUTES:
            # WTForms writes aria_describedby as aria-describedby.
            attributes[name.replace("-", "_")] = html.unescape(value[2:-1]) if value else True
    return attributes


def catalogue_template_values(page: str) -> dict[str, Any]:
    """The page before its first card, and each card with what follows it up to the
    next card (a month heading) or the end of the page."""
    starts = [match.start() for match in re.finditer(re.escape(CARD_START), page)]
    if not starts:
        return {"head": split_pieces(page), "cards": []}
    bounds = [*starts, len(page)]
    return {
        "head": split_pieces(page[: starts[0]]),
        "cards": [split_pieces(page[a:b]) for a, b in itertools.pairwise(bounds)],
    }


def event_template_values(page: str, form_fields: set[str]) -> dict[str, Any]:
    """The event page with the inputs of ``form_fields`` (and the CSRF token) marked for
    a WTForms field to render."""

    def mark(match: re.Match[str]) -> str:
        tag = match.group(0)
        name = re.search(r'\bname="([^"]*)"', tag)
        kind = re.search(r'\btype="([^"]*)"', tag)
        if name is None or name.group(1) not in form_fields | {"csrf_token"}:
            return tag
        if kind is not None and kind.group(1) in ("radio", "submit"):
            return tag
        opening = tag.split(">", 1)[0] + ">"
        return f"\x00{name.group(1)}\x01{opening.replace(chr(0), '')}\x00"

    return {"pieces": split_pieces(_INPUT.sub(mark, page))}


def count_cards(page: str) -> int:
    return page.count(CARD_START)


def make_engine(url: str) -> Engine:
    engine = create_engine(normalise_database_url(url), pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
        # The same settings as the real app's SQLite connections.
        if isinstance(dbapi_connection, sqlite3.Connection):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def create_schema(url: str) -> None:
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()


def create_baseline_app(
    database_url: str | None = None, secret_key: str | None = None, pages: Path | None = None
) -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = secret_key or os.environ["FLASK_SECRET_KEY"]
    engine = make_engine(database_url or os.environ["FLASK_SQLALCHEMY_DATABASE_URI"])
    if pages is None and os.environ.get("BENCH_CEILING_DIR"):
        pages = Path(os.environ["BENCH_CEILING_DIR"])
    loaded: dict[str, Any] = {}
    # Compiled once: render_template_string would compile its source on every call.
    form_page, catalogue_page, event_page_template = (
        app.jinja_env.from_string(source) for source in (FORM_PAGE, CATALOGUE_PAGE, EVENT_PAGE)
    )

    def captured(name: str, prepare: Callable[[bytes], Any]) -> Any:
        """A captured file, read and prepared on this worker's first request for it."""
        if name not in loaded:
            path = (pages / name) if pages else None
            if path is None or not path.is_file():
                abort(404)
            loaded[name] = prepare(path.read_bytes())
        return loaded[name]

    @app.route("/form", methods=["GET", "POST"])
    def form() -> Any:
        form = RegistrationForm()
        if form.validate_on_submit():
            with engine.begin() as connection:
                connection.execute(
                    insert(baseline_registration).values(
                        name=form.name.data,
                        name_kana=form.name_kana.data,
                        email=form.email.data,
                        organization=form.organization.data or "",
                        job_title=form.title.data or "",
                        phone=form.phone.data or "",
                        member_type=form.member_type.data,
                        remarks=form.remarks.data or "",
                    )
                )
            return redirect("/thanks", code=303)
        status = 400 if request.method == "POST" else 200
        return form_page.render(form=form), status

    @app.get("/catalogue")
    def catalogue() -> str:
        values = captured("catalogue.html", lambda data: catalogue_template_values(data.decode()))
        return catalogue_page.render(**values)

    @app.get("/event")
    def event_page() -> str:
        form = EventPageForm()
        values = captured(
            "event.html",
            lambda data: event_template_values(data.decode(), {f.name for f in form}),
        )
        return event_page_template.render(form=form, **values)

    @app.get("/feed/<name>")
    def feed(name: str) -> Response:
        body, etag = captured(name, lambda data: (data, hashlib.sha256(data).hexdigest()))
        response = Response(body, mimetype="text/calendar")
        response.set_etag(etag)
        return response.make_conditional(request)

    return app


app = create_baseline_app() if "FLASK_SECRET_KEY" in os.environ else None
