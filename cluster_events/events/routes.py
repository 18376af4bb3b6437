"""Public catalogue: upcoming events, one event, the archive, one category.

Views parse the request, call queries and render; anything odd in the address
(a bad page number, a control character, an over-long search) is refused with a
400 or 404 page before it reaches the database.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _

from cluster_events.errors import ServiceError
from cluster_events.events import queries
from cluster_events.models import Category
from cluster_events.registration.queries import public_event_by_slug
from cluster_events.text import has_forbidden_characters, normalise_input

bp = Blueprint("events", __name__)

MAX_PAGE = 10_000
MAX_SLUG_LENGTH = 100
_PAGE_PATTERN = re.compile(r"[0-9]{1,6}")


def _page_argument() -> int:
    raw = request.args.get("page", "1")
    if not _PAGE_PATTERN.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE:
        abort(400)
    return int(raw)


def _search_argument() -> str:
    raw = request.args.get("q", "")
    if len(raw) > queries.MAX_SEARCH_LENGTH:
        abort(400)
    if has_forbidden_characters(raw, single_line=True):
        raise ServiceError(
            _("The search words contain characters that cannot be used. Please type them again.")
        )
    return normalise_input(raw)


def _checked_slug(slug: str) -> str:
    """Slugs that cannot exist (too long, control characters) are simply not found."""
    if len(slug) > MAX_SLUG_LENGTH or has_forbidden_characters(slug, single_line=True):
        abort(404)
    return slug


def _category_or_404(slug: str) -> Category:
    category = queries.category_by_slug(_checked_slug(slug))
    if category is None:
        abort(404)
    return category


@bp.get("/")
def index():
    """Upcoming events grouped by month, with a category filter and a keyword search."""
    search = _search_argument()
    category_slug = request.args.get("category", "")
    category = _category_or_404(category_slug) if category_slug else None
    events = queries.upcoming_events(category=category, search=search)
    return render_template(
        "events/index.html",
        months=queries.group_by_month(events),
        categories=queries.all_categories(),
        selected_category=category,
        search=search,
        result_count=len(events),
    )


@bp.get("/events/past")
def past():
    page = _page_argument()
    per_page = current_app.config["EVENTS_PER_PAGE"]
    events, total = queries.past_events(page, per_page)
    if page > 1 and not events:
        abort(404)
    pages = max((total + per_page - 1) // per_page, 1)
    return render_template("events/past.html", events=events, page=page, pages=pages)


@bp.get("/events/<slug>")
def detail(slug: str):
    event = public_event_by_slug(_checked_slug(slug))
    if event is None:
        abort(404)
    return render_template("events/detail.html", event=event)


@bp.get("/categories/<slug>")
def category(slug: str):
    found = _category_or_404(slug)
    events = queries.upcoming_events(category=found)
    return render_template(
        "events/category.html", category=found, months=queries.group_by_month(events)
    )
