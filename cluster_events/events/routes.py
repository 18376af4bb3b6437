"""Public catalogue: upcoming events, one event, the archive, one category, and the
sign-up POST of an event page.

Views parse the request, call queries and render; anything odd in the address
(a malformed cursor, a control character, an over-long search) is refused with a
400 or 404 page before it reaches the database.

The lists are paged by a cursor (``events.pagination``): ``?after=`` the last event of
a page for the next one, ``?before=`` the first for the previous one. A page before
the first, or one past the list's end, is sent to the list's first page; the archive's
old ``?page=N`` addresses are too (permanently).

Who sees what: every list asks for the events this viewer may see
(``viewer_is_member``: a member is signed in, ``members.sessions.current_person``), by
the one rule ``Event.visible_where``. A members-only event's page answers 403 to anyone
else, saying only that it is for members and how to sign in. Pages that differ for a
signed-in member are never cached by a shared cache (``Cache-Control: private``, and
``Vary: Cookie`` on every page).

The catalogue, category pages, the archive and event pages are answered through
``page_cache``: each view reads its list's version (one query, in place of the list's
own queries when the page was rendered before) or its event, and renders only when
that version was not rendered yet; ETags and 304s come from the same key.
"""

from __future__ import annotations

import re

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from cluster_events.database import utcnow
from cluster_events.errors import ServiceError
from cluster_events.events import cards, presentation, queries
from cluster_events.events.pagination import Cursor, Position
from cluster_events.extensions import limiter
from cluster_events.members.sessions import current_person
from cluster_events.models import MemberPerson
from cluster_events.page_cache import page_response
from cluster_events.registration import routes as registration_views
from cluster_events.registration.queries import listed_event_by_slug
from cluster_events.text import has_forbidden_characters, normalise_input
from cluster_events.transactions import read_without_transaction

bp = Blueprint("events", __name__)


@bp.before_request
def _read_without_transaction() -> None:
    if request.method in ("GET", "HEAD"):
        read_without_transaction()


bp.add_app_template_global(cards.cached_card, "cached_card")

MAX_PAGE = 10_000
MAX_SLUG_LENGTH = 100
_PAGE_PATTERN = re.compile(r"[0-9]{1,6}")
#: What a list's address holds besides its cursor, kept when it is sent to its first page.
_KEPT_ARGUMENTS = ("q", "category", "described", "lang")
#: ``?described=en``: only the events the office described in English.
DESCRIBED_IN_ENGLISH = "en"


def _position_argument() -> Position:
    """The page asked for: ``after`` or ``before`` a cursor, or the first; a malformed
    cursor, or both at once, is a 400."""
    after, before = request.args.get("after"), request.args.get("before")
    if after is None and before is None:
        return Position()
    if after is not None and before is not None:
        abort(400)
    try:
        cursor = Cursor.parse(after if after is not None else before or "")
    except ValueError:
        abort(400)
    return Position(cursor, backwards=before is not None)


def _same_list_from_the_top(endpoint: str, code: int = 302, **values: str) -> Response:
    """The list's first page, with the search, the category and the language of the
    address kept (only those: any other argument is nothing the list reads)."""
    kept = {name: request.args[name] for name in _KEPT_ARGUMENTS if name in request.args}
    return redirect(url_for(endpoint, **kept, **values), code=code)


def _old_page_number() -> Response | None:
    """``?page=N`` of the archive before it was paged by cursor: a well-formed number
    goes to the first page for good (numbered pages no longer exist, and the events
    page N held then have moved on since), anything else is a 400 as it always was."""
    raw = request.args.get("page")
    if raw is None:
        return None
    if not _PAGE_PATTERN.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE:
        abort(400)
    return _same_list_from_the_top("events.past", code=301)


def _search_argument() -> str:
    raw = request.args.get("q", "")
    if len(raw) > queries.MAX_SEARCH_LENGTH:
        abort(400)
    if has_forbidden_characters(raw, single_line=True):
        raise ServiceError(
            _("The search words contain characters that cannot be used. Please type them again.")
        )
    return normalise_input(raw)


def _described_in_english_argument() -> bool:
    """``?described=en`` filters the catalogue to the events described in English;
    any other value is nothing the list can show (400)."""
    raw = request.args.get("described", "")
    if raw not in ("", DESCRIBED_IN_ENGLISH):
        abort(400)
    return raw == DESCRIBED_IN_ENGLISH


def _checked_slug(slug: str) -> str:
    """Slugs that cannot exist (too long, control characters) are simply not found."""
    if len(slug) > MAX_SLUG_LENGTH or has_forbidden_characters(slug, single_line=True):
        abort(404)
    return slug


def _viewer() -> MemberPerson | None:
    """The signed-in member, remembered for ``_cache_per_viewer``."""
    person = current_person()
    g.page_for_member = person is not None
    return person


def _viewer_version(person: MemberPerson | None) -> tuple[object, ...] | None:
    """Who is viewing, for a page's key: nobody, or the member's own rows (their name
    is in the header, their details in the event page's form)."""
    if person is None:
        return None
    return (queries.row_values(person), queries.row_values(person.member))


@bp.after_request
def _cache_per_viewer(response: Response) -> Response:
    """A page made for a signed-in member (it may show members-only events) is for their
    own browser only. Only a view that asked who is signed in made such a page, so this
    never reads the session itself (no query after the view, none on an early 400).
    A response that will set the session cookie is never for a shared cache either."""
    response.vary.add("Cookie")
    cache_control = response.headers.get("Cache-Control", "")
    if "private" not in cache_control and (g.get("page_for_member") or session.modified):
        response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/")
def index():
    """Upcoming events grouped by month, a page at a time, with a category filter and a
    keyword search."""
    search = _search_argument()
    category_slug = request.args.get("category", "")
    if category_slug:
        _checked_slug(category_slug)
    described_in_english = _described_in_english_argument()
    position = _position_argument()
    per_page = current_app.config["CATALOGUE_EVENTS_PER_PAGE"]
    person = _viewer()
    member = person is not None
    listing = queries.catalogue_listing(
        per_page=per_page,
        position=position,
        category_slug=category_slug,
        search=search,
        described_in_english=described_in_english,
        viewer_is_member=member,
    )
    if category_slug and listing.selected is None:
        abort(404)
    if listing.first_page_instead:
        return _same_list_from_the_top("events.index")

    def render() -> tuple[str, bool]:
        events = queries.listed_events(listing, viewer_is_member=member)
        html = render_template(
            "events/index.html",
            viewer_is_member=member,
            months=queries.group_by_month(events),
            listing=listing,
            per_page=per_page,
            categories=listing.categories,
            selected_category=listing.selected,
            search=search,
            described_in_english=described_in_english,
            result_count=len(events),
        )
        return html, listing.shows(events, utcnow())

    return page_response((listing.version, _viewer_version(person)), render, member=member)


@bp.get("/events/past")
def past():
    """Past events, newest first, a page at a time."""
    old_address = _old_page_number()
    if old_address is not None:
        return old_address
    position = _position_argument()
    per_page = current_app.config["EVENTS_PER_PAGE"]
    person = _viewer()
    member = person is not None
    listing = queries.archive_listing(per_page=per_page, position=position, viewer_is_member=member)
    if listing.first_page_instead:
        return _same_list_from_the_top("events.past")

    def render() -> tuple[str, bool]:
        events = queries.listed_events(listing, viewer_is_member=member)
        html = render_template(
            "events/past.html", events=events, listing=listing, viewer_is_member=member
        )
        return html, listing.shows(events, utcnow())

    return page_response((listing.version, _viewer_version(person)), render, member=member)


@bp.get("/events/<slug>")
def detail(slug: str):
    event = listed_event_by_slug(_checked_slug(slug))
    if event is None:
        abort(404)
    person = _viewer()
    if not event.is_visible_to(viewer_is_member=person is not None):
        return registration_views.members_only_page(event)
    now = utcnow()

    def render() -> tuple[str, bool]:
        html = render_template("events/detail.html", event=event, member_person=person)
        unchanged = queries.page_time_marks(event, utcnow()) == queries.page_time_marks(event, now)
        return html, unchanged

    version = queries.event_page_version(event, now)
    return page_response(
        (version, _viewer_version(person)),
        render,
        member=person is not None,
        live=presentation.live_counts(event, now),
    )


def _registration_rate_limit() -> str:
    return current_app.config["REGISTRATION_RATE_LIMIT"]


@bp.post("/events/<slug>/register")
@limiter.limit(_registration_rate_limit)
def register(slug: str):
    """Sign up from the event page: ``registration.routes.sign_up`` with the signed-in
    member, if any (a members-only event refuses anyone else with 403)."""
    return registration_views.sign_up(_checked_slug(slug), _viewer())


@bp.get("/categories/<slug>")
def category(slug: str):
    _checked_slug(slug)
    position = _position_argument()
    per_page = current_app.config["CATALOGUE_EVENTS_PER_PAGE"]
    person = _viewer()
    member = person is not None
    listing = queries.category_listing(
        slug, per_page=per_page, position=position, viewer_is_member=member
    )
    if listing is None:
        abort(404)
    if listing.first_page_instead:
        return _same_list_from_the_top("events.category", slug=slug)

    def render() -> tuple[str, bool]:
        events = queries.listed_events(listing, viewer_is_member=member)
        html = render_template(
            "events/category.html",
            category=listing.selected,
            months=queries.group_by_month(events),
            listing=listing,
            per_page=per_page,
            viewer_is_member=member,
        )
        return html, listing.shows(events, utcnow())

    return page_response((listing.version, _viewer_version(person)), render, member=member)
