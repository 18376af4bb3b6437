"""Public catalogue: upcoming events, one event, the archive, one category."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from cluster_events.events import queries

bp = Blueprint("events", __name__)

MAX_PAGE = 10_000


def _page_argument() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        abort(400)
    return int(raw)


def _search_argument() -> str:
    from cluster_events.text import normalise_input

    raw = request.args.get("q", "")
    if len(raw) > queries.MAX_SEARCH_LENGTH:
        abort(400)
    return normalise_input(raw)


@bp.get("/")
def index():
    """Upcoming events grouped by month, with a category filter and a keyword search."""
    search = _search_argument()
    category = None
    if category_slug := request.args.get("category"):
        category = queries.category_by_slug(category_slug)
        if category is None:
            abort(404)
    events = queries.upcoming_events(category=category, search=search)
    return render_template(
        "events/index.html",
        months=queries.group_by_month(events),
        categories=queries.all_categories(),
        selected_category=category,
        search=search,
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
    event = queries.public_event_by_slug(slug)
    if event is None:
        abort(404)
    return render_template("events/detail.html", event=event)


@bp.get("/categories/<slug>")
def category(slug: str):
    found = queries.category_by_slug(slug)
    if found is None:
        abort(404)
    events = queries.upcoming_events(category=found)
    return render_template(
        "events/category.html", category=found, months=queries.group_by_month(events)
    )
