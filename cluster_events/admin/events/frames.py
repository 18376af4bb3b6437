"""Console pages for an event's participation frames (参加枠): the list with each
frame's seats, adding, changing, reordering and removing frames, the invitation codes
of a frame, and a lottery frame's draw (「抽選する」) and its check. They parse, call
events/frames.py or registration/lottery.py, and show the result."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cluster_events.admin.access import parse_id, resumable
from cluster_events.admin.blueprint import bp
from cluster_events.admin.events.forms import FrameForm, InvitationCodeForm
from cluster_events.admin.forms import ConfirmForm
from cluster_events.errors import ServiceError, flash_error, show_on_form
from cluster_events.events import frames as frame_services
from cluster_events.events.queries import get_event
from cluster_events.models import Event, Frame
from cluster_events.registration import lottery
from cluster_events.registration.frames import code_uses, formatted_code
from cluster_events.registration.labels import (
    ELIGIBILITY_LABELS,
    LOTTERY_RESULT_LABELS,
    SELECTION_LABELS,
    translated,
)

FRAMES_URL = "/events/<int:event_id>/frames"
FRAME_URL = FRAMES_URL + "/<int:frame_id>"


def _frame_of(event: Event, frame_id: int) -> Frame:
    frame = event.frame_by_id(frame_id)
    if frame is None:
        abort(404)
    return frame


def _frames_page(event: Event, form: FrameForm, status: int = 200, **context: Any) -> Any:
    page = render_template(
        "admin/events/frames.html",
        event=event,
        form=form,
        action_form=ConfirmForm(),
        eligibility_labels=translated(ELIGIBILITY_LABELS),
        selection_labels=translated(SELECTION_LABELS),
        entries=lottery.entry_counts([f.id for f in event.frames if f.takes_entries]),
        **context,
    )
    return page, status


@bp.route(FRAMES_URL, methods=["GET", "POST"])
@resumable
def event_frames(event_id: int) -> Any:
    """The event's frames, and the form that adds one."""
    event = get_event(event_id)
    form = FrameForm()
    if request.method == "GET":
        return _frames_page(event, FrameForm(formdata=None))
    if "_resume" in request.form:
        return _frames_page(event, form, resumed=True)
    if not form.validate_on_submit():
        return _frames_page(event, form, 400)
    try:
        frame = frame_services.add_frame(event_id, form.to_data())
    except ServiceError as error:
        show_on_form(form, error)
        return _frames_page(get_event(event_id), form, error.http_status)
    flash(_("The frame %(name)s was added.", name=frame.name_ja), "success")
    return redirect(url_for("admin.event_frames", event_id=event_id))


def _frame_page(
    event: Event,
    frame: Frame,
    form: FrameForm,
    code_form: InvitationCodeForm,
    status: int = 200,
    **context: Any,
) -> Any:
    page = render_template(
        "admin/events/frame.html",
        event=event,
        frame=frame,
        form=form,
        code_form=code_form,
        action_form=ConfirmForm(),
        uses=code_uses([frame.id]),
        formatted_code=formatted_code,
        entries=lottery.entry_counts([frame.id]).get(frame.id, 0),
        draw=lottery.draw_of(frame.id) if frame.drawn_at is not None else None,
        draw_is_due=lottery.is_due(frame),
        **context,
    )
    return page, status


def _filled_form(frame: Frame) -> FrameForm:
    form = FrameForm(formdata=None)
    form.fill_from_frame(frame_services.FrameData.from_frame(frame))
    return form


@bp.route(FRAME_URL, methods=["GET", "POST"])
@resumable
def event_frame(event_id: int, frame_id: int) -> Any:
    """Change one frame; its invitation codes below."""
    event = get_event(event_id)
    frame = _frame_of(event, frame_id)
    code_form = InvitationCodeForm(formdata=None)
    if request.method == "GET":
        return _frame_page(event, frame, _filled_form(frame), code_form)
    form = FrameForm()
    if "_resume" in request.form:
        return _frame_page(event, frame, form, code_form, resumed=True)
    if not form.validate_on_submit():
        return _frame_page(event, frame, form, code_form, 400)
    try:
        result = frame_services.update_frame(event_id, frame_id, form.to_data())
    except ServiceError as error:
        show_on_form(form, error)
        event = get_event(event_id)
        return _frame_page(event, _frame_of(event, frame_id), form, code_form, error.http_status)
    flash(_("Your changes were saved."), "success")
    if result.promoted:
        flash(
            _(
                "Seats given to people on the waiting list: %(count)d. They will be told by email.",
                count=result.promoted,
            ),
            "success",
        )
    return redirect(url_for("admin.event_frames", event_id=event_id))


def _confirmed() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


@bp.post(FRAME_URL + "/move")
def event_frame_move(event_id: int, frame_id: int) -> Any:
    _confirmed()
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        abort(400)
    try:
        frame_services.move_frame(event_id, frame_id, -1 if direction == "up" else 1)
    except ServiceError as error:
        flash_error(error)
    return redirect(url_for("admin.event_frames", event_id=event_id))


@bp.post(FRAME_URL + "/remove")
def event_frame_remove(event_id: int, frame_id: int) -> Any:
    _confirmed()
    try:
        frame_services.remove_frame(event_id, frame_id)
    except ServiceError as error:
        flash_error(error)
    else:
        flash(_("The frame was removed."), "success")
    return redirect(url_for("admin.event_frames", event_id=event_id))


@bp.post(FRAME_URL + "/codes")
@resumable
def event_frame_code_add(event_id: int, frame_id: int) -> Any:
    event = get_event(event_id)
    frame = _frame_of(event, frame_id)
    code_form = InvitationCodeForm()
    if "_resume" in request.form:
        return _frame_page(event, frame, _filled_form(frame), code_form, resumed=True)
    if not code_form.validate_on_submit():
        return _frame_page(event, frame, _filled_form(frame), code_form, 400)
    try:
        invitation = frame_services.add_invitation_code(event_id, frame_id, code_form.to_data())
    except ServiceError as error:
        show_on_form(code_form, error, default_field="code")
        event = get_event(event_id)
        frame = _frame_of(event, frame_id)
        return _frame_page(event, frame, _filled_form(frame), code_form, error.http_status)
    flash(_("The code %(code)s was added.", code=formatted_code(invitation.code)), "success")
    return redirect(url_for("admin.event_frame", event_id=event_id, frame_id=frame_id))


@bp.post(FRAME_URL + "/codes/remove")
def event_frame_code_remove(event_id: int, frame_id: int) -> Any:
    _confirmed()
    code_id = parse_id(request.form.get("code_id", ""))
    if code_id is None:
        abort(400)
    try:
        frame_services.remove_invitation_code(event_id, frame_id, code_id)
    except ServiceError as error:
        flash_error(error)
    else:
        flash(_("The code was removed."), "success")
    return redirect(url_for("admin.event_frame", event_id=event_id, frame_id=frame_id))


@bp.post(FRAME_URL + "/draw")
def event_frame_draw(event_id: int, frame_id: int) -> Any:
    """「抽選する」: draw a lottery frame after its deadline. A refusal (too early, drawn
    already) is the frame's page again with the reason, in its status (409)."""
    _confirmed()
    try:
        outcome = lottery.draw_frame(
            frame_id, event_id=event_id, organizer_id=current_user.organizer.id
        )
    except ServiceError as error:
        event = get_event(event_id)
        frame = _frame_of(event, frame_id)
        return _frame_page(
            event,
            frame,
            _filled_form(frame),
            InvitationCodeForm(formdata=None),
            error.http_status,
            draw_error=error.message,
        )
    flash(
        _(
            "The lottery was drawn: %(winners)d won a seat, %(waiting)d are on the waiting "
            "list. Everyone will be told by email.",
            winners=outcome.winners,
            waiting=outcome.waiting,
        ),
        "success",
    )
    return redirect(url_for("admin.event_frame", event_id=event_id, frame_id=frame_id))


@bp.get(FRAME_URL + "/lottery")
def event_frame_lottery(event_id: int, frame_id: int) -> Any:
    """A drawn lottery recomputed from its record: seed, digest, order and results."""
    event = get_event(event_id)
    frame = _frame_of(event, frame_id)
    if frame.drawn_at is None:
        flash(_("The lottery has not been drawn yet, so there is nothing to check."), "info")
        return redirect(url_for("admin.event_frame", event_id=event_id, frame_id=frame_id))
    result = lottery.verify_draw(frame.id)
    names = lottery.entry_names(result.draw)
    return render_template(
        "admin/events/lottery.html",
        event=event,
        frame=frame,
        result=result,
        names=names,
        result_labels=translated(LOTTERY_RESULT_LABELS),
    )
