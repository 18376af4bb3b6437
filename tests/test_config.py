"""Configuration: defaults, the environment (FLASK_* and DATABASE_URL), overrides,
and the refusal to run in production with the default secret key."""

from __future__ import annotations

import pytest

from cluster_events import create_app
from cluster_events.config import DEFAULT_SECRET_KEY, normalise_database_url

SECRET = "a-long-random-secret-for-tests-0123456789"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (
        "DATABASE_URL",
        "FLASK_SECRET_KEY",
        "FLASK_SQLALCHEMY_DATABASE_URI",
        "FLASK_DEBUG",
    ):
        monkeypatch.delenv(name, raising=False)


def test_refuses_the_default_secret_key_in_production():
    with pytest.raises(RuntimeError, match="default secret key") as refused:
        create_app()
    assert "FLASK_SECRET_KEY" in str(refused.value)  # says how to set one


@pytest.mark.parametrize("secret", ["", DEFAULT_SECRET_KEY])
def test_refuses_empty_or_default_secret_given_explicitly(secret):
    with pytest.raises(RuntimeError):
        create_app({"SECRET_KEY": secret})


@pytest.mark.parametrize("overrides", [{"TESTING": True}, {"DEBUG": True}])
def test_default_secret_is_tolerated_in_testing_and_debug(overrides):
    app = create_app(overrides)
    assert app.config["SECRET_KEY"] == DEFAULT_SECRET_KEY


def test_secret_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("FLASK_SECRET_KEY", SECRET)
    monkeypatch.setenv("FLASK_SITE_URL", "https://events.example.org")
    app = create_app()
    assert app.config["SECRET_KEY"] == SECRET
    assert app.config["SITE_URL"] == "https://events.example.org"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_default_database_is_sqlite_in_the_instance_folder(_instance_path):
    app = create_app({"SECRET_KEY": SECRET})
    expected = _instance_path / "cluster_events.sqlite3"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{expected}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://events@db.internal/events",
            "postgresql+psycopg://events@db.internal/events",
        ),
        ("postgres://events:pw@db/events", "postgresql+psycopg://events:pw@db/events"),
        ("sqlite:////var/lib/events.sqlite3", "sqlite:////var/lib/events.sqlite3"),
    ],
)
def test_database_url_is_honoured(monkeypatch, url, expected):
    monkeypatch.setenv("DATABASE_URL", url)
    app = create_app({"SECRET_KEY": SECRET})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == expected


def test_database_url_is_really_used(monkeypatch, database_url):
    """The app connects to the database DATABASE_URL names (SQLite file or PostgreSQL)."""
    from sqlalchemy import inspect

    from cluster_events.extensions import db

    monkeypatch.setenv("DATABASE_URL", database_url)
    app = create_app({"SECRET_KEY": SECRET})
    with app.app_context():
        assert db.engine.url.render_as_string(hide_password=False) == normalise_database_url(
            database_url
        )
        assert "event" in inspect(db.engine).get_table_names()
        db.engine.dispose()


def test_flask_prefixed_variables_are_honoured(monkeypatch):
    monkeypatch.setenv("FLASK_SECRET_KEY", SECRET)
    monkeypatch.setenv("FLASK_SITE_NAME", "横須賀商工勉強会")
    monkeypatch.setenv("FLASK_MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("FLASK_MAIL_PORT", "587")  # parsed as JSON: an int
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", "postgresql://a@b/c")
    app = create_app()
    assert app.config["SITE_NAME"] == "横須賀商工勉強会"
    assert app.config["MAIL_SERVER"] == "smtp.example.org"
    assert app.config["MAIL_PORT"] == 587
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://a@b/c"


def test_flask_variable_wins_over_database_url(monkeypatch):
    monkeypatch.setenv("FLASK_SECRET_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgresql://from@database-url/x")
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", "postgresql://from@flask-prefix/y")
    assert create_app().config["SQLALCHEMY_DATABASE_URI"].endswith("@flask-prefix/y")


def test_explicit_overrides_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("FLASK_SITE_NAME", "from the environment")
    app = create_app({"SECRET_KEY": SECRET, "SITE_NAME": "from the code"})
    assert app.config["SITE_NAME"] == "from the code"


def test_instance_config_file_is_read(_instance_path):
    config_file = _instance_path / "config.py"
    config_file.write_text(f"SECRET_KEY = {SECRET!r}\nSITE_CONTACT_EMAIL = 'desk@example.jp'\n")
    try:
        app = create_app()
        assert app.config["SECRET_KEY"] == SECRET
        assert app.config["SITE_CONTACT_EMAIL"] == "desk@example.jp"
    finally:
        config_file.unlink()


def test_wsgi_module_exposes_the_app(monkeypatch):
    import importlib
    import sys

    monkeypatch.setenv("FLASK_SECRET_KEY", SECRET)
    sys.modules.pop("wsgi", None)
    wsgi = importlib.import_module("wsgi")
    try:
        assert wsgi.app.name == "cluster_events"
    finally:
        sys.modules.pop("wsgi", None)
