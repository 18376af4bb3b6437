"""Fixtures shared by the whole suite.

Database tests run once on a real SQLite file and once on PostgreSQL when
``TEST_DATABASE_URL`` is set (the run creates its own database and drops it
afterwards). Both schemas are built by the Alembic migrations, not create_all().
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g, has_app_context
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.exc import OperationalError
from werkzeug.test import TestResponse

from cluster_events import create_app
from cluster_events.config import normalise_database_url
from cluster_events.extensions import db
from cluster_events.models import Base

BACKENDS = ("sqlite", "postgresql")
TEST_SECRET_KEY = "test-secret-key-not-for-production"


def base_test_config(database_url: str, instance_path: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SITE_URL": "http://localhost",
        "SERVER_NAME": None,
        "MAIL_DELIVERY": "worker",
        "MAIL_DEFAULT_SENDER": "office@example.org",
        "RATELIMIT_ENABLED": False,
        "WTF_CSRF_ENABLED": False,
        "CALENDAR_UID_DOMAIN": "test.example.org",
        # tests.factories hashes with this cheap cost; the production default is proved
        # in tests/test_login_protection.py.
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
    }


@pytest.fixture(scope="session", autouse=True)
def _instance_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep tests away from the developer's instance/ folder."""
    path = tmp_path_factory.mktemp("instance")
    previous = os.environ.get("CLUSTER_EVENTS_INSTANCE_PATH")
    os.environ["CLUSTER_EVENTS_INSTANCE_PATH"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("CLUSTER_EVENTS_INSTANCE_PATH", None)
    else:
        os.environ["CLUSTER_EVENTS_INSTANCE_PATH"] = previous


def migrate_database(url: str, instance_path: Path) -> None:
    app = create_app(base_test_config(url, instance_path))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, _instance_path: Path) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    migrate_database(f"sqlite:///{path}", _instance_path)
    return path


@pytest.fixture(scope="session")
def postgres_url(_instance_path: Path) -> Iterator[str]:
    raw_url = os.environ.get("TEST_DATABASE_URL")
    if not raw_url:
        pytest.skip("PostgreSQL run skipped: TEST_DATABASE_URL is not set")
    server_url = make_url(normalise_database_url(raw_url))
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except OperationalError as error:
        admin.dispose()
        pytest.skip(f"PostgreSQL run skipped: cannot connect to TEST_DATABASE_URL ({error.orig})")
    name = f"cluster_events_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = server_url.set(database=name).render_as_string(hide_password=False)
    try:
        migrate_database(url, _instance_path)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated, empty database: a copied SQLite file or a truncated PostgreSQL one."""
    if request.param == "sqlite":
        path = tmp_path / "cluster_events.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def app_config(database_url: str, _instance_path: Path) -> dict[str, Any]:
    """Override in a test module (or update in a test) to change the app's settings."""
    return base_test_config(database_url, _instance_path)


class RequestIsolatingClient(FlaskClient):
    """Starts every request with an empty ``g``, as production does.

    The ``app`` fixture keeps one app context open for the whole test (so tests can
    use the database directly), and Flask reuses an open app context for requests;
    without this, per-request state such as Flask-Login's cached user would carry
    over from one request to the next and hide bugs.
    """

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        _forget_request_state()
        try:
            return super().open(*args, **kwargs)
        finally:
            _forget_request_state()


def _forget_request_state() -> None:
    if has_app_context():
        for name in list(vars(g)):
            delattr(g, name)


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(app_config)
    app.test_client_class = RequestIsolatingClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app: Flask):
    """``with count_queries() as counter:`` records every SQL statement sent."""

    @contextmanager
    def counting() -> Iterator[QueryCounter]:
        counter = QueryCounter()

        def record(conn, cursor, statement, parameters, context, executemany):
            if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA", "SAVEPOINT")):
                counter.statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            yield counter
        finally:
            event.remove(db.engine, "before_cursor_execute", record)

    return counting


@pytest.fixture
def login(client):
    """``login(organizer)`` makes ``client`` (or ``login(organizer, other_client)``) act as
    that organizer, without the login form or its rate limit."""

    def log_in(organizer, target=None):
        from cluster_events.auth.users import OrganizerUser

        target = target or client
        with target.session_transaction() as session:
            session["_user_id"] = OrganizerUser(organizer).get_id()
            session["_fresh"] = True
        return target

    return log_in


@pytest.fixture
def logged_in_client(app: Flask, client, login):
    """``logged_in_client(role="organizer")`` returns ``client`` logged in as a new, committed
    organizer (or admin with ``role="admin"``), available as ``client.organizer``."""
    from tests.factories import make_organizer

    def make(role: str = "organizer", **values: Any):
        organizer = make_organizer(role=role, **values)
        db.session.commit()
        login(organizer)
        client.organizer = organizer
        return client

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SMTPRecorder:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

    ``refuse_next(n, reply)`` makes it answer the next ``n`` DATA commands with
    ``reply`` (e.g. "451 4.3.0 Try again later") instead of accepting them.
    """

    def __init__(self) -> None:
        import threading

        self.port = free_port()
        self.envelopes: list[Any] = []
        self.refusals: list[str] = []
        self._lock = threading.Lock()

    def refuse_next(self, count: int, reply: str = "451 4.3.0 Try again later") -> None:
        with self._lock:
            self.refusals.extend([reply] * count)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self.refusals:
                return self.refusals.pop(0)
            self.envelopes.append(envelope)
        return "250 2.0.0 OK"

    def messages(self) -> list[Any]:
        """Received messages, parsed with the standard library's modern policy."""
        from email import message_from_bytes, policy

        with self._lock:
            return [message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]


def sending_to(recorder: SMTPRecorder) -> dict[str, Any]:
    """App settings that deliver mail to ``recorder`` (Flask-Mail suppresses sending
    under TESTING unless told otherwise)."""
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": recorder.port, "MAIL_SUPPRESS_SEND": False}


@pytest.fixture
def smtp_server() -> Iterator[SMTPRecorder]:
    from aiosmtpd.controller import Controller

    recorder = SMTPRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


_FIGURES: list[tuple[str, dict[str, int]]] = []


@pytest.fixture
def report_figures(request: pytest.FixtureRequest):
    """``report_figures(queued=10, arrived=10, ...)``: printed at the end of the run, for
    the issue's closing note (fault scenarios and the like)."""

    def report(**figures: int) -> None:
        _FIGURES.append((request.node.nodeid, figures))

    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("figures")
        for nodeid, figures in _FIGURES:
            values = ", ".join(f"{name} {value}" for name, value in figures.items())
            terminalreporter.write_line(f"{nodeid}: {values}")
