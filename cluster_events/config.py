"""Configuration defaults.

Every value can be overridden from the environment with the ``FLASK_`` prefix
(``FLASK_SECRET_KEY``, ``FLASK_MAIL_SERVER``, ...), from ``instance/config.py``,
or by the ``config_overrides`` given to :func:`cluster_events.create_app`.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

DEFAULT_SECRET_KEY = "dev-only-not-secret"


class DefaultConfig:
    SECRET_KEY = DEFAULT_SECRET_KEY

    # Filled in by create_app() with instance/cluster_events.sqlite3 unless overridden.
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {"pool_pre_ping": True}

    # Who runs the site. Templates read these; nothing about one association is hard-coded.
    SITE_NAME = "NPO法人 産業クラスター研究会"
    SITE_NAME_EN = "Industrial Cluster Study Group (NPO)"
    SITE_TAGLINE = "横須賀・三浦・横浜の中小企業を応援するセミナーと交流会"
    SITE_TAGLINE_EN = "Seminars and meetings for small businesses in Yokosuka, Miura and Yokohama"
    SITE_CONTACT_EMAIL = "office@example.org"
    SITE_CONTACT_PHONE = "046-847-6355"
    SITE_CONTACT_ADDRESS = "〒239-0847 神奈川県横須賀市光の丘8番3号 YRPベンチャー棟209号"
    SITE_FOOTER_TEXT = "NPO法人 産業クラスター研究会 事務局"
    SITE_FOOTER_TEXT_EN = "Office of the Industrial Cluster Study Group"
    #: Absolute base URL used where no request is at hand (mail worker, reminders, feeds).
    SITE_URL = "http://127.0.0.1:5000"
    #: How long personal data of registrations is kept after an event, in days.
    PERSONAL_DATA_RETENTION_DAYS = 365

    #: Right-hand side of every calendar UID; fixed once events exist.
    CALENDAR_UID_DOMAIN = "cluster-events.example.org"

    BABEL_DEFAULT_LOCALE = "ja"
    BABEL_DEFAULT_TIMEZONE = "Asia/Tokyo"
    LANGUAGES = ("ja", "en")

    EVENTS_PER_PAGE = 20

    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 25
    MAIL_DEFAULT_SENDER = "office@example.org"
    MAIL_TIMEOUT = 10
    #: "inline" delivers after the response is sent; "worker" leaves it to `flask mail-worker`.
    MAIL_DELIVERY = "inline"
    MAIL_MAX_ATTEMPTS = 8

    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    REGISTRATION_RATE_LIMIT = "10 per minute;60 per hour"

    REMINDER_HOURS_BEFORE = 24

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 8 * 3600
    WTF_CSRF_TIME_LIMIT = 8 * 3600


def database_url_from_environment() -> str | None:
    """Read ``DATABASE_URL`` and point PostgreSQL URLs at the psycopg 3 driver."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return None
    return normalise_database_url(url)


def normalise_database_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
