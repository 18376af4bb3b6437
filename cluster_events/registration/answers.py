"""Answers to an event's questions: checked against the questions the form showed,
kept with the registration as worded when answered, and read back for the personal
page, the emails, the console and the exports.

An answer holds its own copy of the question's wording and of the chosen choices'
wording, so an organizer may reword, reorder or remove a question after people have
answered, and each answer still reads as it was given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, or_, select
from sqlalchemy import insert as sa_insert

from cluster_events.errors import Conflict, Message, ServiceError
from cluster_events.extensions import db
from cluster_events.models import (
    Event,
    EventQuestion,
    Frame,
    QuestionKind,
    Registration,
    RegistrationAnswer,
)
from cluster_events.text import has_forbidden_characters

SHORT_TEXT_MAX_LENGTH = 200
LONG_TEXT_MAX_LENGTH = 2000
#: The stored value of a ticked agreement.
AGREED = "yes"
AGREED_TEXT = _l("Agreed")


class QuestionsChanged(Conflict):
    """The office changed the event's questions while the form was being filled in."""

    default_message = _l(
        "The questions on this form were changed while you were filling it in. "
        "Please check your answers and send the form again."
    )


@dataclass(frozen=True)
class Localised:
    """A text in the reader's language, or in Japanese when the office wrote no
    English (``fallback``: the page marks it ``lang="ja"``)."""

    text: str | LazyString
    fallback: bool = False

    def __str__(self) -> str:
        return str(self.text)


def localised(ja: str, en: str, locale: str) -> Localised:
    if locale != "en":
        return Localised(ja)
    return Localised(en) if en else Localised(ja, fallback=bool(ja))


FIELD_PREFIX = "question_"


def field_name(question_id: int) -> str:
    """The form field of a question (and the key of its errors)."""
    return f"{FIELD_PREFIX}{question_id}"


def sends_answers(form_names: Iterable[str]) -> bool:
    """Whether a posted form holds any question's field (a form of an event that asks
    questions nearly always does: a text field is sent even when empty)."""
    return any(name.startswith(FIELD_PREFIX) for name in form_names)


# Checking what was sent ----------------------------------------------------------------


@dataclass(frozen=True)
class AnswerDraft:
    """One checked answer, with the question's wording copied from it."""

    question_id: int
    position: int
    kind: str
    label_ja: str
    label_en: str
    value: str
    choices: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class AnswerSet:
    """The answers of one sign-up, the revision of the questions they answer, and the
    participation frame they were checked for (None: no frame, so only the questions
    for everyone were asked)."""

    revision: int
    drafts: tuple[AnswerDraft, ...]
    frame_id: int | None = None


Sent = str | Sequence[str] | bool | None

_REQUIRED: Mapping[str, LazyString] = {
    QuestionKind.short_text: _l("Please answer this question."),
    QuestionKind.long_text: _l("Please answer this question."),
    QuestionKind.one_choice: _l("Please choose one of the options."),
    QuestionKind.several_choices: _l("Please choose at least one of the options."),
    QuestionKind.agreement: _l("Please tick the box to agree."),
}
NOT_A_CHOICE = _l("Please choose from the options shown.")
FORBIDDEN = _l(
    "This contains characters that cannot be used (invisible control characters). "
    "Please check the text and send it again."
)


def checked_answers(
    revision: int,
    questions: Sequence[EventQuestion],
    sent: Mapping[int, Sent],
    *,
    frame_id: int | None = None,
) -> AnswerSet | None:
    """The answers to ``questions`` (the form's, at ``revision`` of the event's
    questions) from what was sent, by question id: text for the text kinds, a key for
    one choice, keys for several, a bool for an agreement. Unanswered questions that
    are not required give no answer. Every problem is refused at once, each at its
    question's field (``field_name``). None when the event asks no questions.

    Only the questions asked of someone signing up for ``frame_id`` are checked
    (``EventQuestion.applies_to``): another frame's are neither required nor kept,
    whatever was sent for them, and the registration must go to that frame
    (``ensure_current``)."""
    if not questions:
        return None
    drafts: list[AnswerDraft] = []
    errors: dict[str, Message] = {}
    for question in questions:
        if not question.applies_to(frame_id):
            continue
        try:
            draft = _checked(question, sent.get(question.id))
        except _Refused as refusal:
            errors[field_name(question.id)] = refusal.message
            continue
        if draft is not None:
            drafts.append(draft)
    if errors:
        raise ServiceError(field_errors=errors)
    return AnswerSet(revision, tuple(drafts), frame_id)


class _Refused(ServiceError):
    """One answer refused; ``checked_answers`` gathers them into one error, each at its
    question's field."""


def _checked(question: EventQuestion, sent: Sent) -> AnswerDraft | None:
    kind = question.question_kind
    value, chosen = "", ()
    if kind in (QuestionKind.short_text, QuestionKind.long_text):
        value = _checked_text(sent, kind)
    elif kind == QuestionKind.agreement:
        value = AGREED if sent is True else ""
    else:
        chosen = _checked_choices(question, sent)
        value = "\n".join(choice["key"] for choice in chosen)
    if not value:
        if question.is_required:
            raise _Refused(_REQUIRED[kind])
        return None
    return AnswerDraft(
        question_id=question.id,
        position=question.position,
        kind=question.kind,
        label_ja=question.label_ja,
        label_en=question.label_en,
        value=value,
        choices=chosen,
    )


def _checked_text(sent: Sent, kind: QuestionKind) -> str:
    if sent is None or isinstance(sent, bool):
        return ""
    if not isinstance(sent, str):
        raise _Refused(_REQUIRED[kind])
    single_line = kind == QuestionKind.short_text
    if has_forbidden_characters(sent, single_line=single_line):
        raise _Refused(FORBIDDEN)
    text = sent.strip()
    maximum = SHORT_TEXT_MAX_LENGTH if single_line else LONG_TEXT_MAX_LENGTH
    if len(text) > maximum:
        raise _Refused(_l("Please keep this within %(max)d characters.", max=maximum))
    return text


def _checked_choices(question: EventQuestion, sent: Sent) -> tuple[dict[str, str], ...]:
    if sent is None or sent == "" or isinstance(sent, bool):
        keys: list[str] = []
    elif isinstance(sent, str):
        keys = [sent]
    else:
        keys = list(dict.fromkeys(key for key in sent if key != ""))
    if question.kind == QuestionKind.one_choice and len(keys) > 1:
        raise _Refused(NOT_A_CHOICE)
    by_key = question.choice_by_key()
    if any(not isinstance(key, str) or key not in by_key for key in keys):
        raise _Refused(NOT_A_CHOICE)
    # In the question's order, whatever order they were sent in.
    return tuple(
        {"key": choice["key"], "ja": choice["ja"], "en": choice.get("en", "")}
        for choice in question.choices
        if choice["key"] in keys
    )


def ensure_current(
    event: Event, answers: AnswerSet | None, frame: Frame, *, required: bool
) -> None:
    """Inside the sign-up's transaction, with ``event`` locked and read afresh: the
    answers answer the event's questions as they are now, as asked of the frame the
    registration goes to (``frame``; answers checked for no frame hold those for
    everyone only). ``required``: a sign-up on the web must answer them (the office
    may add someone without). Reads nothing."""
    if answers is None:
        if required and event.question_count:
            raise QuestionsChanged()
        return
    if answers.revision != event.questions_revision:
        raise QuestionsChanged()
    if answers.frame_id is not None and answers.frame_id != frame.id:
        raise QuestionsChanged()


def insert(registration: Registration, answers: AnswerSet | None) -> None:
    """Write the answers of a registration just written: one INSERT for all of them,
    none without answers."""
    if not answers or not answers.drafts:
        return
    db.session.execute(
        sa_insert(RegistrationAnswer),
        [
            {
                "registration_id": registration.id,
                "question_id": draft.question_id,
                "position": draft.position,
                "kind": draft.kind,
                "label_ja": draft.label_ja,
                "label_en": draft.label_en,
                "value": draft.value,
                "choices": list(draft.choices),
                "created_at": registration.created_at,
            }
            for draft in answers.drafts
        ],
    )


# Reading them back ------------------------------------------------------------------------


@dataclass(frozen=True)
class ShownAnswer:
    label: Localised
    text: Localised
    #: A long text, shown with its line breaks.
    is_multiline: bool = False


def answer_text(answer: RegistrationAnswer, locale: str) -> Localised:
    """The answer as the registrant gave it: their text, the chosen choices as worded
    when they chose them, or "agreed"."""
    if answer.kind == QuestionKind.agreement:
        return Localised(AGREED_TEXT)
    if answer.kind in (QuestionKind.one_choice, QuestionKind.several_choices):
        choices = answer.choices or []
        if locale == "en" and all(choice.get("en") for choice in choices):
            return Localised(", ".join(choice["en"] for choice in choices))
        return Localised("、".join(choice["ja"] for choice in choices), fallback=locale == "en")
    return Localised(answer.value)


def shown_answers(registration: Registration, locale: str) -> list[ShownAnswer]:
    """A registration's answers in the order of the form they were given on, worded as
    they were then. Reads nothing for an event that never had questions."""
    if not registration.event.questions_revision:
        return []
    return [
        ShownAnswer(
            label=localised(answer.label_ja, answer.label_en, locale),
            text=answer_text(answer, locale),
            is_multiline=answer.kind == QuestionKind.long_text,
        )
        for answer in registration.answers
    ]


@dataclass(frozen=True)
class AnswerColumn:
    question_id: int
    header: str


def answer_columns(event: Event, locale: str) -> list[AnswerColumn]:
    """One column per question of the form, in its order, then one per removed
    question that people answered."""
    if not event.questions_revision:
        return []
    answered = exists().where(RegistrationAnswer.question_id == EventQuestion.id)
    questions = db.session.scalars(
        select(EventQuestion)
        .where(
            EventQuestion.event_id == event.id,
            or_(EventQuestion.removed_at.is_(None), answered),
        )
        .order_by(EventQuestion.removed_at.is_not(None), EventQuestion.position, EventQuestion.id)
    )
    return [
        AnswerColumn(question.id, str(localised(question.label_ja, question.label_en, locale)))
        for question in questions
    ]


def answers_by_registration(event_id: int) -> dict[int, dict[int, RegistrationAnswer]]:
    """Every answer given for the event, by registration id, then question id."""
    found: dict[int, dict[int, RegistrationAnswer]] = {}
    rows = db.session.scalars(
        select(RegistrationAnswer)
        .join(Registration, RegistrationAnswer.registration_id == Registration.id)
        .where(Registration.event_id == event_id)
    )
    for answer in rows:
        found.setdefault(answer.registration_id, {})[answer.question_id] = answer
    return found


def answer_cells(
    columns: Sequence[AnswerColumn],
    answers: Mapping[int, RegistrationAnswer],
    locale: str,
) -> list[Any]:
    """A registration's cells under ``columns`` (empty where it gave no answer)."""
    return [
        str(answer_text(answers[column.question_id], locale))
        if column.question_id in answers
        else ""
        for column in columns
    ]
