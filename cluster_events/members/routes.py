"""The members' own pages: sign-in by emailed link, My page and private feeds."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
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
from flask_babel import gettext as _

from cluster_events.auth.routes import safe_next_url
from cluster_events.errors import ServiceError, show_on_form
from cluster_events.extensions import limiter
from cluster_events.i18n import current_locale
from cluster_events.members import sessions, sign_in
from cluster_events.members.forms import SignInForm
from cluster_events.security_headers import token_in_url

bp = Blueprint("members", __name__)

#: Where to go after signing in, when the sign-in link is opened in the browser that
#: asked for it (a link opened elsewhere goes to after_sign_in_url()).
NEXT_KEY = "member_sign_in_next"


def after_sign_in_url() -> str:
    """Where a member lands after signing in, unless they were on their way elsewhere."""
    return url_for("events.index")


def _sign_in_rate_limit() -> str:
    return current_app.config["MEMBER_LOGIN_RATE_LIMIT"]


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.route("/members/login", methods=["GET", "POST"])
@limiter.limit(_sign_in_rate_limit, methods=["POST"])
def login():
    """Ask for a sign-in link. The answer to a sent address is the same page whether or
    not the address is a member's (and whether or not a link went out)."""
    form = SignInForm()
    if not form.is_submitted():
        form.next.data = _safe_next(request.args.get("next"))
        return _private(make_response(render_template("members/login.html", form=form)))
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
            return _private(make_response(page))
    page = render_template("members/login.html", form=form)
    return _private(make_response(page, 400))


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
        return _private(make_response(page))
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
    return _private(make_response(page, error.http_status))


@bp.post("/members/logout")
def logout():
    """Sign out of the member session in this browser; an organizer's console session in
    the same browser, and the member's sessions on other devices, stay."""
    sessions.sign_out()
    session.pop(NEXT_KEY, None)
    flash(_("You have signed out."), "success")
    return redirect(url_for("events.index"), 303)
