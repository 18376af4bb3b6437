"""Public catalogue: upcoming events, one event, the archive, one category, and the
sign-up POST of an event page.

Views parse the request, call queries and render; anything odd in the address
(a bad page number, a control character, an over-long search) is refused with a
400 or 404 page before it reaches the database.

Who sees what: every list asks for the events this viewer may see
(``viewer_is_member``: a member is signed in, ``members.sessions.current_person``), by
the one rule ``Event.visible_where``. A members-only event's page answers 403 to anyone
else, saying only that it is for members and how to sign in. Pages that differ for a
signed-in member are never cached by a shared cache (``Cache-Control: private``, and
``Vary: Cookie`` on every page).
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, current_app, g, render_template, request
from flask_babel import gettext as _

from cluster_events.errors import ServiceError
from cluster_events.events import queries
from cluster_events.extensions import limiter
from cluster_events.members.sessions import current_person
from cluster_events.models import Category, MemberPerson
from cluster_events.registration import routes as registration_views
from cluster_events.registration.queries import listed_event_by_slug
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


def _viewer() -> MemberPerson | None:
    """The signed-in member, remembered for ``_cache_per_viewer``."""
    person = current_person()
    g.page_for_member = person is not None
    return person


def _viewer_is_member() -> bool:
    return _viewer() is not None


@bp.after_request
def _cache_per_viewer(response: Response) -> Response:
    """A page made for a signed-in member (it may show members-only events) is for their
    own browser only. Only a view that asked who is signed in made such a page, so this
    never reads the session itself (no query after the view, none on an early 400)."""
    response.vary.add("Cookie")
    if g.get("page_for_member"):
        response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/")
def index():
    """Upcoming events grouped by month, with a category filter and a keyword search."""
    search = _search_argument()
    category_slug = request.args.get("category", "")
    category = _category_or_404(category_slug) if category_slug else None
    member = _viewer_is_member()
    events = queries.upcoming_events(category=category, search=search, viewer_is_member=member)
    return render_template(
        "events/index.html",
        viewer_is_member=member,
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
    member = _viewer_is_member()
    events, total = queries.past_events(page, per_page, viewer_is_member=member)
    if page > 1 and not events:
        abort(404)
    pages = max((total + per_page - 1) // per_page, 1)
    return render_template(
        "events/past.html", events=events, page=page, pages=pages, viewer_is_member=member
    )


@bp.get("/events/<slug>")
def detail(slug: str):
    event = listed_event_by_slug(_checked_slug(slug))
    if event is None:
        abort(404)
    person = _viewer()
    if not event.is_visible_to(viewer_is_member=person is not None):
        return registration_views.members_only_page(event)
    return render_template("events/detail.html", event=event, member_person=person)


def _registration_rate_limit() -> str:
    return current_app.config["REGISTRATION_RATE_LIMIT"]


@bp.post("/events/<slug>/register")
@limiter.limit(_registration_rate_limit)
def register(slug: str):
    """Sign up from the event page: ``registration.routes.sign_up`` with the signed-in
    member, if any (a members-only event refuses anyone else with 403)."""
    event = listed_event_by_slug(_checked_slug(slug))
    if event is None:
        abort(404)
    return registration_views.sign_up(event, _viewer())


@bp.get("/categories/<slug>")
def category(slug: str):
    found = _category_or_404(slug)
    member = _viewer_is_member()
    events = queries.upcoming_events(category=found, viewer_is_member=member)
    return render_template(
        "events/category.html",
        category=found,
        months=queries.group_by_month(events),
        viewer_is_member=member,
    )
