"""Language choice: ?lang= switches and is remembered in a cookie; otherwise
Accept-Language; otherwise the site's default (Japanese)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, abort, current_app, g, request
from flask_babel import get_locale

#: One message catalog per area of the product, so that work on one area does not
#: rewrite another's catalog. Each has a mapping file in babel/<domain>.cfg.
TRANSLATION_DOMAINS = ("messages", "registration", "mail", "calendar", "admin", "attendees")
TRANSLATIONS_DIR = Path(__file__).parent / "translations"

LANG_COOKIE = "lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    chosen = getattr(g, "requested_lang", None) or request.cookies.get(LANG_COOKIE)
    if chosen in languages:
        return chosen
    best = request.accept_languages.best_match(languages)
    return best or current_app.config["BABEL_DEFAULT_LOCALE"]


def current_locale() -> str:
    locale = get_locale()
    return locale.language if locale else current_app.config["BABEL_DEFAULT_LOCALE"]


def _read_lang_parameter() -> None:
    requested = request.args.get("lang")
    if requested is None:
        return
    if requested not in current_app.config["LANGUAGES"]:
        abort(400)
    g.requested_lang = requested


def _remember_lang(response: Response) -> Response:
    requested = getattr(g, "requested_lang", None)
    if requested and request.cookies.get(LANG_COOKIE) != requested:
        response.set_cookie(
            LANG_COOKIE,
            requested,
            max_age=LANG_COOKIE_MAX_AGE,
            samesite="Lax",
            httponly=True,
            secure=not (current_app.debug or current_app.testing) and request.scheme == "https",
        )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_read_lang_parameter)
    app.after_request(_remember_lang)
