"""Attendee pages of the console: list, one registration, check-in at the door, exports,
the printed roster, messages to registrants and the purge of personal data.

Views parse the request, call the registration services (registration/services.py,
attendees.py, checkin.py, messages.py, exports.py, purge.py) and show the result.
"""

from __future__ import annotations

import io
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from cluster_events.admin.access import admin_required, parse_id, resumable
from cluster_events.admin.attendees.forms import (
    AddRegistrationForm,
    ContactForm,
    MessageForm,
    MoveFrameForm,
    NoteForm,
    parse_filter,
    search_form,
)
from cluster_events.admin.blueprint import bp
from cluster_events.admin.forms import ConfirmForm
from cluster_events.admin.mail import routes as mail_screens
from cluster_events.calendar.ical import event_to_ical
from cluster_events.errors import ServiceError, flash_error, show_on_form
from cluster_events.events.queries import get_event
from cluster_events.i18n import current_locale
from cluster_events.models import Event, Registration, RegistrationStatus
from cluster_events.registration import answers, exports, messages, purge, services
from cluster_events.registration import attendees as attendee_list
from cluster_events.registration import checkin as door
from cluster_events.registration.labels import (
    LANGUAGE_NAMES,
    LOTTERY_RESULT_LABELS,
    MEMBER_TYPE_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    translated,
)
from cluster_events.registration.tokens import registration_by_checkin_code
from cluster_events.security_headers import token_in_url

EVENT_URL = "/events/<int:event_id>"
ATTENDEE_URL = EVENT_URL + "/attendees/<int:registration_id>"


def _registration_of(event_id: int, registration_id: int) -> tuple[Event, Registration]:
    return get_event(event_id), attendee_list.get_registration(event_id, registration_id)


def _organizer_id() -> int:
    return current_user.organizer.id


def _page(template: str, event: Event, **context: Any) -> str:
    event_page = (
        url_for("admin.event_detail", event_id=event.id)
        if "admin.event_detail" in current_app.view_functions
        else None
    )
    return render_template(
        f"admin/attendees/{template}",
        event=event,
        event_page_url=event_page,
        counts=attendee_list.count_attendees(event.id),
        lottery_result_labels=translated(LOTTERY_RESULT_LABELS),
        **context,
    )


# The list and one registration -----------------------------------------------------------


@bp.get(EVENT_URL + "/attendees")
def attendees(event_id: int) -> Any:
    """The attendee list, searched, filtered and sorted with GET parameters. Search words
    with a control character are refused beside the box, and the list is not searched."""
    event = get_event(event_id)
    search = search_form(request.args)
    attendee_filter = parse_filter(request.args, search)
    page = _page(
        "list.html",
        event,
        search=search,
        attendee_filter=attendee_filter,
        registrations=attendee_list.list_attendees(event_id, attendee_filter),
        frames=event.frames,
        status_labels=translated(STATUS_LABELS),
        member_type_labels=translated(MEMBER_TYPE_LABELS),
        membership_labels=attendee_list.membership_labels(),
        membership_of=attendee_list.membership_of,
        decision_form=ConfirmForm(),
    )
    return page, 400 if search.errors else 200


def _resumed() -> bool:
    """A POST coming back after a new login (see admin.access.resumable): show, never save."""
    return request.method == "POST" and "_resume" in request.form


@bp.route(EVENT_URL + "/attendees/new", methods=["GET", "POST"])
@resumable
def attendee_add(event_id: int) -> Any:
    """A registration taken by phone or fax."""
    event = get_event(event_id)
    form = AddRegistrationForm()
    form.set_frames(event)
    if _resumed():
        return _page("add.html", event, form=form, resumed=True)
    if form.validate_on_submit():
        try:
            outcome = services.register(
                event_id,
                form.registration_details(),
                source="organizer",
                notify=form.send_confirmation.data,
                organizer_id=_organizer_id(),
                choice=form.frame_choice(),
            )
        except ServiceError as error:
            if not error.field_errors:
                flash_error(error)
            else:
                show_on_form(form, error)
                return _page("add.html", get_event(event_id), form=form), error.http_status
        else:
            registration = outcome.registration
            if not outcome.created:
                flash(_("This email address is already registered for this event."), "error")
            elif registration.status == RegistrationStatus.pending:
                flash(
                    _("%(name)s was registered, waiting for approval.", name=registration.name),
                    "success",
                )
            elif registration.status == RegistrationStatus.entered:
                flash(_("%(name)s was entered in the lottery.", name=registration.name), "success")
            elif registration.status == RegistrationStatus.waiting:
                flash(
                    _(
                        "%(name)s was added to the waiting list (number %(position)s).",
                        name=registration.name,
                        position=registration.waiting_position,
                    ),
                    "success",
                )
            else:
                flash(_("%(name)s was registered.", name=registration.name), "success")
            return redirect(
                url_for("admin.attendee_detail", event_id=event_id, registration_id=registration.id)
            )
    return _page("add.html", event, form=form)


@bp.get(ATTENDEE_URL)
def attendee_detail(event_id: int, registration_id: int) -> str:
    event, registration = _registration_of(event_id, registration_id)
    return _registration_page(event, registration)


def _registration_page(
    event: Event,
    registration: Registration,
    contact_form: ContactForm | None = None,
    note_form: NoteForm | None = None,
    status: int = 200,
    resumed: bool = False,
    move_form: MoveFrameForm | None = None,
) -> Any:
    if move_form is None:
        move_form = MoveFrameForm(formdata=None)
        move_form.set_frames(event)
    body = _page(
        "detail.html",
        event,
        registration=registration,
        contact_form=contact_form or ContactForm(obj=registration, formdata=None),
        note_form=note_form or NoteForm(obj=registration, formdata=None),
        move_form=move_form,
        action_form=ConfirmForm(),
        status_labels=translated(STATUS_LABELS),
        member_type_labels=translated(MEMBER_TYPE_LABELS),
        membership_labels=attendee_list.membership_labels(),
        membership_of=attendee_list.membership_of,
        source_labels=translated(SOURCE_LABELS),
        language_names=LANGUAGE_NAMES,
        answers=answers.shown_answers(registration, current_locale()),
        resumed=resumed,
    )
    return body, status


@bp.post(ATTENDEE_URL + "/contact")
@resumable
def attendee_update_contact(event_id: int, registration_id: int) -> Any:
    event, registration = _registration_of(event_id, registration_id)
    form = ContactForm()
    if _resumed():
        return _registration_page(event, registration, contact_form=form, resumed=True)
    if not form.validate():
        return _registration_page(event, registration, contact_form=form, status=400)
    try:
        attendee_list.update_contact(event_id, registration_id, form.contact_details())
    except ServiceError as error:
        show_on_form(form, error, default_field="email")
        registration = attendee_list.get_registration(event_id, registration_id)
        return _registration_page(event, registration, contact_form=form, status=error.http_status)
    flash(_("The contact details were saved."), "success")
    return _back_to_detail(event_id, registration_id)


@bp.post(ATTENDEE_URL + "/note")
@resumable
def attendee_update_note(event_id: int, registration_id: int) -> Any:
    event, registration = _registration_of(event_id, registration_id)
    form = NoteForm()
    if _resumed():
        return _registration_page(event, registration, note_form=form, resumed=True)
    if not form.validate():
        return _registration_page(event, registration, note_form=form, status=400)
    try:
        attendee_list.update_note(event_id, registration_id, form.organizer_note.data)
    except ServiceError as error:
        flash_error(error)
    else:
        flash(_("The note was saved."), "success")
    return _back_to_detail(event_id, registration_id)


@bp.route(ATTENDEE_URL + "/cancel", methods=["GET", "POST"])
def attendee_cancel(event_id: int, registration_id: int) -> Any:
    """Cancel after a confirmation step; the first person waiting moves up."""
    event, registration = _registration_of(event_id, registration_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate():
        notify = request.form.get("notify") == "yes"
        try:
            services.cancel_registration(
                registration_id, event_id=event_id, organizer_id=_organizer_id(), notify=notify
            )
        except ServiceError as error:
            flash_error(error)
        else:
            flash(_("The registration was cancelled."), "success")
        return _back_to_detail(event_id, registration_id)
    if request.method == "POST":
        abort(400)
    return _page("cancel.html", event, registration=registration, form=form)


@bp.post(ATTENDEE_URL + "/promote")
def attendee_promote(event_id: int, registration_id: int) -> Any:
    _registration_of(event_id, registration_id)
    if not ConfirmForm().validate():
        abort(400)
    try:
        registration = services.promote_registration(
            registration_id,
            event_id=event_id,
            organizer_id=_organizer_id(),
            notify=request.form.get("notify", "yes") == "yes",
        )
    except ServiceError as error:
        flash_error(error)
    else:
        flash(_("%(name)s now has a seat.", name=registration.name), "success")
    return _back_to_detail(event_id, registration_id)


# The office's decision on registrations that need its approval ---------------------------


def _posted_ids() -> list[int]:
    """The ticked registrations (or the one of a detail page's button); a value that is
    not an id is a forged form."""
    ids = [parse_id(value) for value in request.form.getlist("registration_id")]
    if None in ids:
        abort(400)
    return [registration_id for registration_id in ids if registration_id is not None]


def _decision_refused(event: Event, error: ServiceError, back_url: str) -> Any:
    page = _page("decision_refused.html", event, message=error.message, back_url=back_url)
    return page, error.http_status


@bp.post(EVENT_URL + "/attendees/decide")
def attendees_decide(event_id: int) -> Any:
    """Approve or decline the ticked registrations (承認 / お断り): one POST for one or
    several. Declining asks again on a page of its own first. A registration that is
    not waiting for approval refuses the whole batch with its name (409)."""
    event = get_event(event_id)
    if not ConfirmForm().validate():
        abort(400)
    decision = request.form.get("decision")
    if decision not in ("approve", "decline"):
        abort(400)
    ids = _posted_ids()
    detail_id = parse_id(request.form.get("back_to", ""))
    back_url = (
        url_for("admin.attendee_detail", event_id=event_id, registration_id=detail_id)
        if detail_id is not None
        else url_for("admin.attendees", event_id=event_id, status=RegistrationStatus.pending.value)
    )
    if decision == "decline" and request.form.get("confirmed") != "yes":
        try:
            chosen = services.pending_for_decision(event_id, ids)
        except ServiceError as error:
            return _decision_refused(event, error, back_url)
        return _page(
            "decline.html",
            event,
            registrations=chosen,
            form=ConfirmForm(),
            back_to=detail_id,
            back_url=back_url,
        )
    decide = (
        services.approve_registrations if decision == "approve" else services.decline_registrations
    )
    try:
        decided = decide(event_id, ids, organizer_id=_organizer_id())
    except ServiceError as error:
        return _decision_refused(event, error, back_url)
    if decision == "decline":
        flash(
            ngettext(
                "%(num)s registration was declined. The person is told by email.",
                "%(num)s registrations were declined. Each person is told by email.",
                len(decided),
            ),
            "success",
        )
    else:
        waiting = [r for r in decided if r.status == RegistrationStatus.waiting]
        flash(
            ngettext(
                "%(num)s registration was approved. The person is told by email.",
                "%(num)s registrations were approved. Each person is told by email.",
                len(decided),
            ),
            "success",
        )
        if waiting:
            flash(
                _(
                    "The frame had no room for these, so they are on its waiting list: %(names)s",
                    names="、".join(
                        f"{r.name} ({r.frame.name_ja} {r.waiting_position})" for r in waiting
                    ),
                ),
                "info",
            )
    return redirect(back_url)


@bp.post(ATTENDEE_URL + "/frame")
@resumable
def attendee_move_frame(event_id: int, registration_id: int) -> Any:
    """Move to another participation frame: a seat there, or (if asked) its waiting list."""
    event, registration = _registration_of(event_id, registration_id)
    form = MoveFrameForm()
    form.set_frames(event)
    if _resumed():
        return _registration_page(event, registration, move_form=form, resumed=True)
    if not form.validate():
        return _registration_page(event, registration, move_form=form, status=400)
    try:
        moved = services.move_to_frame(
            registration_id,
            form.frame.data,
            event_id=event_id,
            organizer_id=_organizer_id(),
            to_waiting_list=form.to_waiting_list.data,
            notify=form.notify.data,
        )
    except ServiceError as error:
        if not error.field_errors:
            flash_error(error)
            return _back_to_detail(event_id, registration_id)
        show_on_form(form, error)
        event, registration = _registration_of(event_id, registration_id)
        return _registration_page(event, registration, move_form=form, status=error.http_status)
    if moved.status == RegistrationStatus.waiting:
        flash(
            _(
                "%(name)s was moved to %(frame)s, on its waiting list (number %(position)s).",
                name=moved.name,
                frame=moved.frame.name_ja,
                position=moved.waiting_position,
            ),
            "success",
        )
    else:
        flash(
            _("%(name)s was moved to %(frame)s.", name=moved.name, frame=moved.frame.name_ja),
            "success",
        )
    return _back_to_detail(event_id, registration_id)


def _back_to_detail(event_id: int, registration_id: int) -> Response:
    return redirect(
        url_for("admin.attendee_detail", event_id=event_id, registration_id=registration_id)
    )


# Check-in ----------------------------------------------------------------------------------


def _door(event: Event, session_id: int | None) -> dict[str, Any]:
    """Which session the door works on (a course), and ``arrived(registration,
    companion=None)``: when that person arrived (at that session), or None."""
    session = door.door_session(event, session_id)
    if session is None:
        return {"door_session": None, "arrived": lambda r, c=None: (c or r).checked_in_at}
    arrivals = door.session_arrivals(session.id)

    def arrived(registration: Any, companion: Any = None) -> Any:
        return arrivals.get((registration.id, companion.position if companion else 0))

    return {"door_session": session, "arrived": arrived}


def _session_arg() -> int | None:
    value = request.values.get("session", "")
    session_id = parse_id(value)
    if value and session_id is None:
        abort(404)
    return session_id


@bp.get(EVENT_URL + "/check-in")
def checkin(event_id: int) -> Any:
    """The reception desk on a phone: search, then one tap per person (for a course,
    at the session chosen: today's by default)."""
    event = get_event(event_id)
    search = search_form(request.args)
    page = _page(
        "checkin.html",
        event,
        search=search,
        query=search.query,
        registrations=door.checkin_list(event_id, search.query),
        form=ConfirmForm(),
        **_door(event, _session_arg()),
    )
    return page, 400 if search.errors else 200


@bp.post(ATTENDEE_URL + "/check-in")
def attendee_check_in(event_id: int, registration_id: int) -> Any:
    _registration_of(event_id, registration_id)
    if not ConfirmForm().validate():
        abort(400)
    arrived = request.form.get("action", "arrived") != "undo"
    companion_id = parse_id(request.form.get("companion_id", ""))
    if request.form.get("companion_id") and companion_id is None:
        abort(400)
    whole_party = request.form.get("whole_party") == "yes"
    session_id = _session_arg()
    try:
        registration = door.check_in(
            event_id,
            registration_id,
            arrived=arrived,
            companion_id=companion_id,
            whole_party=whole_party,
            session_id=session_id,
        )
    except ServiceError as error:
        flash_error(error)
    else:
        name = registration.name
        if companion_id is not None:
            name = next(c.name for c in registration.companions if c.id == companion_id)
        elif whole_party and registration.companions:
            name = _("%(name)s and party", name=registration.name)
        if arrived:
            flash(_("%(name)s: arrival recorded.", name=name), "success")
        else:
            flash(_("%(name)s: arrival undone.", name=name), "success")
    back = request.form.get("back")
    if back == "checkin":
        query = request.form.get("q", "")[:100]
        return redirect(
            url_for("admin.checkin", event_id=event_id, q=query or None, session=session_id)
            + f"#registration-{registration_id}"
        )
    if back == "scan":
        code = request.form.get("code", "")
        if code:
            return redirect(url_for("admin.checkin_scan", code=code))
    return _back_to_detail(event_id, registration_id)


@bp.get("/check-in/<code>")
@token_in_url
def checkin_scan(code: str) -> str:
    """Where the QR code in a confirmation email leads. Only logged-in organizers get
    here (the blueprint sends everyone else to the login page before this runs)."""
    if parse_id(code.split("-", 1)[0]) is None:
        abort(404)  # forged; not worth a database round trip (and too big for PostgreSQL)
    registration = registration_by_checkin_code(code)
    if registration is None:
        abort(404)
    return _page(
        "scan.html",
        registration.event,
        registration=registration,
        code=code,
        form=ConfirmForm(),
        status_labels=translated(STATUS_LABELS),
    )


# Exports and print --------------------------------------------------------------------------


def _export_data(event: Event) -> tuple[list[str], list[list[object]]]:
    search = search_form(request.args)
    if search.errors:
        raise ServiceError(search.q.errors[0])
    registrations = attendee_list.list_attendees(event.id, parse_filter(request.args, search))
    return exports.attendee_table(event, registrations)


@bp.get(EVENT_URL + "/export")
def attendee_export(event_id: int) -> str:
    """Choose a format; says before the download what a Shift_JIS file would lose."""
    event = get_event(event_id)
    header, rows = _export_data(event)
    return _page(
        "export.html",
        event,
        row_count=len(rows),
        cp932=exports.cp932_report(header, rows),
        filter_args={k: v for k, v in request.args.items() if k != "lang"},
    )


@bp.get(EVENT_URL + "/attendees.csv")
def attendee_csv(event_id: int) -> Response:
    event = get_event(event_id)
    encoding = request.args.get("encoding", "utf-8")
    if encoding not in ("utf-8", "cp932"):
        abort(400)
    header, rows = _export_data(event)
    if encoding == "cp932":
        data, report = exports.to_csv_cp932(header, rows)
        replaced = report.replaced
        content_type = "text/csv; charset=shift_jis"
    else:
        data, replaced = exports.to_csv_utf8(header, rows), 0
        content_type = "text/csv; charset=utf-8"
    exports.record_export(event_id, f"csv-{encoding}", len(rows))
    response = _download(data, exports.export_filename(event, "csv"), content_type)
    response.headers["X-Replaced-Characters"] = str(replaced)
    return response


@bp.get(EVENT_URL + "/attendees.xlsx")
def attendee_xlsx(event_id: int) -> Response:
    event = get_event(event_id)
    header, rows = _export_data(event)
    data = exports.to_xlsx(event, header, rows)
    # Logged once the file exists: a file that could not be made was not taken.
    exports.record_export(event_id, "xlsx", len(rows))
    return _download(
        data,
        exports.export_filename(event, "xlsx"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@bp.get(EVENT_URL + "/event.ics")
def event_ics(event_id: int) -> Response:
    event = get_event(event_id)
    return _download(
        event_to_ical(event, include_online_link=True),
        f"{event.slug}.ics",
        "text/calendar; charset=utf-8; method=PUBLISH",
    )


def _download(data: bytes, filename: str, content_type: str) -> Response:
    # Not conditional: a file made for this request has no ranges or validators to honour.
    response = send_file(
        io.BytesIO(data), as_attachment=True, download_name=filename, conditional=False
    )
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get(EVENT_URL + "/roster")
def attendee_roster(event_id: int) -> str:
    """受付名簿: confirmed people in kana order, for printing on A4."""
    event = get_event(event_id)
    registrations = door.checkin_list(event_id)
    return _page(
        "roster.html",
        event,
        registrations=registrations,
        people=door.people_count(registrations),
        member_type_labels=translated(MEMBER_TYPE_LABELS),
        **_door(event, _session_arg()),
    )


# Messages to registrants ------------------------------------------------------------------


@bp.get(EVENT_URL + "/messages")
def event_messages(event_id: int) -> str:
    event = get_event(event_id)
    return _messages_page(event, MessageForm(formdata=None))


def _messages_page(
    event: Event, form: MessageForm, status: int = 200, resumed: bool = False
) -> Any:
    return _page(
        "messages.html",
        event,
        form=form,
        batches=messages.message_history(event.id),
        retry_form=ConfirmForm(),
        resumed=resumed,
    ), status


@bp.post(EVENT_URL + "/messages/preview")
@resumable
def event_message_preview(event_id: int) -> Any:
    event = get_event(event_id)
    form = MessageForm()
    if _resumed():
        return _messages_page(event, form, resumed=True)
    if not form.validate() or request.form.get("edit"):
        return _messages_page(event, form, status=200 if request.form.get("edit") else 400)
    audience = messages.Audience(form.audience.data)
    form.batch_key.data = form.batch_key.data or messages.new_batch_key()
    return _page(
        "message_preview.html",
        event,
        form=form,
        recipients=messages.recipients(event_id, audience),
    )


@bp.post(EVENT_URL + "/messages/send")
@resumable
def event_message_send(event_id: int) -> Any:
    event = get_event(event_id)
    form = MessageForm()
    if _resumed():
        return _messages_page(event, form, resumed=True)
    if not form.validate() or not form.batch_key.data:
        return _messages_page(event, form, status=400)
    try:
        queued = messages.send_message(
            event_id,
            messages.Audience(form.audience.data),
            form.subject.data,
            form.body.data,
            batch_key=form.batch_key.data[:20],
        )
    except ServiceError as error:
        flash_error(error)
    else:
        flash(_("The message was queued for %(count)s people.", count=len(queued)), "success")
    return redirect(url_for("admin.event_messages", event_id=event_id))


@bp.get(EVENT_URL + "/mail/failed")
def event_failed_mail(event_id: int) -> str:
    """This event's emails of every kind that could not be delivered."""
    event = get_event(event_id)
    return _page(
        "failed_mail.html",
        event,
        messages=messages.failed_mail(event_id),
        kind_labels=mail_screens.kind_labels(),
        retry_form=ConfirmForm(),
    )


@bp.post(EVENT_URL + "/messages/retry")
def event_message_retry(event_id: int) -> Any:
    """Send failed emails of this event again, of any kind: from the messages page
    and from the undelivered-email page (``back=failed``)."""
    get_event(event_id)
    if not ConfirmForm().validate():
        abort(400)
    ids = mail_screens.posted_message_ids()
    retried = messages.retry_failed(event_id, ids) if ids != [] else 0
    mail_screens.flash_retried(retried)
    back = "admin.event_failed_mail" if request.form.get("back") == "failed" else None
    return redirect(url_for(back or "admin.event_messages", event_id=event_id))


# Personal data -----------------------------------------------------------------------------


@bp.route(EVENT_URL + "/purge", methods=["GET", "POST"])
@admin_required
def event_purge(event_id: int) -> Any:
    """Delete the personal data of one past event's registrations, after a confirmation."""
    event = get_event(event_id)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate():
            abort(400)
        try:
            purged = purge.purge_event(event_id)
        except ServiceError as error:
            flash_error(error)
        else:
            flash(
                _("The personal data of %(count)s registrations was deleted.", count=purged),
                "success",
            )
        return redirect(url_for("admin.attendees", event_id=event_id))
    return _page(
        "purge.html",
        event,
        form=form,
        has_ended=purge.event_has_ended(event),
        retention_days=current_app.config["PERSONAL_DATA_RETENTION_DAYS"],
    )
