"""Event cards kept once rendered, per what they show and the language.

A card (templates/_macros.html, ``event_card``) is a pure function of the event's
columns that a list reads for its version, its category's names, which of its moments
are past (registration opens and closes, the event starts and ends) and the language.
Those values are the key, so a card can never be stale: a registration, an edit or the
passing of a deadline makes another key. Lists share cards (the catalogue, a search,
a category page), and a list rendered after one event changed renders one card.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, request
from markupsafe import Markup

from cluster_events.database import utcnow
from cluster_events.events.queries import event_list_version, event_time_marks
from cluster_events.i18n import current_locale
from cluster_events.models import Event
from cluster_events.page_cache import BoundedCache, keeps_pages

#: Upper bound of the characters kept per process (a card is about 800).
DEFAULT_MAX_CHARACTERS = 2 * 1024 * 1024


def card_cache(app: Flask | None = None) -> BoundedCache[tuple[Any, ...], str]:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    cache = app.extensions.get("card_cache")
    if cache is None:
        limit = app.config.get("CARD_CACHE_MAX_CHARACTERS", DEFAULT_MAX_CHARACTERS)
        cache = BoundedCache(limit, len)
        app.extensions["card_cache"] = cache
    return cache


def cached_card(event: Event, heading_level: int, caller: Callable[[], str]) -> Markup:
    """``{% call cached_card(event, heading_level) %}...{% endcall %}``: the card from
    memory, or rendered by ``caller`` and kept (unless one of its moments passed while
    it was rendered)."""
    if not keeps_pages():
        return Markup(caller())
    now = utcnow()
    marks = event_time_marks(event, now)
    key = (
        request.script_root,
        current_locale(),
        heading_level,
        event_list_version(event),
        event.category.name_ja,
        event.category.name_en,
        marks,
    )
    cache = card_cache()
    html = cache.get(key)
    if html is None:
        html = str(caller())
        if event_time_marks(event, utcnow()) == marks:
            cache.put(key, html)
    return Markup(html)
