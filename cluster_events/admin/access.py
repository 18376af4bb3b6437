"""Who may use the console: every /admin URL needs a logged-in organizer; some need an admin.

A form sent after the session ended (or with an expired CSRF token) does not lose
what was typed: for views marked ``resumable`` the login page carries the fields,
and after logging in they go back to the form, shown again unsaved.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from cluster_events.admin.blueprint import bp
from cluster_events.extensions import login_manager
from cluster_events.request_checks import refuse_nul_bytes


def _current_view() -> Any:
    return current_app.view_functions.get(request.endpoint or "")


def _resume_login_page() -> Any:
    from cluster_events.auth.forms import LoginForm
    from cluster_events.auth.routes import render_login, resume_fields

    form = LoginForm(formdata=None)
    form.next.data = request.path
    return render_login(form, resume_fields(request.form), 401)


#: Database ids are 32-bit integers; a longer number in a URL is a forged id.
MAX_ID = 2**31 - 1


def parse_id(value: str) -> int | None:
    """``value`` as a database id (ASCII digits, 1 to MAX_ID), else None."""
    if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
        return int(value)
    return None


@bp.before_request
def _refuse_impossible_ids() -> None:
    # A before_request, not a URL value preprocessor: those run before ?lang= is read,
    # and the 404 page came out in Japanese whatever was asked.
    values = request.view_args or {}
    if any(isinstance(v, int) and not 0 < v <= MAX_ID for v in values.values()):
        abort(404)


bp.before_request(refuse_nul_bytes)


@bp.before_request
def _require_organizer() -> Any:
    view = _current_view()
    if not current_user.is_authenticated:
        if request.method == "POST" and getattr(view, "resumable", False):
            return _resume_login_page()
        return login_manager.unauthorized()
    resuming = request.method == "POST" and "_resume" in request.form
    if resuming and not getattr(view, "resumable", False):
        abort(400)
    return None


@bp.errorhandler(CSRFError)
def _csrf_failed(error: CSRFError) -> Any:
    """The token expired or the session ended while the form was open."""
    if request.method == "POST" and getattr(_current_view(), "resumable", False):
        if not current_user.is_authenticated:
            return _resume_login_page()
        from cluster_events.auth.routes import resume_fields

        return render_template(
            "auth/resume.html",
            action=request.path,
            fields=resume_fields(request.form),
            expired_form=True,
        ), 400
    return render_template("errors/error.html", code=400, error=error, csrf_failed=True), 400


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Views that change organizer accounts or read the audit log."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    wrapped.admin_only = True  # type: ignore[attr-defined]
    return wrapped


def resumable(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a form view whose POST, when interrupted by an ended session, is kept.

    The view must treat a POST with ``_resume`` like a preview: show the form
    filled with the posted values and save nothing.
    """
    view.resumable = True  # type: ignore[attr-defined]
    return view
