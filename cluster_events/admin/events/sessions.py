"""Console pages for the sessions of a course (全N回): the list and the form that adds
one, changing (moving) one, cancelling one and removing one. They parse, call
events/sessions.py, and show the result."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cluster_events.admin.access import resumable
from cluster_events.admin.blueprint import bp
from cluster_events.admin.events.forms import CancelSessionForm, SessionForm
from cluster_events.admin.forms import ConfirmForm
from cluster_events.errors import ServiceError, flash_error, show_on_form
from cluster_events.events import sessions as session_services
from cluster_events.events.queries import get_event, list_venues
from cluster_events.models import Event, EventSession

SESSIONS_URL = "/events/<int:event_id>/sessions"
SESSION_URL = SESSIONS_URL + "/<int:session_id>"


def _session_of(event: Event, session_id: int) -> EventSession:
    session = event.session_by_id(session_id)
    if session is None:
        abort(404)
    return session


def _form(**kwargs: Any) -> SessionForm:
    return SessionForm(venues=list_venues(), **kwargs)


def _sessions_page(event: Event, form: SessionForm, status: int = 200, **context: Any) -> Any:
    page = render_template(
        "admin/events/sessions.html", event=event, form=form, action_form=ConfirmForm(), **context
    )
    return page, status


@bp.route(SESSIONS_URL, methods=["GET", "POST"])
@resumable
def event_sessions(event_id: int) -> Any:
    """The event's sessions, and the form that adds one after the last."""
    event = get_event(event_id)
    if request.method == "GET":
        return _sessions_page(event, _form(formdata=None))
    form = _form()
    if "_resume" in request.form:
        return _sessions_page(event, form, resumed=True)
    if not form.validate_on_submit():
        return _sessions_page(event, form, 400)
    try:
        session = session_services.add_session(event_id, form.to_data())
    except ServiceError as error:
        show_on_form(form, error)
        return _sessions_page(get_event(event_id), form, error.http_status)
    flash(_("Session %(number)d was added.", number=session.position), "success")
    return redirect(url_for("admin.event_sessions", event_id=event_id))


def _session_page(
    event: Event, session: EventSession, form: SessionForm, status: int = 200, **context: Any
) -> Any:
    page = render_template(
        "admin/events/session.html",
        event=event,
        session=session,
        form=form,
        cancel_form=context.pop("cancel_form", CancelSessionForm(formdata=None)),
        **context,
    )
    return page, status


@bp.route(SESSION_URL, methods=["GET", "POST"])
@resumable
def event_session(event_id: int, session_id: int) -> Any:
    """Move one session or change its venue; cancelling it below."""
    event = get_event(event_id)
    session = _session_of(event, session_id)
    if request.method == "GET":
        form = _form(formdata=None)
        form.fill_from_session(session_services.SessionData.from_session(session))
        return _session_page(event, session, form)
    form = _form()
    if "_resume" in request.form:
        return _session_page(event, session, form, resumed=True)
    if not form.validate_on_submit():
        return _session_page(event, session, form, 400)
    try:
        result = session_services.update_session(
            event_id, session_id, form.to_data(), notify=bool(form.notify.data)
        )
    except ServiceError as error:
        show_on_form(form, error)
        event = get_event(event_id)
        return _session_page(event, _session_of(event, session_id), form, error.http_status)
    flash(_("Your changes were saved."), "success")
    if result.notified:
        flash(_("Registrants to be told by email: %(count)d.", count=result.notified), "success")
    return redirect(url_for("admin.event_sessions", event_id=event_id))


@bp.route(SESSION_URL + "/cancel", methods=["POST"])
def event_session_cancel(event_id: int, session_id: int) -> Any:
    event = get_event(event_id)
    session = _session_of(event, session_id)
    cancel_form = CancelSessionForm()
    if cancel_form.validate_on_submit():
        try:
            count = session_services.cancel_session(event_id, session_id, cancel_form.reason.data)[
                1
            ]
        except ServiceError as error:
            show_on_form(cancel_form, error)
        else:
            flash(
                _(
                    "Session %(number)d was cancelled. Registrants to be told by email: %(count)d.",
                    number=session.position,
                    count=count,
                ),
                "success",
            )
            return redirect(url_for("admin.event_sessions", event_id=event_id))
    form = _form(formdata=None)
    form.fill_from_session(session_services.SessionData.from_session(session))
    status = 409 if session.is_cancelled else 400
    return _session_page(event, session, form, status, cancel_form=cancel_form)


@bp.route(SESSION_URL + "/remove", methods=["POST"])
def event_session_remove(event_id: int, session_id: int) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        session_services.remove_session(event_id, session_id)
    except ServiceError as error:
        flash_error(error)
    else:
        flash(_("The session was removed."), "success")
    return redirect(url_for("admin.event_sessions", event_id=event_id))
