"""The yardstick: a bare Flask app doing the least the real routes must do, served by
the same gunicorn settings, so the benchmark shows what the real app's rules cost.

- GET /form, POST /form: the registration form's fields validated with Flask-WTF
  (CSRF included), one row inserted, a redirect as the real route answers.
- GET /calendar.ics: the bytes of the real feed, read once into memory, with a
  strong ETag so If-None-Match gets a 304.

Configured from the environment: FLASK_SQLALCHEMY_DATABASE_URI, FLASK_SECRET_KEY,
BENCH_FEED_FILE (optional).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask, Response, redirect, render_template_string, request
from flask_wtf import FlaskForm
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


FORM_PAGE = """<!doctype html><title>form</title>
<form method="post">{{ form.hidden_tag() }}{% for f in form if f.name != 'csrf_token' %}
{{ f.label() }} {{ f() }}{% endfor %}<button>send</button></form>"""


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


def create_baseline_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ["FLASK_SECRET_KEY"]
    engine = make_engine(os.environ["FLASK_SQLALCHEMY_DATABASE_URI"])
    feed_file = os.environ.get("BENCH_FEED_FILE")
    feed = Path(feed_file).read_bytes() if feed_file else b""
    feed_etag = hashlib.sha256(feed).hexdigest()

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
        return render_template_string(FORM_PAGE, form=form), status

    @app.get("/calendar.ics")
    def calendar() -> Response:
        response = Response(feed, mimetype="text/calendar")
        response.set_etag(feed_etag)
        return response.make_conditional(request)

    return app


app = create_baseline_app() if "FLASK_SECRET_KEY" in os.environ else None
