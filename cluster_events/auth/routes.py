"""Organizer login and logout."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from cluster_events.auth import services
from cluster_events.auth.forms import LoginForm
from cluster_events.auth.users import OrganizerUser
from cluster_events.extensions import limiter
from cluster_events.request_checks import refuse_nul_bytes

bp = Blueprint("auth", __name__)

#: Prefix of the hidden fields that carry a console form typed before the session expired.
RESUME_PREFIX = "resume:"


def safe_next_url(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no scheme, host or ``//``), else None."""
    if not target:
        return None
    target = target.strip().replace("\\", "/")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def resume_fields(form_data: Any) -> list[tuple[str, str]]:
    """The fields of an interrupted console form (never its old CSRF token)."""
    return [
        (key, value)
        for key, value in form_data.items(multi=True)
        if key not in ("csrf_token", "_resume")
    ]


def render_login(
    form: LoginForm,
    fields: list[tuple[str, str]],
    status: int = 200,
    *,
    error: str | None = None,
    notice: str | None = None,
):
    page = render_template(
        "auth/login.html",
        form=form,
        resume=fields,
        resume_prefix=RESUME_PREFIX,
        error=error,
        notice=notice,
    )
    return page, status


def _login_rate_limit() -> str:
    return current_app.config.get("LOGIN_RATE_LIMIT", "5 per minute")


def _login_failed(response: Any) -> bool:
    return bool(g.get("login_failed"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"], deduct_when=_login_failed)
def login():
    """Log in. Failures count per network address (Flask-Limiter, over all accounts)
    and per email address and network address (a growing delay, auth.throttle);
    never per account alone, so a stranger elsewhere cannot lock its owner out."""
    refuse_nul_bytes()
    form = LoginForm()
    fields = [
        (key[len(RESUME_PREFIX) :], value)
        for key, value in request.form.items(multi=True)
        if key.startswith(RESUME_PREFIX)
    ]
    if request.method == "GET":
        form.next.data = safe_next_url(request.args.get("next")) or ""
        if current_user.is_authenticated and not form.next.data:
            return redirect(url_for("admin.index"))
        return render_login(form, [])
    organizer = None
    if form.validate_on_submit():
        try:
            organizer = services.attempt_login(
                form.email.data, form.password.data, request.remote_addr or ""
            )
        except services.LoginDelayed as delayed:
            g.login_failed = True
            form.password.data = ""
            page, status = render_login(form, fields, delayed.http_status, error=delayed.message)
            return page, status, {"Retry-After": str(delayed.wait_seconds)}
    if organizer is None:
        g.login_failed = True
        form.password.data = ""
        message = _("The email address or the password is not correct.")
        return render_login(form, fields, 401, error=message)
    # A fresh session. Flask's session is a signed cookie held by the browser, so a
    # cookie planted before login (session fixation) can never become the logged-in
    # session: the login is a new cookie value that only this response carries. Clearing
    # drops whatever the old cookie held (a CSRF token someone else may know, remembered
    # registrations), and the session generation ends any copy of an older login.
    session.clear()
    # The form above made a CSRF token from the session just cleared; forget it.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    login_user(OrganizerUser(organizer))
    session.permanent = True
    target = safe_next_url(form.next.data)
    if fields and target:
        # Back to the interrupted form with what was typed; the console re-shows it unsaved.
        return render_template("auth/resume.html", action=target, fields=fields)
    return redirect(target or url_for("admin.index"))


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out here and everywhere: every other session and remember cookie of the
    account ends too (a console left open on another computer, a copied cookie)."""
    services.end_sessions(current_user.organizer.id)
    session.clear()
    logout_user()  # after clear(): it asks for the remember cookie to be deleted
    flash(_("You have logged out, here and on any other computer."), "success")
    return redirect(url_for("auth.login"))
