"""cluster-events: seminars, meetings and their registrations for an association."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from cluster_events.config import (
    DEFAULT_SECRET_KEY,
    DefaultConfig,
    database_url_from_environment,
    local_site_url,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config_overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=os.environ.get(
            "CLUSTER_EVENTS_INSTANCE_PATH", str(PROJECT_ROOT / "instance")
        ),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    _load_config(app, config_overrides or {})
    _refuse_default_secret(app)
    _answer_feed_polls_first(app)
    _trust_proxy_headers(app)
    _init_extensions(app)
    _register_blueprints(app)
    _register_template_helpers(app)
    _register_cli(app)
    return app


def _load_config(app: Flask, overrides: dict[str, Any]) -> None:
    app.config.from_object(DefaultConfig)
    app.config.from_pyfile("config.py", silent=True)
    if url := database_url_from_environment():
        app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config.from_prefixed_env()
    app.config.update(overrides)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        database_file = Path(app.instance_path) / "cluster_events.sqlite3"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{database_file}"
    app.config["SQLALCHEMY_DATABASE_URI"] = _with_driver(app.config["SQLALCHEMY_DATABASE_URI"])
    if not app.config.get("SITE_URL"):
        app.config["SITE_URL"] = local_site_url()
    elif app.config.get("TRUSTED_HOSTS") is None and not (app.debug or app.testing):
        _trust_only_the_site_host(app)
    if app.config.get("SESSION_COOKIE_SECURE") is None:
        app.config["SESSION_COOKIE_SECURE"] = not (
            app.debug or app.testing or _is_loopback_http(app.config.get("SITE_URL", ""))
        )
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]


def _trust_only_the_site_host(app: Flask) -> None:
    """In production (SITE_URL configured, not debug or testing), a request whose Host (or
    trusted X-Forwarded-Host) is not SITE_URL's host gets a 400 page. ``make run`` with no
    SITE_URL accepts any host, and TRUSTED_HOSTS set explicitly wins (``[]``: any host)."""
    from cluster_events.urls import site_host

    app.config["TRUSTED_HOSTS"] = [site_host(app.config["SITE_URL"])]


def _is_loopback_http(url: str) -> bool:
    """A site served over plain HTTP on this machine (`make run`): browsers would
    drop a Secure cookie there, and nobody could log in."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def _with_driver(url: str) -> str:
    from cluster_events.config import normalise_database_url

    return normalise_database_url(url)


def _refuse_default_secret(app: Flask) -> None:
    if app.debug or app.testing:
        return
    if app.config.get("SECRET_KEY") in (None, "", DEFAULT_SECRET_KEY):
        raise RuntimeError(
            "Refusing to start with the default secret key. Set a long random value, e.g.\n"
            "  export FLASK_SECRET_KEY="
            "\"$(python3 -c 'import secrets; print(secrets.token_hex(32))')\"\n"
            "or put SECRET_KEY = '...' in instance/config.py (`make run` writes one for you)."
        )


def _answer_feed_polls_first(app: Flask) -> None:
    """Polls of the public feeds that Flask has answered before are answered again
    before Flask's request machinery, from the database's calendar version
    (calendar/polls.py). Inside ProxyFix, so that it sees the client's host."""
    from cluster_events.calendar import polls

    polls.install(app)


def _trust_proxy_headers(app: Flask) -> None:
    """Behind nginx or a load balancer, take the client address, scheme and host from
    X-Forwarded-* (so rate limits see real addresses and links use https).
    PROXY_COUNT is how many proxies set them; 0 (the default) trusts none."""
    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )


def _init_extensions(app: Flask) -> None:
    from cluster_events import (
        cookie_session,
        errors,
        i18n,
        request_checks,
        security_headers,
        unavailable,
    )
    from cluster_events.auth import users  # noqa: F401  (registers the user loader)
    from cluster_events.database import render_migration_item
    from cluster_events.extensions import babel, csrf, db, limiter, login_manager, mail, migrate

    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(PROJECT_ROOT / "migrations"),
        render_as_batch=True,
        compare_type=True,
        render_item=render_migration_item,
    )
    cookie_session.init_app(app)
    csrf.init_app(app)
    mail.init_app(app)
    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        default_domain=";".join(i18n.TRANSLATION_DOMAINS),
        default_translation_directories=";".join(
            [str(i18n.TRANSLATIONS_DIR)] * len(i18n.TRANSLATION_DOMAINS)
        ),
    )
    limiter.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    request_checks.init_app(app)  # after i18n: a refused address still gets ?lang=
    errors.init_app(app)
    security_headers.init_app(app)
    unavailable.init_app(app)
    from cluster_events import mail as mail_delivery
    from cluster_events.members import sign_in as member_sign_in
    from cluster_events.registration import notifications as registration_notifications

    mail_delivery.init_app(app)
    registration_notifications.init_app(app)
    member_sign_in.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from cluster_events.admin import bp as admin_bp
    from cluster_events.auth.routes import bp as auth_bp
    from cluster_events.calendar.routes import bp as calendar_bp
    from cluster_events.events.routes import bp as events_bp
    from cluster_events.members.routes import bp as members_bp
    from cluster_events.pages import bp as pages_bp
    from cluster_events.registration.routes import bp as registration_bp

    # calendar before events: /events/<slug>.ics must win over /events/<slug>.
    app.register_blueprint(calendar_bp)
    app.register_blueprint(events_bp)
    app.register_blueprint(registration_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(members_bp)
    app.register_blueprint(admin_bp)


def _register_template_helpers(app: Flask) -> None:
    from cluster_events import template_helpers

    template_helpers.init_app(app)


def _register_cli(app: Flask) -> None:
    from cluster_events import cli

    cli.init_app(app)
