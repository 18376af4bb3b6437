"""An event's own questions on its registration form: the office adds, rewords,
reorders and removes them; the form reads them with ``form_questions`` and
``questions_for``.

Every change runs under the event row lock, the lock a sign-up takes, and raises
``Event.questions_revision``: a sign-up checked against the questions as they were
before is refused (``answers.QuestionsChanged``) rather than stored against questions
it never saw. ``Event.question_count`` counts the questions on the form, so a sign-up
for an event without questions reads none. A question that people answered is never
deleted: removing it takes it off the form (``removed_at``) and keeps the answers.

A question is for everyone (``frame_id`` NULL) or for one participation frame of the
event: it is asked only of people who sign up for that frame (``questions_for``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import joinedload

from cluster_events import audit
from cluster_events.database import utcnow
from cluster_events.errors import Conflict, Message, NotFound, ServiceError
from cluster_events.extensions import db
from cluster_events.models import Event, EventQuestion, Frame, QuestionKind, RegistrationAnswer
from cluster_events.transactions import write_transaction

LABEL_MAX_LENGTH = 200
HELP_MAX_LENGTH = 500
CHOICE_MAX_LENGTH = 100
MAX_CHOICES = 30
#: More would make a form nobody finishes; the limit also bounds a sign-up's work.
MAX_QUESTIONS = 20


class QuestionNotFound(NotFound):
    default_message = _l("This question could not be found.")


NOT_A_FRAME = _l("Choose every participation frame, or one of this event's frames.")


@dataclass(frozen=True)
class QuestionData:
    """A question as the office writes it, already trimmed by the form. ``choices`` are
    (Japanese, English) pairs in order; the English may be empty."""

    kind: str
    label_ja: str
    label_en: str = ""
    help_ja: str = ""
    help_en: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    is_required: bool = False
    #: The participation frame whose registrants it asks (one of the event's); None:
    #: everyone.
    frame_id: int | None = None


@dataclass(frozen=True)
class QuestionRow:
    """A question on the console's list, with how many people answered it."""

    question: EventQuestion
    answer_count: int


def questions_for(event: Event, frame_id: int | None) -> list[EventQuestion]:
    """The questions asked of someone who signs up for the participation frame
    ``frame_id``, in order: those for everyone and those of that frame (None: no frame,
    so those for everyone only). None for an event without questions, and then no
    statement is sent. The same rule on questions already read:
    ``EventQuestion.applies_to``."""
    if not event.question_count:
        return []
    return list(
        db.session.scalars(
            _on_the_form(event.id).where(
                or_(EventQuestion.frame_id.is_(None), EventQuestion.frame_id == frame_id)
            )
        )
    )


def form_questions(event: Event) -> list[EventQuestion]:
    """Every question on the registration form, in order, whichever frame it is for:
    the form shows them all (each frame's labelled with its frame) and checks those of
    the frame chosen. None, and no statement, for an event without questions."""
    if not event.question_count:
        return []
    return list(db.session.scalars(_on_the_form(event.id)))


def _on_the_form(event_id: int) -> Select[tuple[EventQuestion]]:
    return (
        select(EventQuestion)
        .where(EventQuestion.event_id == event_id, EventQuestion.removed_at.is_(None))
        .order_by(EventQuestion.position, EventQuestion.id)
    )


def console_questions(event_id: int) -> tuple[list[QuestionRow], list[QuestionRow]]:
    """The questions on the form in order, and the removed ones whose answers are kept,
    each with its number of answers (one query)."""
    answers = (
        select(func.count(RegistrationAnswer.id))
        .where(RegistrationAnswer.question_id == EventQuestion.id)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(EventQuestion, answers)
        .options(joinedload(EventQuestion.frame))
        .where(EventQuestion.event_id == event_id)
        .order_by(EventQuestion.position, EventQuestion.id)
    ).all()
    current = [QuestionRow(q, n) for q, n in rows if q.removed_at is None]
    removed = [QuestionRow(q, n) for q, n in rows if q.removed_at is not None]
    return current, removed


def get_question(event_id: int, question_id: int) -> EventQuestion:
    """A question of this event that is still on the form; QuestionNotFound otherwise."""
    question = db.session.get(EventQuestion, question_id)
    if question is None or question.event_id != event_id or question.removed_at is not None:
        raise QuestionNotFound()
    return question


def answer_count(question_id: int) -> int:
    return db.session.scalar(
        select(func.count(RegistrationAnswer.id)).where(
            RegistrationAnswer.question_id == question_id
        )
    )


def add_question(event_id: int, data: QuestionData) -> EventQuestion:
    """Add a question at the end of the form."""
    with write_transaction(lock_event=event_id) as event:
        assert event is not None
        _validate(data, event)
        if event.question_count >= MAX_QUESTIONS:
            raise Conflict(
                _l("An event can have at most %(count)d questions.", count=MAX_QUESTIONS)
            )
        question = EventQuestion(event_id=event_id, position=event.question_count + 1)
        _apply(question, data, previous_choices=[])
        db.session.add(question)
        event.question_count += 1
        event.questions_revision += 1
        db.session.flush()
        audit.record_change(
            "event_question.add",
            "event_question",
            question.id,
            event_id=event_id,
            after=_snapshot(question, event),
        )
    return question


def update_question(event_id: int, question_id: int, data: QuestionData) -> EventQuestion:
    """Change a question's wording, choices or whether it is required. People who
    answered keep the wording they answered; the kind stays once anyone answered."""
    with write_transaction(lock_event=event_id) as event:
        assert event is not None
        question = _locked_question(event_id, question_id)
        _validate(data, event)
        if data.kind != question.kind and _has_answers(question.id):
            raise Conflict(
                field_errors={
                    "kind": _l(
                        "People have answered this question, so its kind cannot be "
                        "changed. Remove it and add a new question instead."
                    )
                }
            )
        before = _snapshot(question, event)
        _apply(question, data, previous_choices=question.choices or [])
        after = _snapshot(question, event)
        if after != before:
            event.questions_revision += 1
            audit.record_change(
                "event_question.update",
                "event_question",
                question.id,
                event_id=event_id,
                before=before,
                after=after,
                changed_only=True,
            )
    return question


def move_question(event_id: int, question_id: int, step: int) -> None:
    """Move a question one place up (``step=-1``) or down (``+1``) on the form; at
    either end nothing changes."""
    if step not in (-1, 1):
        raise ServiceError()
    with write_transaction(lock_event=event_id) as event:
        assert event is not None
        question = _locked_question(event_id, question_id)
        neighbour = db.session.scalar(
            select(EventQuestion).where(
                EventQuestion.event_id == event_id,
                EventQuestion.removed_at.is_(None),
                EventQuestion.position == question.position + step,
            )
        )
        if neighbour is None:
            return
        before = question.position
        question.position, neighbour.position = neighbour.position, question.position
        event.questions_revision += 1
        audit.record_change(
            "event_question.move",
            "event_question",
            question.id,
            event_id=event_id,
            before={"position": before},
            after={"position": question.position},
        )


def remove_question(event_id: int, question_id: int) -> bool:
    """Take a question off the form; the questions after it move up. A question that
    people answered is kept, hidden, with its answers (True); one nobody answered is
    deleted (False)."""
    with write_transaction(lock_event=event_id) as event:
        assert event is not None
        question = _locked_question(event_id, question_id)
        snapshot = _snapshot(question, event)
        position = question.position
        kept = _has_answers(question.id)
        if kept:
            question.removed_at = utcnow()
        else:
            db.session.delete(question)
        db.session.flush()
        later = db.session.scalars(
            select(EventQuestion).where(
                EventQuestion.event_id == event_id,
                EventQuestion.removed_at.is_(None),
                EventQuestion.position > position,
            )
        )
        for other in later:
            other.position -= 1
        event.question_count -= 1
        event.questions_revision += 1
        audit.record_change(
            "event_question.remove",
            "event_question",
            question_id,
            event_id=event_id,
            before=snapshot,
            after={"answers_kept": kept},
        )
    return kept


def copy_questions(source: Event, copy: Event) -> None:
    """Inside a transaction: give ``copy`` (a new event, flushed, whose frames are
    copies of ``source``'s in the same order) the questions on ``source``'s form, in
    the same order, each for the copy of its frame (for
    ``events.services.duplicate_event``)."""
    copied_frame = {
        original.id: duplicate.id
        for original, duplicate in zip(source.frames, copy.frames, strict=True)
    }
    for question in form_questions(source):
        db.session.add(
            EventQuestion(
                event_id=copy.id,
                frame_id=copied_frame[question.frame_id] if question.frame_id else None,
                kind=question.kind,
                label_ja=question.label_ja,
                label_en=question.label_en,
                help_ja=question.help_ja,
                help_en=question.help_en,
                choices=[dict(choice) for choice in question.choices or []],
                is_required=question.is_required,
                position=question.position,
            )
        )
        copy.question_count += 1
    if copy.question_count:
        copy.questions_revision += 1


def _locked_question(event_id: int, question_id: int) -> EventQuestion:
    question = db.session.scalar(
        select(EventQuestion)
        .where(EventQuestion.id == question_id)
        .execution_options(populate_existing=True)
    )
    if question is None or question.event_id != event_id or question.removed_at is not None:
        raise QuestionNotFound()
    return question


def _has_answers(question_id: int) -> bool:
    return bool(
        db.session.scalar(select(exists().where(RegistrationAnswer.question_id == question_id)))
    )


def _validate(data: QuestionData, event: Event) -> None:
    """Refuse what is wrong, each at its field. ``event`` is locked, with its frames."""
    errors: dict[str, Message] = {}
    if data.frame_id is not None and event.frame_by_id(data.frame_id) is None:
        errors["frame"] = NOT_A_FRAME
    if data.kind not in {kind.value for kind in QuestionKind}:
        errors["kind"] = _l("Choose what kind of answer the question asks for.")
    if not data.label_ja:
        errors["label_ja"] = _l("Write the question in Japanese.")
    for name, value, maximum in (
        ("label_ja", data.label_ja, LABEL_MAX_LENGTH),
        ("label_en", data.label_en, LABEL_MAX_LENGTH),
        ("help_ja", data.help_ja, HELP_MAX_LENGTH),
        ("help_en", data.help_en, HELP_MAX_LENGTH),
    ):
        if len(value) > maximum and name not in errors:
            errors[name] = _l("Keep this within %(max)d characters.", max=maximum)
    if "kind" not in errors and QuestionKind(data.kind).has_choices:
        problem = _choices_problem(data.choices)
        if problem is not None:
            errors["choices"] = problem
    if errors:
        raise ServiceError(field_errors=errors)


def _choices_problem(choices: Sequence[tuple[str, str]]) -> Message | None:
    if len(choices) < 2:
        return _l("Write at least two choices, one per line.")
    if len(choices) > MAX_CHOICES:
        return _l("Write at most %(count)d choices.", count=MAX_CHOICES)
    if any(not ja for ja, _en in choices):
        return _l("Every choice needs its Japanese wording.")
    if any(len(ja) > CHOICE_MAX_LENGTH or len(en) > CHOICE_MAX_LENGTH for ja, en in choices):
        return _l("Keep each choice within %(max)d characters.", max=CHOICE_MAX_LENGTH)
    if len({ja for ja, _en in choices}) < len(choices):
        return _l("Two choices have the same wording.")
    return None


def _apply(
    question: EventQuestion, data: QuestionData, previous_choices: list[dict[str, str]]
) -> None:
    question.kind = data.kind
    question.label_ja = data.label_ja
    question.label_en = data.label_en
    question.help_ja = data.help_ja
    question.help_en = data.help_en
    question.is_required = data.is_required
    question.frame_id = data.frame_id
    has_choices = QuestionKind(data.kind).has_choices
    question.choices = _keyed(data.choices, previous_choices) if has_choices else []


def _keyed(
    choices: Sequence[tuple[str, str]], previous: list[dict[str, str]]
) -> list[dict[str, str]]:
    """Choices with their keys (what the form sends): a choice whose Japanese wording
    was there before keeps its key, a new one gets a key above every key it has now."""
    keys = {choice["ja"]: choice["key"] for choice in previous}
    next_key = max((int(choice["key"]) for choice in previous), default=0) + 1
    keyed = []
    for ja, en in choices:
        key = keys.get(ja)
        if key is None:
            key, next_key = str(next_key), next_key + 1
        keyed.append({"key": key, "ja": ja, "en": en})
    return keyed


def _snapshot(question: EventQuestion, event: Event) -> dict[str, Any]:
    """What the audit log keeps of a question (choices as "ja / en" lines; its frame
    by its Japanese name, None for everyone)."""
    frame: Frame | None = (
        event.frame_by_id(question.frame_id) if question.frame_id is not None else None
    )
    return {
        "kind": question.kind,
        "label_ja": question.label_ja,
        "label_en": question.label_en,
        "help_ja": question.help_ja,
        "help_en": question.help_en,
        "choices": "\n".join(f"{c['ja']} / {c['en']}" for c in question.choices or []),
        "is_required": question.is_required,
        "position": question.position,
        "frame": frame.name_ja if frame is not None else None,
    }
