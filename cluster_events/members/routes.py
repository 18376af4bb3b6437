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
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cluster_events.auth.routes import safe_next_url
from cluster_events.calendar import ical, links
from cluster_events.calendar.conditional import strong_etag
from cluster_events.calendar.queries import feed_window_start
from cluster_events.calendar.responses import calendar_response, feed_locale, site_parts
from cluster_events.errors import NotFound, ServiceError, show_on_form
from cluster_events.extensions import limiter
from cluster_events.i18n import current_locale, language_from_url
from cluster_events.members import feed_tokens, my_page, sessions, sign_in
from cluster_events.members import feeds as member_feeds
from cluster_events.members.feed_tokens import FeedKind
from cluster_events.members.forms import SignInForm
from cluster_events.members.sessions import current_person, member_required
from cluster_events.models import MemberPerson, Registration
from cluster_events.security_headers import token_in_url
from cluster_events.urls import absolute_url

View = TypeVar("View", bound=Callable[..., Any])

bp = Blueprint("members", __name__)

#: Where to go after signing in, when the sign-in link is opened in the browser that
#: asked for it (a link opened elsewhere goes to after_sign_in_url()).
NEXT_KEY = "member_sign_in_next"

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
                entries.events,
                name=name,
                locale=locale,
                waiting=entries.waiting,
                pending=entries.pending,
                not_drawn=entries.not_drawn,
                entered=entries.entered,
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


def after_sign_in_url() -> str:
    """Where a member lands after signing in, unless they were on their way elsewhere."""
    return url_for("members.me")


def _sign_in_rate_limit() -> str:
    return current_app.config["MEMBER_LOGIN_RATE_LIMIT"]


def _private_response(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/calendar/members/<token>.ics")
@token_in_url
@language_from_url
def members_feed(token: str) -> Response:
    """Every event a member may see, public and members-only, behind a secret address."""
    return _private_feed_response(FeedKind.members, token)


@bp.get("/calendar/my/<token>.ics")
@token_in_url
@language_from_url
def my_feed(token: str) -> Response:
    """The events the token's owner registered for: confirmed, waiting, or waiting for
    the office's approval."""
    return _private_feed_response(FeedKind.my, token)


@bp.route("/members/login", methods=["GET", "POST"])
@limiter.limit(_sign_in_rate_limit, methods=["POST"])
def login():
    """Ask for a sign-in link. The answer to a sent address is the same page whether or
    not the address is a member's (and whether or not a link went out)."""
    form = SignInForm()
    if not form.is_submitted():
        form.next.data = _safe_next(request.args.get("next"))
        return _private_response(make_response(render_template("members/login.html", form=form)))
    valid = form.validate()
    if not valid and set(form.errors) == {"next"}:
        # A mangled return path (control characters) is dropped, not shown: it is hidden.
        form.next.data, valid = None, True
    if valid:
        try:
            sign_in.request_sign_in_link(form.email.data, current_locale())
        except ServiceError as error:
            show_on_form(form, error, default_field="email")
        else:
            next_url = _safe_next(form.next.data)
            if next_url:
                session[NEXT_KEY] = next_url
            else:
                session.pop(NEXT_KEY, None)
            page = render_template(
                "members/check_email.html",
                email=form.email.data,
                minutes=sign_in.link_minutes(),
            )
            return _private_response(make_response(page))
    page = render_template("members/login.html", form=form)
    return _private_response(make_response(page, 400))


def _safe_next(target: str | None) -> str | None:
    """A path on this site that is not a sign-in page itself."""
    target = safe_next_url(target)
    if target is None or target.startswith(("/members/login", "/members/logout")):
        return None
    return target


@bp.route("/members/login/<token>", methods=["GET", "POST"])
@token_in_url
def login_link(token: str):
    """GET: the page the emailed link opens, with a button that signs in; it uses nothing
    up (mail scanners and link previews open links before the member does). POST (the
    button): use the link and sign in."""
    if request.method == "GET":
        try:
            login_token = sign_in.check_link(token)
        except ServiceError as error:
            return _refused(error)
        page = render_template(
            "members/login_link.html", token=token, expires_at=login_token.expires_at
        )
        return _private_response(make_response(page))
    try:
        person = sign_in.redeem(token)
    except ServiceError as error:
        return _refused(error)
    next_url = _safe_next(session.pop(NEXT_KEY, None))
    sessions.sign_out()
    # A new CSRF token for the signed-in session (the old one may have been seen).
    csrf_key = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(csrf_key, None)
    g.pop(csrf_key, None)
    sessions.sign_in(person)
    flash(_("You are signed in as %(name)s.", name=person.name), "success")
    return redirect(next_url or after_sign_in_url(), 303)


def _refused(error: ServiceError) -> Response:
    page = render_template("members/link_refused.html", error=error)
    return _private_response(make_response(page, error.http_status))


@bp.post("/members/logout")
def logout():
    """Sign out of the member session in this browser; an organizer's console session in
    the same browser, and the member's sessions on other devices, stay."""
    sessions.sign_out()
    session.pop(NEXT_KEY, None)
    flash(_("You have signed out."), "success")
    return redirect(url_for("events.index"), 303)
