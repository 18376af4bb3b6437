"""The signed-cookie session, less two costs that every request paid.

- Flask builds the session's signing serializer anew for each request that opens the
  session and again to save it. It depends on the secret keys alone, so it is built
  once per set of keys.
- Flask-Login reads the session after every request, to see whether ``login_user`` or
  ``logout_user`` asked for the remember cookie to be set or cleared. Reading it marks
  the session accessed, so every response (feeds and static files included) carried
  ``Vary: Cookie``. Only a request that used the session can have asked, so the check
  is skipped when nothing else touched it; a response that did read the session (every
  page that shows who is signed in, every form) still varies on Cookie.
- A response to a request that never touched the session is not given the session
  cookie again (Flask re-sends a permanent session's cookie with every response), so
  a public feed is the same answer, without Set-Cookie, for a signed-in member too.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import LoginManager
from itsdangerous import URLSafeTimedSerializer

_ENVIRON_KEY = "cluster_events.session"


class SiteSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._serializer: tuple[tuple[Any, ...], URLSafeTimedSerializer] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = self._serializer
        if cached is None or cached[0] != keys:
            serializer = super().get_signing_serializer(app)
            assert serializer is not None
            cached = self._serializer = (keys, serializer)
        return cached[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        session = super().open_session(app, request)
        # Kept where session_was_used() can look without marking it accessed.
        request.environ[_ENVIRON_KEY] = session
        return session

    def save_session(self, app: Flask, session: SecureCookieSession, response: Response) -> None:
        # A request that never touched the session (a feed, a static file) neither
        # refreshes a permanent session's cookie nor varies on it: its answer is the
        # same for everyone, and shared caches may keep it.
        if not (session.accessed or session.modified):
            return
        super().save_session(app, session, response)


def session_was_used() -> bool:
    """Whether anything in this request read or wrote the session (True when unknown)."""
    session = request.environ.get(_ENVIRON_KEY)
    return session is None or bool(session.accessed)


class SiteLoginManager(LoginManager):
    def _update_remember_cookie(self, response: Response) -> Response:
        if session_was_used() or current_app.config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST"):
            return super()._update_remember_cookie(response)
        return response


def init_app(app: Flask) -> None:
    app.session_interface = SiteSessionInterface()
