"""The members' own pages: sign-in by emailed link, My page and private feeds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Response,
    abort,
    after_this_request,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cluster_events.calendar import ical, links
from cluster_events.calendar.conditional import strong_etag
from cluster_events.calendar.queries import feed_window_start
from cluster_events.calendar.responses import calendar_response, feed_locale, site_parts
from cluster_events.errors import NotFound, ServiceError
from cluster_events.i18n import current_locale
from cluster_events.members import feed_tokens, my_page
from cluster_events.members import feeds as member_feeds
from cluster_events.members.feed_tokens import FeedKind
from cluster_events.members.sessions import current_person, member_required
from cluster_events.models import MemberPerson, Registration
from cluster_events.security_headers import token_in_url
from cluster_events.urls import absolute_url

View = TypeVar("View", bound=Callable[..., Any])

bp = Blueprint("members", __name__)


@bp.get("/members/login")
def login() -> str:
    """Placeholder until the sign-in form lands (issue 10, point 3)."""
    return render_template("members/login.html")


# --- My page and the private calendar feeds (issue 10, points 6 and 7) ------------------------


@dataclass(frozen=True)
class PrivateFeed:
    """One private feed as My page shows it."""

    kind: str
    title: str
    explanation: str
    https_url: str
    webcal_url: str
    qr_svg: str


_FEED_TITLES = {
    FeedKind.members: _l("All events for members"),
    FeedKind.my: _l("My events"),
}
_FEED_EXPLANATIONS = {
    FeedKind.members: _l(
        "Every event of the association, including the members-only events. New events "
        "appear by themselves."
    ),
    FeedKind.my: _l(
        "Only the events you registered for. When you cancel a registration, the event "
        "leaves this calendar; while you are on the waiting list, the title says so."
    ),
}
_FEED_ENDPOINTS = {FeedKind.members: "members.members_feed", FeedKind.my: "members.my_feed"}
_FEED_FALLBACK_FILENAMES = {FeedKind.members: "members.ics", FeedKind.my: "my-events.ics"}
#: Like the public feeds every poll revalidates, but no shared cache may keep a copy:
#: the address is a secret and the content is the person's.
PRIVATE_FEED_CACHE_CONTROL = "private, no-cache"


def _private(view: View) -> View:
    """Pages of one person: kept by no cache and no search engine, their error pages too."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        @after_this_request
        def headers(response: Response) -> Response:
            response.headers["Cache-Control"] = "private, no-store"
            response.headers["X-Robots-Tag"] = "noindex"
            return response

        return view(*args, **kwargs)

    return cast(View, wrapped)


def _signed_in_person() -> MemberPerson:
    person = current_person()
    assert person is not None  # member_required
    return person


def _private_feed(person: MemberPerson, kind: FeedKind) -> PrivateFeed:
    token = feed_tokens.feed_token(person, kind)
    assert token is not None  # ensure_feed_tokens
    values: dict[str, str] = {"token": token}
    if current_locale() != current_app.config["BABEL_DEFAULT_LOCALE"]:
        values["lang"] = current_locale()
    https_url = absolute_url(_FEED_ENDPOINTS[kind], **values)
    webcal_url = links.webcal_url(https_url)
    title = str(_FEED_TITLES[kind])
    return PrivateFeed(
        kind=kind.value,
        title=title,
        explanation=str(_FEED_EXPLANATIONS[kind]),
        https_url=https_url,
        webcal_url=webcal_url,
        qr_svg=links.qr_svg(webcal_url, _("QR code of the calendar “%(name)s”", name=title)),
    )


@bp.get("/members/me")
@token_in_url
@_private
@member_required
def me() -> str:
    """My page: registrations, details (read only) and the private feeds. The feeds'
    tokens are made on the first visit, in a short transaction of their own."""
    person = feed_tokens.ensure_feed_tokens(_signed_in_person())
    return render_template(
        "members/me.html",
        person=person,
        member=person.member,
        registrations=my_page.my_registrations(person.id),
        feeds=[_private_feed(person, kind) for kind in FeedKind],
    )


_REGISTRATION_ID = "<int(min=1, max=2147483647):registration_id>"


def _cancel_page(registration: Registration, message: str | None = None, status: int = 200):
    html = render_template(
        "members/cancel.html",
        registration=registration,
        event=registration.event,
        can_cancel=my_page.can_cancel(registration),
        message=message,
    )
    return html, status


@bp.route(f"/members/me/registrations/{_REGISTRATION_ID}/cancel", methods=["GET", "POST"])
@token_in_url
@_private
@member_required
def cancel_registration(registration_id: int):
    """GET asks again before cancelling (no JavaScript needed), POST cancels. Another
    person's registration is not found. One rule for both methods, so that an id out
    of range is a 404 whatever the method."""
    person = _signed_in_person()
    if request.method == "GET":
        registration = my_page.my_registration(person.id, registration_id)
        refusal = my_page.cancel_refusal(registration)
        if refusal is not None:
            return _cancel_page(registration, str(refusal.message), refusal.http_status)
        return _cancel_page(registration)
    try:
        my_page.cancel_my_registration(person.id, registration_id)
    except NotFound:
        raise
    except ServiceError as error:
        registration = my_page.my_registration(person.id, registration_id)
        return _cancel_page(registration, str(error.message), error.http_status)
    flash(_("Your registration has been cancelled. We have sent you an email."), "success")
    return redirect(url_for("members.me", _anchor="upcoming"), 303)


# One fixed address per feed rather than a URL variable: nothing else to check.
@bp.route("/members/me/feeds/members/renew", methods=["GET", "POST"], defaults={"kind": "members"})
@bp.route("/members/me/feeds/my/renew", methods=["GET", "POST"], defaults={"kind": "my"})
@token_in_url
@_private
@member_required
def renew_feed(kind: str):
    """GET asks again (calendars subscribed with the old address stop being updated),
    POST makes the new address."""
    feed = FeedKind(kind)
    if request.method == "GET":
        return render_template("members/renew_feed.html", kind=kind, title=_FEED_TITLES[feed])
    feed_tokens.renew_feed_token(_signed_in_person().id, feed)
    flash(
        _(
            "The calendar “%(name)s” has a new address. The old one no longer works: "
            "please subscribe again with the new one.",
            name=_FEED_TITLES[feed],
        ),
        "success",
    )
    return redirect(url_for("members.me", _anchor=f"feed-{kind}"), 303)


def _feed_name(kind: FeedKind, locale: str) -> str:
    config = current_app.config
    site = config["SITE_NAME_EN"] if locale == "en" else config["SITE_NAME"]
    with force_locale(locale):
        return _("%(site)s – %(calendar)s", site=site, calendar=_FEED_TITLES[kind])


def _private_feed_response(kind: FeedKind, token: str) -> Response:
    """The feed of the token's owner: one query for the owner and the version (all a
    304 costs), one more for the entries. A token that is malformed, renewed or
    unknown, or whose person is no longer a current member, is a 404."""
    since = feed_window_start()
    version = member_feeds.feed_version(kind, token, since)
    if version is None:
        abort(404)
    locale = feed_locale()
    name = _feed_name(kind, locale)
    if kind == FeedKind.members:
        # The same for every member, so the built calendar is shared in the cache.
        owner: tuple[object, ...] = ()

        def build() -> bytes:
            events = member_feeds.members_feed_events(since)
            return ical.events_to_ical(events, name=name, locale=locale)
    else:
        owner = (version.person_id,)

        def build() -> bytes:
            entries = member_feeds.my_feed_entries(version.person_id, since)
            return ical.events_to_ical(
                entries.events, name=name, locale=locale, waiting=entries.waiting
            )

    etag = strong_etag(
        f"{kind.value}-feed", locale, name, *site_parts(), *owner, *version.etag_parts()
    )
    response = calendar_response(
        etag=etag,
        modified=version.last_modified,
        build=build,
        filename=f"{name}.ics",
        fallback_filename=_FEED_FALLBACK_FILENAMES[kind],
        cache_control=PRIVATE_FEED_CACHE_CONTROL,
    )
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/calendar/members/<token>.ics")
@token_in_url
def members_feed(token: str) -> Response:
    """Every event a member may see, public and members-only, behind a secret address."""
    return _private_feed_response(FeedKind.members, token)


@bp.get("/calendar/my/<token>.ics")
@token_in_url
def my_feed(token: str) -> Response:
    """The events the token's owner registered for, confirmed or waiting."""
    return _private_feed_response(FeedKind.my, token)
