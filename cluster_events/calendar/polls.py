"""Polls of the public feeds answered before Flask: one read of one row, then the 304 or
the feed's bytes from memory, with the status and headers Flask gave the same answer.

Calendar programs poll ``/calendar.ics`` and the category feeds every few minutes or
hours, nearly always for nothing new. Through Flask such a poll paid for the session,
the language choice, the rate limiter's bookkeeping and a dozen hooks, several times
the cost of the poll itself. This WSGI middleware, inside ProxyFix, answers them first.

Why it never gives another answer than Flask would:

- It only repeats answers Flask made. The feed view offers (``offer``) what it worked
  out: the feed, the language, its version (the calendar version's token and the
  earliest event) and its validators. When Flask's answer is a 200 or 304 whose
  headers are only the calendar's, the validators and the security headers (no
  cookie, no Vary), its status and headers are kept for that feed and language; the
  bytes stay in ``calendar.cache`` under the ETag.
- Every poll for which something is kept reads the token from the database
  (``content_version.TOKEN_SQL``): an answer kept for another token is never used, in
  any worker or on any host. Nor is one whose earliest event has left the feed's
  window since (time passes without any write).
- The 304-or-200 choice is ``conditional.answers_not_modified``, as in Flask.
- Everything else goes to Flask untouched: another path, method or query string than
  ``?lang=<a language>``, a host not in ``TRUSTED_HOSTS``, ``SERVER_NAME`` set, a rate
  limit that applies to the feeds, nothing kept (then nothing is read here either),
  any error (the database away: Flask then shows its 503 page). When the poll finds
  its version kept but not the answer it needs (a 304 where only the 200 was kept,
  bytes no longer in memory), Flask answers with that version instead of reading it
  again. So a poll costs one query, and the first one after a change two.

The token is read on a connection kept by each process and thread, in autocommit,
rather than through the request's session: a connection taken from the pool for each
poll costs a liveness ping, a BEGIN and a ROLLBACK around the read, several times the
read itself (on PostgreSQL three round trips instead of one). A failed read drops
that connection (SQLAlchemy's disconnect handling applies as everywhere); the next
poll takes another. ``CALENDAR_POLLS_BEFORE_FLASK = False`` sends every poll to Flask.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, request
from sqlalchemy import Connection, Engine
from sqlalchemy import event as sa_event
from werkzeug.exceptions import SecurityError
from werkzeug.wsgi import get_host

from cluster_events.calendar.cache import calendar_cache
from cluster_events.calendar.conditional import answers_not_modified, http_last_modified
from cluster_events.calendar.content_version import TOKEN_SQL
from cluster_events.calendar.queries import FeedIdentity, FeedVersion, feed_window_start
from cluster_events.security_headers import HEADER_NAMES as SECURITY_HEADER_NAMES

log = logging.getLogger(__name__)

WSGIEnvironment = dict[str, Any]
StartResponse = Callable[..., Any]
Sent = tuple[str, list[tuple[str, str]]]

#: The feeds' endpoints, for the check that no rate limit applies to them.
FEED_ENDPOINTS = ("calendar.feed", "calendar.category_feed")
#: Answers kept per process, one per language and feed (each names its bytes in
#: calendar.cache by ETag).
MAX_ANSWERS = 64
#: What a category's slug looks like in the feed's path (a path with anything else
#: goes to Flask, which also refuses control characters).
_SLUG = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PREFIX, _SUFFIX = "/calendar/", ".ics"
_KEPT_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-disposition",
        "etag",
        "last-modified",
        "cache-control",
        *(name.lower() for name in SECURITY_HEADER_NAMES),
    }
)
_OFFER_KEY = "cluster_events.calendar.poll_offer"
_KNOWN_KEY = "cluster_events.calendar.poll_known"


@dataclass(frozen=True)
class Offer:
    """A feed's answer as the view worked it out: enough to answer the same poll again."""

    locale: str
    feed: FeedIdentity
    version: FeedVersion
    etag: str
    last_modified: datetime | None

    @property
    def key(self) -> tuple[str, str]:
        return self.locale, self.feed.slug


@dataclass
class _Answers:
    offer: Offer
    #: Status line and headers by status code (200, 304), as Flask sent them.
    sent: dict[int, Sent] = field(default_factory=dict)


def offer(locale: str, feed: FeedIdentity, version: FeedVersion, etag: str) -> None:
    """Called by the feed view: its answer may be repeated to the next poll of the same
    feed in the same language while the token stays (if Flask's headers allow it)."""
    request.environ[_OFFER_KEY] = Offer(
        locale, feed, version, etag, http_last_modified(version.last_modified)
    )


def known_offer(locale: str, slug: str) -> Offer | None:
    """What the view worked out for this feed, language and token before, when the poll
    came through here and found it kept (the view then needs no version query)."""
    known = request.environ.get(_KNOWN_KEY)
    if isinstance(known, Offer) and known.key == (locale, slug):
        return known
    return None


class FeedPolls:
    """The WSGI middleware (installed by ``create_app``)."""

    def __init__(self, app: Flask, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self._answers: OrderedDict[tuple[str, str], _Answers] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._engine: Engine | None = None
        self._generation = 0
        self._limited: bool | None = None
        weakref.finalize(self, _close_all, self._opened)

    # --- the request -------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse):
        key = self._poll_key(environ)
        if key is None:
            return self.wsgi_app(environ, start_response)
        answers = self._current_answers(key)
        if answers is None:
            return self._through_flask(environ, start_response)
        answer = self._answer(environ, answers)
        if answer is None:
            environ[_KNOWN_KEY] = answers.offer
            return self._through_flask(environ, start_response)
        status, headers, body = answer
        start_response(status, list(headers))
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def _poll_key(self, environ: WSGIEnvironment) -> tuple[str, str] | None:
        """(language, category slug) of a plain poll of a public feed, else None."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return None
        path = environ.get("PATH_INFO", "")
        if path == "/calendar.ics":
            slug = ""
        elif path.startswith(_PREFIX) and path.endswith(_SUFFIX):
            slug = path[len(_PREFIX) : -len(_SUFFIX)]
            if not _SLUG.fullmatch(slug):
                return None
        else:
            return None
        config = self.app.config
        query = environ.get("QUERY_STRING", "")
        if not query:
            locale = config["BABEL_DEFAULT_LOCALE"]
        elif query.startswith("lang=") and query[5:] in config["LANGUAGES"]:
            locale = query[5:]
        else:
            return None
        if not config.get("CALENDAR_POLLS_BEFORE_FLASK", True) or config.get("SERVER_NAME"):
            return None
        if trusted_hosts := config.get("TRUSTED_HOSTS"):
            try:
                get_host(environ, trusted_hosts)
            except SecurityError:
                return None
        if self._rate_limited():
            return None
        return locale, slug

    def _current_answers(self, key: tuple[str, str]) -> _Answers | None:
        """The answers kept for this feed and language, if they are for the data as it is
        now. Nothing kept: Flask answers without this poll reading anything here."""
        with self._lock:
            answers = self._answers.get(key)
            if answers is not None:
                self._answers.move_to_end(key)
        if answers is None:
            return None
        version = answers.offer.version
        if self._read_token() != version.token:
            return None
        if not version.holds_from(feed_window_start()):
            return None
        return answers

    def _answer(
        self, environ: WSGIEnvironment, answers: _Answers
    ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        kept = answers.offer
        not_modified = answers_not_modified(
            environ["REQUEST_METHOD"],
            environ.get("HTTP_IF_NONE_MATCH"),
            environ.get("HTTP_IF_MODIFIED_SINCE"),
            kept.etag,
            kept.last_modified,
        )
        sent = answers.sent.get(304 if not_modified else 200)
        if sent is None:
            return None
        if not_modified:
            return sent[0], sent[1], b""
        body = calendar_cache(self.app).peek(kept.etag)
        if body is None:
            return None
        return sent[0], sent[1], body

    def _through_flask(self, environ: WSGIEnvironment, start_response: StartResponse):
        def keeping(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            offered = environ.get(_OFFER_KEY)
            if isinstance(offered, Offer) and exc_info is None:
                self._keep(offered, status, headers)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, keeping)

    def _keep(self, offered: Offer, status: str, headers: list[tuple[str, str]]) -> None:
        code = int(status.split(" ", 1)[0])
        if code not in (200, 304):
            return
        if any(name.lower() not in _KEPT_HEADERS for name, _ in headers):
            return  # a cookie, a Vary or anything else that may differ per request
        with self._lock:
            answers = self._answers.get(offered.key)
            if answers is None or answers.offer != offered:
                answers = self._answers[offered.key] = _Answers(offered)
            answers.sent[code] = (status, list(headers))
            self._answers.move_to_end(offered.key)
            while len(self._answers) > MAX_ANSWERS:
                self._answers.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()

    # --- the database ------------------------------------------------------------

    def _read_token(self) -> str | None:
        """The calendar version's token ("" without its row), or None when it cannot be
        read (Flask answers then)."""
        try:
            token = self._connection().exec_driver_sql(TOKEN_SQL).scalar()
        except Exception as error:
            log.warning("calendar version not read, Flask answers the poll: %s", error)
            self._drop_connection()
            return None
        return "" if token is None else str(token)

    def _connection(self) -> Connection:
        local = self._local
        if getattr(local, "opened", None) != (os.getpid(), self._generation):
            # A forked worker, or an engine disposed since: open a connection of its own.
            local.opened, local.connection = (os.getpid(), self._generation), None
        if local.connection is None:
            connection = self._database_engine().connect()
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.detach()  # ours alone: closing it closes it, never back to the pool
            local.connection = connection
            self._opened.append(connection)
        return local.connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            if connection in self._opened:
                self._opened.remove(connection)
            _close_all([connection])

    def _database_engine(self) -> Engine:
        if self._engine is None:
            from cluster_events.extensions import db

            with self.app.app_context():
                engine = db.engine
            sa_event.listen(engine, "engine_disposed", self._engine_disposed)
            self._engine = engine
        return self._engine

    def _engine_disposed(self, engine: Engine) -> None:
        """``engine.dispose()`` (after a fork, at the end of a test) closes every
        connection, these too."""
        self._generation += 1
        opened, self._opened[:] = list(self._opened), []
        _close_all(opened)

    def _rate_limited(self) -> bool:
        """Whether a rate limit applies to a feed: then every poll goes through Flask,
        which counts it. Limits are set up with the app; decided once."""
        if self._limited is None:
            from cluster_events.extensions import limiter

            self._limited = any(
                limiter.limits_apply_to(self.app, endpoint, "calendar")
                for endpoint in FEED_ENDPOINTS
            )
        return self._limited


def _close_all(connections: list[Any]) -> None:
    for connection in list(connections):
        with contextlib.suppress(Exception):  # a broken connection may fail to close
            connection.close()


def feed_polls(app: Flask) -> FeedPolls | None:
    """The app's middleware, if installed."""
    return app.extensions.get("calendar_polls")


def install(app: Flask) -> None:
    """Put the middleware in front of Flask (before ProxyFix wraps both)."""
    polls = FeedPolls(app, app.wsgi_app)
    app.extensions["calendar_polls"] = polls
    app.wsgi_app = polls  # type: ignore[method-assign]
