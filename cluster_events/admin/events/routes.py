"""Console pages for events: the dashboard, list, create, edit (with Markdown preview),
publish, duplicate, make a series and cancel. They parse, call events/services.py (and
events/series.py), and show the result."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from cluster_events.admin.access import resumable
from cluster_events.admin.audit.routes import ACTION_LABELS
from cluster_events.admin.blueprint import bp
from cluster_events.admin.events.forms import CancelEventForm, EventForm, SeriesForm
from cluster_events.admin.forms import ConfirmForm
from cluster_events.audit import recent_entries
from cluster_events.errors import ServiceError, flash_error, show_on_form
from cluster_events.events import preview, queries, series, services
from cluster_events.mail import outbox
from cluster_events.models import Event

EVENT_URL = "/events/<int:event_id>"

#: Pages of the attendee area linked from an event's console page, if present.
ATTENDEE_PAGES = (
    ("admin.attendees", _l("Attendee list")),
    ("admin.checkin", _l("Check-in at the door")),
    ("admin.attendee_roster", _l("Reception roster (print)")),
    ("admin.attendee_export", _l("Export (Excel, CSV)")),
    ("admin.event_messages", _l("Write to registrants")),
)


def _event_form(**kwargs: Any) -> EventForm:
    return EventForm(categories=queries.all_categories(), venues=queries.list_venues(), **kwargs)


def _render_event_form(
    form: EventForm, event: Event | None, status: int = 200, **context: Any
) -> tuple[str, int]:
    previews = None
    if context.pop("preview", False):
        data = form.to_data()
        unsaved = preview.unsaved_event(
            title=data.title,
            title_en=data.title_en,
            summary=data.summary,
            summary_en=data.summary_en,
            body=data.body,
            body_en=data.body_en,
            fee_text=data.fee_text,
            fee_text_en=data.fee_text_en,
        )
        previews = preview.both_languages(unsaved, data.venue_id)
    page = render_template(
        "admin/events/form.html", form=form, event=event, previews=previews, **context
    )
    return page, status


def _is_preview() -> bool:
    return "preview" in request.form or "_resume" in request.form


@bp.route("/")
def index() -> str:
    """The console's first page: what is coming up and what is still a draft."""
    upcoming = queries.list_events("upcoming")
    return render_template(
        "admin/index.html",
        upcoming=[event for event in upcoming if not event.is_draft][:10],
        drafts=[event for event in upcoming if event.is_draft],
        failed_mail=outbox.count_failed() if current_user.is_admin else 0,
    )


@bp.route("/events")
def events() -> str:
    which = request.args.get("show", "all")
    if which not in queries.EVENT_LIST_FILTERS:
        abort(400)
    return render_template(
        "admin/events/list.html",
        events=queries.list_events(which),
        which=which,
        filters=queries.EVENT_LIST_FILTERS,
    )


@bp.route("/events/new", methods=["GET", "POST"])
@resumable
def event_new() -> Any:
    form = _event_form()
    if request.method == "GET":
        form.accepts_registrations.data = True
        return _render_event_form(form, None)
    if _is_preview():
        form.validate()
        return _render_event_form(form, None, preview=True, resumed="_resume" in request.form)
    if not form.validate_on_submit():
        return _render_event_form(form, None, 400)
    try:
        event = services.create_event(form.to_data())
    except ServiceError as error:
        show_on_form(form, error)
        return _render_event_form(form, None, error.http_status)
    flash(_("The event was saved as a draft. Publish it when it is ready."), "success")
    return redirect(url_for("admin.event_detail", event_id=event.id))


@bp.route(EVENT_URL)
def event_detail(event_id: int) -> str:
    event = queries.get_event(event_id)
    audit_entries = recent_entries(event_id=event.id, limit=10)[0] if current_user.is_admin else []
    links = [
        (url_for(endpoint, event_id=event.id), label)
        for endpoint, label in ATTENDEE_PAGES
        if endpoint in current_app.view_functions
    ]
    return render_template(
        "admin/events/detail.html",
        event=event,
        links=links,
        audit_entries=audit_entries,
        action_labels=ACTION_LABELS,
        form=ConfirmForm(),
    )


@bp.route(EVENT_URL + "/edit", methods=["GET", "POST"])
@resumable
def event_edit(event_id: int) -> Any:
    event = queries.get_event(event_id)
    form = _event_form()
    form.times_fixed = event.has_sessions  # a course's dates are its sessions'
    if request.method == "GET":
        form.fill_from_event(event)
        return _render_event_form(form, event)
    if _is_preview():
        form.validate()
        return _render_event_form(form, event, preview=True, resumed="_resume" in request.form)
    if not form.validate_on_submit():
        return _render_event_form(form, event, 400)
    notify = {"yes": True, "no": False}.get(request.form.get("notify", ""))
    data = form.to_data()
    if event.has_several_frames:
        data.capacity = event.capacity  # not on the form: each frame has its own seats
    if event.has_sessions:  # not on the form: the sessions page changes them
        data.starts_at, data.ends_at, data.is_all_day = (
            event.starts_at,
            event.ends_at,
            event.is_all_day,
        )
    try:
        result = services.update_event(event_id, data, notify=notify)
    except services.NotifyChoiceNeeded as choice:
        return _render_event_form(
            form,
            queries.get_event(event_id),
            changes=choice.changes,
            registrant_count=choice.registrant_count,
        )
    except ServiceError as error:
        show_on_form(form, error)
        return _render_event_form(form, queries.get_event(event_id), error.http_status)
    flash(_("Your changes were saved."), "success")
    if result.notified:
        flash(_("Registrants to be told by email: %(count)d.", count=result.notified), "success")
    if result.promoted:
        flash(
            _(
                "Seats given to people on the waiting list: %(count)d. They will be told by email.",
                count=result.promoted,
            ),
            "success",
        )
    return redirect(url_for("admin.event_detail", event_id=event_id))


def _status_action(event_id: int, action: Any, message: str) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        action(event_id)
    except ServiceError as error:
        flash_error(error)
    else:
        flash(message, "success")
    return redirect(url_for("admin.event_detail", event_id=event_id))


@bp.route(EVENT_URL + "/publish", methods=["POST"])
def event_publish(event_id: int) -> Any:
    return _status_action(
        event_id, services.publish_event, _("The event is now published on the site.")
    )


@bp.route(EVENT_URL + "/unpublish", methods=["POST"])
def event_unpublish(event_id: int) -> Any:
    return _status_action(
        event_id,
        services.unpublish_event,
        _("The event is no longer shown on the site. It is a draft again."),
    )


@bp.route(EVENT_URL + "/duplicate", methods=["POST"])
def event_duplicate(event_id: int) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    copy = services.duplicate_event(event_id)
    flash(
        _(
            "A draft copy was made for the same weekday next month. Check the date, time "
            "and text, then save and publish it."
        ),
        "success",
    )
    return redirect(url_for("admin.event_edit", event_id=copy.id))


@bp.route(EVENT_URL + "/series", methods=["GET", "POST"])
@resumable
def event_series(event_id: int) -> Any:
    """Make a series of draft events from this one: the rule, a preview of its dates,
    then the events (events/series.py)."""
    event = queries.get_event(event_id)
    form = SeriesForm(frequencies=series.rule_choices(event.starts_at))

    def page(
        status: int = 200, plan: series.SeriesPlan | None = None, changed: bool = False
    ) -> tuple[str, int]:
        if plan is not None:
            form.previewed.data = plan.fingerprint
        html = render_template(
            "admin/events/series.html",
            event=event,
            form=form,
            plan=plan,
            changed=changed,
            resumed="_resume" in request.form,
            max_events=series.MAX_EVENTS,
        )
        return html, status

    if request.method == "GET" or "_resume" in request.form:
        return page()
    if not form.validate_on_submit():
        return page(400)
    try:
        plan = series.preview_series(event_id, form.to_rule())
        if "create" not in request.form:
            return page(plan=plan)
        if form.previewed.data != plan.fingerprint:
            # The rule was changed after the preview (or the event moved): show the
            # dates that would be made now, and make nothing.
            return page(plan=plan, changed=True)
        copies = series.create_series(event_id, form.to_rule())
    except ServiceError as error:
        show_on_form(form, error)
        return page(error.http_status)
    if len(copies) == 1:
        message = _(
            "A draft event was made: %(title)s. Check it and publish it when it is ready.",
            title=copies[0].title,
        )
    else:
        message = _(
            "%(count)d draft events were made: %(first)s to %(last)s. Check each one and "
            "publish it when it is ready.",
            count=len(copies),
            first=copies[0].title,
            last=copies[-1].title,
        )
    flash(message, "success")
    return redirect(url_for("admin.events", show="draft"))


@bp.route(EVENT_URL + "/cancel", methods=["GET", "POST"])
@resumable
def event_cancel(event_id: int) -> Any:
    event = queries.get_event(event_id)
    form = CancelEventForm()
    resumed = "_resume" in request.form
    if request.method == "GET" or resumed or event.is_cancelled:
        status = 409 if event.is_cancelled and request.method == "POST" else 200
        return render_template(
            "admin/events/cancel.html", event=event, form=form, resumed=resumed
        ), status
    if form.validate_on_submit():
        try:
            count = services.cancel_event(event_id, form.reason.data, form.reason_en.data or "")[1]
        except ServiceError as error:
            show_on_form(form, error)
        else:
            message = _(
                "The event was cancelled. Registrants to be told by email: %(count)d.", count=count
            )
            flash(message, "success")
            return redirect(url_for("admin.event_detail", event_id=event_id))
    event = queries.get_event(event_id)
    return render_template("admin/events/cancel.html", event=event, form=form), 400
