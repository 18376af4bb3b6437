"""The question form: what the office types for one question of an event's registration
form. The rules (lengths, choices, what may change once answered) are in
registration/questions.py."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import ValidationError

from cluster_events.admin.forms import strip_multiline, strip_text
from cluster_events.forms import Form
from cluster_events.models import Event, EventQuestion, QuestionKind
from cluster_events.registration.labels import QUESTION_KIND_LABELS
from cluster_events.registration.questions import QuestionData

_FRAME_ID = re.compile(r"[0-9]{1,9}")
#: The frame select's value for a question asked of everyone.
EVERY_FRAME = ""


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class QuestionForm(Form):
    kind = SelectField(
        _l("Kind of answer"),
        choices=[SelectChoice(value, label) for value, label in QUESTION_KIND_LABELS.items()],
        default=QuestionKind.short_text.value,
        # An unknown kind is refused by the service, in its own words.
        validate_choice=False,
    )
    label_ja = StringField(_l("Question (Japanese)"), filters=[strip_text])
    label_en = StringField(
        _l("Question (English)"),
        filters=[strip_text],
        description=_l("May be left empty: English pages then show the Japanese."),
    )
    help_ja = StringField(
        _l("Explanation (Japanese)"),
        filters=[strip_text],
        description=_l("Optional. Shown under the question, for example what to write."),
    )
    help_en = StringField(_l("Explanation (English)"), filters=[strip_text])
    choices = TextAreaField(
        _l("Choices (Japanese)"),
        filters=[strip_multiline],
        description=_l("Only for the kinds with choices: one choice per line, in order."),
    )
    choices_en = TextAreaField(
        _l("Choices (English)"),
        filters=[strip_multiline],
        description=_l(
            "One per line in the same order as the Japanese, or leave it empty to show "
            "the Japanese on English pages."
        ),
    )
    is_required = BooleanField(_l("An answer is required"))
    frame = SelectField(
        _l("Asked of"),
        description=_l(
            "A question for one participation frame is asked only of the people who "
            "choose that frame, and is required only of them."
        ),
        # A frame of another event is refused by the service, at this field.
        validate_choice=False,
    )

    def offer_frames(self, event: Event) -> None:
        """The choices of ``frame``: every frame, or one of the event's."""
        self.frame.choices = [
            SelectChoice(EVERY_FRAME, _l("Every participation frame")),
            *(SelectChoice(str(frame.id), frame.name_ja) for frame in event.frames),
        ]

    def validate_choices_en(self, field: TextAreaField) -> None:
        if not self._has_choices():
            return  # ignored (see to_data)
        english = _lines(field.data)
        if english and len(english) != len(_lines(self.choices.data)):
            raise ValidationError(
                _l("Write one English line for each Japanese choice, or leave this empty.")
            )

    def _has_choices(self) -> bool:
        kind = self.kind.data or ""
        return kind in QUESTION_KIND_LABELS and QuestionKind(kind).has_choices

    def to_data(self) -> QuestionData:
        choices: tuple[tuple[str, str], ...] = ()
        if self._has_choices():
            japanese = _lines(self.choices.data)
            english = _lines(self.choices_en.data) or [""] * len(japanese)
            choices = tuple(zip(japanese, english, strict=True))
        return QuestionData(
            kind=self.kind.data or "",
            label_ja=self.label_ja.data or "",
            label_en=self.label_en.data or "",
            help_ja=self.help_ja.data or "",
            help_en=self.help_en.data or "",
            choices=choices,
            is_required=bool(self.is_required.data),
            frame_id=self._frame_id(),
        )

    def _frame_id(self) -> int | None:
        """The chosen frame's id; None for every frame, 0 for a value that names no
        frame (refused by the service as another event's frame is)."""
        raw = self.frame.data or EVERY_FRAME
        if raw == EVERY_FRAME:
            return None
        return int(raw) if _FRAME_ID.fullmatch(raw) else 0

    def fill_from(self, question: EventQuestion) -> None:
        self.kind.data = question.kind
        self.label_ja.data = question.label_ja
        self.label_en.data = question.label_en
        self.help_ja.data = question.help_ja
        self.help_en.data = question.help_en
        self.choices.data = "\n".join(choice["ja"] for choice in question.choices or [])
        english = [choice.get("en", "") for choice in question.choices or []]
        self.choices_en.data = "\n".join(english) if any(english) else ""
        self.is_required.data = question.is_required
        self.frame.data = str(question.frame_id) if question.frame_id is not None else EVERY_FRAME
