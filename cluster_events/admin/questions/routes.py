"""Console pages for an event's own questions: the list, add, edit, move up or down,
and remove. They parse, call registration/questions.py, and show the result."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cluster_events.admin.access import resumable
from cluster_events.admin.blueprint import bp
from cluster_events.admin.forms import ConfirmForm
from cluster_events.admin.questions.forms import QuestionForm
from cluster_events.errors import ServiceError, flash_error, show_on_form
from cluster_events.events.queries import get_event
from cluster_events.models import Event, EventQuestion
from cluster_events.registration import questions
from cluster_events.registration.labels import QUESTION_KIND_LABELS, translated

QUESTIONS_URL = "/events/<int:event_id>/questions"
QUESTION_URL = QUESTIONS_URL + "/<int:question_id>"
_STEPS = {"up": -1, "down": 1}


def _is_submission() -> bool:
    """A POST of the form itself, not the login page handing back a resumed form."""
    return request.method == "POST" and "_resume" not in request.form


def _back_to_list(event_id: int, question_id: int | None = None) -> Any:
    anchor = f"question-{question_id}" if question_id else None
    return redirect(url_for("admin.event_questions", event_id=event_id, _anchor=anchor))


@bp.get(QUESTIONS_URL)
def event_questions(event_id: int) -> str:
    event = get_event(event_id)
    current, removed = questions.console_questions(event_id)
    return render_template(
        "admin/questions/list.html",
        event=event,
        current=current,
        removed=removed,
        kind_labels=translated(QUESTION_KIND_LABELS),
        form=ConfirmForm(),
    )


def _form_page(
    event: Event,
    form: QuestionForm,
    question: EventQuestion | None = None,
    status: int = 200,
) -> tuple[str, int]:
    form.offer_frames(event)
    page = render_template(
        "admin/questions/form.html",
        event=event,
        form=form,
        question=question,
        answer_count=questions.answer_count(question.id) if question else 0,
    )
    return page, status


@bp.route(QUESTIONS_URL + "/new", methods=["GET", "POST"])
@resumable
def event_question_new(event_id: int) -> Any:
    event = get_event(event_id)
    form = QuestionForm()
    if not _is_submission():
        return _form_page(event, form)
    if not form.validate_on_submit():
        return _form_page(event, form, status=400)
    try:
        question = questions.add_question(event_id, form.to_data())
    except ServiceError as error:
        show_on_form(form, error)
        return _form_page(event, form, status=error.http_status)
    flash(_("The question was added to the registration form."), "success")
    return _back_to_list(event_id, question.id)


@bp.route(QUESTION_URL + "/edit", methods=["GET", "POST"])
@resumable
def event_question_edit(event_id: int, question_id: int) -> Any:
    event = get_event(event_id)
    question = questions.get_question(event_id, question_id)
    form = QuestionForm()
    if request.method == "GET":
        form.fill_from(question)
    if not _is_submission():
        return _form_page(event, form, question)
    if not form.validate_on_submit():
        return _form_page(event, form, question, 400)
    try:
        questions.update_question(event_id, question_id, form.to_data())
    except ServiceError as error:
        show_on_form(form, error)
        return _form_page(
            event, form, questions.get_question(event_id, question_id), error.http_status
        )
    flash(_("The question was saved."), "success")
    return _back_to_list(event_id, question_id)


@bp.post(QUESTION_URL + "/move")
def event_question_move(event_id: int, question_id: int) -> Any:
    get_event(event_id)
    step = _STEPS.get(request.form.get("direction", ""))
    if not ConfirmForm().validate_on_submit() or step is None:
        abort(400)
    try:
        questions.move_question(event_id, question_id, step)
    except ServiceError as error:
        flash_error(error)
    return _back_to_list(event_id, question_id)


@bp.post(QUESTION_URL + "/remove")
def event_question_remove(event_id: int, question_id: int) -> Any:
    get_event(event_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        kept = questions.remove_question(event_id, question_id)
    except ServiceError as error:
        flash_error(error)
    else:
        if kept:
            flash(
                _(
                    "The question was taken off the form. The answers already given are "
                    "kept and still shown on the attendee pages and in the exports."
                ),
                "success",
            )
        else:
            flash(_("The question was removed from the form."), "success")
    return _back_to_list(event_id)
