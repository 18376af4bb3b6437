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
    #: Markdown for /about and /privacy; empty shows the templates' generic text.
    #: The _EN variants are shown on English pages (Japanese when empty).
    SITE_ABOUT_MARKDOWN = (
        "2003年、産業界・官公庁・大学を退職した有志が集まり、"
        "横須賀・三浦・横浜の中小企業を応援するために設立したNPO法人です。\n\n"
        "- ISO 9001・14001、エコアクション21の認証取得支援\n"
        "- 特許の取得、技術翻訳、在日米軍への入札参加の支援\n"
        "- 広報力アップ、省エネルギー、小中学校での環境教育\n\n"
        "法人会員・個人会員とともに、セミナー、経営研究・懇談会、交流会などを開いています。"
        "どなたでもお気軽にご参加ください。"
    )
    SITE_ABOUT_MARKDOWN_EN = (
        "A non-profit founded in 2003 by people retired from industry, government and "
        "universities to help small and medium businesses in Yokosuka, Miura and Yokohama.\n\n"
        "- ISO 9001 / 14001 and Eco-Action 21 certification\n"
        "- Patents, technical translation, bids to the US forces in Japan\n"
        "- Public relations skills, energy saving, environmental lessons in schools\n\n"
        "With our corporate and individual members we hold seminars, management study "
        "meetings and exchange meetings. Everyone is welcome."
    )
    SITE_PRIVACY_MARKDOWN = ""
    SITE_PRIVACY_MARKDOWN_EN = ""
    #: The public site's address: every absolute URL (emails, .ics files, feeds, QR codes)
    #: is built from it, never from the request. Unset, it is LOCAL_SITE_URL_ENV's value
    #: (`make run PORT=N` sets it to http://127.0.0.1:N) or http://127.0.0.1:5000.
    SITE_URL = ""
    #: Host names the site answers to; any other Host gets a 400 page. None: SITE_URL's
    #: host when SITE_URL is set (outside debug and tests), else any host. [] allows any.
    TRUSTED_HOSTS: list[str] | None = None
    #: How long personal data of registrations is kept after an event, and that of a
    #: member's contact people after the member withdrew, in days.
    PERSONAL_DATA_RETENTION_DAYS = 365

    #: Right-hand side of every calendar UID; fixed once events exist.
    CALENDAR_UID_DOMAIN = "cluster-events.example.org"
    #: Polls of the public feeds answered before Flask when Flask gave the same answer
    #: for the same calendar version before (calendar/polls.py); False: always Flask.
    CALENDAR_POLLS_BEFORE_FLASK = True

    BABEL_DEFAULT_LOCALE = "ja"
    BABEL_DEFAULT_TIMEZONE = "Asia/Tokyo"
    LANGUAGES = ("ja", "en")

    #: Events per page of the catalogue and the category pages (upcoming events, grouped
    #: by month), and of the archive (past events). Both lists are paged by cursor.
    CATALOGUE_EVENTS_PER_PAGE = 30
    EVENTS_PER_PAGE = 20

    #: The largest request body in bytes (1 MiB; no form of the site comes near it). A
    #: larger one is answered 413 without being read.
    MAX_CONTENT_LENGTH = 1024 * 1024
    #: Multipart bodies: the largest text part, and the most parts (Werkzeug's defaults,
    #: written out so they are seen). Beyond either, 413.
    MAX_FORM_MEMORY_SIZE = 500_000
    MAX_FORM_PARTS = 1000

    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 25
    MAIL_DEFAULT_SENDER = "office@example.org"
    MAIL_TIMEOUT = 10
    #: Flask-Mail's settings, written out so an operator finds them: production uses one.
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    #: STARTTLS (MAIL_USE_TLS) and SSL (MAIL_USE_SSL) check the server's certificate and
    #: host name; False only for a server with a self-signed certificate you trust.
    MAIL_TLS_VERIFY = True
    #: "inline" delivers after the response is sent; "worker" leaves it to `flask mail-worker`.
    MAIL_DELIVERY = "inline"
    #: Tries of one message whose own answer was a temporary failure (4xx) before it is
    #: failed; failures of the server or the session (refused, timeout, 421, 535, TLS)
    #: are never counted. Failed messages go back with `flask mail-retry` or the console.
    MAIL_MAX_ATTEMPTS = 8
    #: Backoff: the first retry after this many seconds, doubling, at most MAX apart.
    MAIL_RETRY_BASE_SECONDS = 60
    MAIL_RETRY_MAX_SECONDS = 6 * 3600
    #: How long a worker's claim on a batch lasts (a killed worker's messages wait this
    #: long). 0: long enough for each message of the batch to time out twice, at least 300.
    MAIL_LEASE_SECONDS = 0

    #: memory:// counts per worker process; production sets a Redis URL shared by all
    #: workers (docs/deployment.md, "Rate limits").
    RATELIMIT_STORAGE_URI = "memory://"
    #: While that Redis is unreachable, count in memory per worker instead of failing.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    REGISTRATION_RATE_LIMIT = "10 per minute;60 per hour"

    REMINDER_HOURS_BEFORE = 24

    #: Number of reverse proxies in front of the app that set X-Forwarded-*; 0 trusts none.
    PROXY_COUNT = 0

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    #: None means Secure, except in debug or testing mode or when SITE_URL is plain
    #: http on this machine (see create_app).
    SESSION_COOKIE_SECURE: bool | None = None
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    #: Failed logins allowed per network address, whatever the account (Flask-Limiter,
    #: in RATELIMIT_STORAGE_URI).
    LOGIN_RATE_LIMIT = "5 per minute;30 per hour"
    #: After this many failures for one address typed from one network address, each
    #: further try waits 2, 4, 8, ... seconds (state in the database, shared by every
    #: worker), up to LOGIN_MAX_DELAY seconds. The account is never locked as a whole.
    LOGIN_FAILURES_BEFORE_DELAY = 5
    LOGIN_MAX_DELAY = 3600
    #: werkzeug's method string for new password hashes: scrypt with N=2**17, r=8, p=1
    #: (OWASP's current advice). A stored hash made otherwise is redone at the next login.
    PASSWORD_HASH_METHOD = "scrypt:131072:8:1"
    PERMANENT_SESSION_LIFETIME = 8 * 3600
    #: Members' sign-in by emailed link (members/sign_in.py): how long a link is valid.
    MEMBER_LOGIN_LINK_MINUTES = 30
    #: Sign-in links per address (counted from the person's recent links, in the
    #: database, so every worker agrees); past it, no email goes out and the page says
    #: the same as always. Written as Flask-Limiter limits are.
    MEMBER_LOGIN_LINKS_PER_ADDRESS = "3 per 15 minutes;10 per day"
    #: Requests for a sign-in link per network address, whatever the address typed
    #: (Flask-Limiter, in RATELIMIT_STORAGE_URI); past it, the 429 page.
    MEMBER_LOGIN_RATE_LIMIT = "5 per minute;30 per hour"
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


#: Set by `make run` to the address it serves, for a SITE_URL that nobody configured.
LOCAL_SITE_URL_ENV = "CLUSTER_EVENTS_LOCAL_SITE_URL"
FALLBACK_SITE_URL = "http://127.0.0.1:5000"


def local_site_url() -> str:
    """The SITE_URL of a development server when none is configured."""
    return os.environ.get(LOCAL_SITE_URL_ENV) or FALLBACK_SITE_URL
