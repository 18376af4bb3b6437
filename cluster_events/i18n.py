"""Language choice: ?lang= switches and is remembered in a cookie (not by the views
marked ``@language_from_url``); otherwise Accept-Language; otherwise the site's default
(Japanese)."""

from __future__ import annotations

import gettext
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from babel.messages.plurals import get_plural
from flask import Flask, Response, abort, current_app, g, has_request_context, request
from flask_babel import Domain, get_locale, get_translations, refresh

#: One message catalog per area of the product, so that work on one area does not
#: rewrite another's catalog. Each has a mapping file in babel/<domain>.cfg.
TRANSLATION_DOMAINS = (
    "messages",
    "registration",
    "mail",
    "calendar",
    "admin",
    "attendees",
    "members",
)
TRANSLATIONS_DIR = Path(__file__).parent / "translations"

LANG_COOKIE = "lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


def select_locale() -> str:
    if not has_request_context():  # CLI commands, the mail worker: the site's language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
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
    # g outlives a request when an app context was pushed around several (tests, CLI
    # helpers); the language must still be chosen afresh for each request.
    g.pop("requested_lang", None)
    refresh()
    requested = request.args.get("lang")
    if requested is None:
        return
    if requested not in current_app.config["LANGUAGES"]:
        abort(400)
    g.requested_lang = requested


View = TypeVar("View", bound=Callable[..., Any])


def language_from_url(view: View) -> View:
    """Mark a view whose answer's language comes from its URL alone (?lang=, the calendar
    feeds and files): the choice is not remembered in the cookie, so the answer is the
    same for everyone and carries no Set-Cookie that would keep shared caches from
    storing it."""
    view.remembers_language = False  # type: ignore[attr-defined]
    return view


def _remembers_language() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "remembers_language", True)


def _remember_lang(response: Response) -> Response:
    requested = getattr(g, "requested_lang", None)
    if requested and request.cookies.get(LANG_COOKIE) != requested and _remembers_language():
        response.set_cookie(
            LANG_COOKIE,
            requested,
            max_age=LANG_COOKIE_MAX_AGE,
            samesite="Lax",
            httponly=True,
            secure=not (current_app.debug or current_app.testing) and request.scheme == "https",
        )
    return response


def ngettext_showing(singular: str, plural: str, num: int, shown: object) -> str:
    """``ngettext`` that chooses the form by ``num`` but writes ``shown`` for
    ``%(num)s``: a page's live value (``page_cache.live_value``), which may be the
    marker that each answer fills in."""
    return get_translations().ungettext(singular, plural, num) % {"num": shown}


class MergedDomain(Domain):
    """Flask-Babel's multi-domain loading, with the plural rule of the language.

    Flask-Babel merges the domains' catalogs but keeps the plural rule of the last
    catalog loaded, which is English's rule whenever that domain has no Japanese
    catalog yet; ngettext() would then pick the msgid_plural's (empty) slot.
    """

    def get_translations(self):  # type: ignore[no-untyped-def]
        translations = super().get_translations()
        locale = get_locale()
        if locale is not None:
            translations.plural = _plural_rule(str(locale))
        return translations


@cache
def _plural_rule(locale: str) -> Callable[[int], int]:
    """Compiled once per language; gettext.c2py is too slow to run on every lookup."""
    return gettext.c2py(get_plural(locale).plural_expr)


def init_app(app: Flask) -> None:
    babel_config = app.extensions["babel"]
    babel_config.instance.domain_instance = MergedDomain(domain=babel_config.default_domain)
    app.before_request(_read_lang_parameter)
    app.after_request(_remember_lang)
