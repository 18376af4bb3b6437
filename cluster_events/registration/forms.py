"""The sign-up form: what people may type, and how it is cleaned before the rules see it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    Field,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    StopValidation,
    ValidationError,
)

from cluster_events.forms import EmailAddress, Form
from cluster_events.i18n import current_locale
from cluster_events.models import (
    EventQuestion,
    Frame,
    MemberKind,
    MemberPerson,
    MemberType,
    QuestionKind,
)
from cluster_events.registration.answers import (
    LONG_TEXT_MAX_LENGTH,
    SHORT_TEXT_MAX_LENGTH,
    Localised,
    Sent,
    field_name,
    localised,
)
from cluster_events.registration.labels import MEMBER_TYPE_LABELS
from cluster_events.registration.services import (
    INVALID_EMAIL_MESSAGE,
    MAX_COMPANIONS,
    Companion,
    FrameChoice,
    RegistrationDetails,
    companion_field,
)
from cluster_events.text import (
    is_kana_reading,
    is_latin_reading,
    katakana_to_hiragana,
    mixes_kana_and_latin,
    normalise_input,
    normalise_multiline,
)

_PHONE = re.compile(r"^\+?\(?[0-9][0-9 ()-]*$")
_FRAME_ID = re.compile(r"[0-9]{1,9}")
#: Dash-like characters people type in phone numbers (ー, －, ‐, –, —, −).
_DASHES = str.maketrans(dict.fromkeys("ー‐‑‒–—―−ｰ", "-"))

REMARKS_MAX_LENGTH = 2000


def _length(maximum: int) -> Length:
    return Length(max=maximum, message=_l("Please keep this within %(max)d characters."))


def _normalise_phone(value: str | None) -> str:
    return normalise_input(value).translate(_DASHES)


def _english_form() -> bool:
    """The form is the English page's: a reading is optional there and may be in Latin
    letters (an English speaker may not be able to type kana)."""
    return current_locale() == "en"


def _validate_kana(form: Form, field: StringField) -> None:
    """A reading as given: on the Japanese form in hiragana or katakana, on the English
    one in kana or in Latin letters; kana and Latin letters mixed on neither."""
    value = field.data
    if not value:
        return
    if mixes_kana_and_latin(value):
        if _english_form():
            raise ValidationError(
                _l("Please write the reading either in kana or in Latin letters, not both.")
            )
        raise ValidationError(MIXED_READING_MESSAGE)
    if is_kana_reading(value) or (_english_form() and is_latin_reading(value)):
        return
    if _english_form():
        raise ValidationError(_l("Please write the reading in kana or in Latin letters."))
    raise ValidationError(_l("Please write the reading in hiragana or katakana."))


def _reading_required(form: Form, field: StringField) -> None:
    """The Japanese form asks everybody for a reading; the English one lets it go."""
    if field.data:
        return
    if _english_form():
        raise StopValidation()
    raise StopValidation(_l("Please enter the reading of your name."))


#: A reading with Latin letters among the kana, on the Japanese form.
MIXED_READING_MESSAGE = _l(
    "Please write the reading in hiragana or katakana only, without Latin letters."
)


def store_reading(value: str | None) -> str:
    """A reading as stored: kana in hiragana (lists sort in 五十音順), Latin letters
    as typed (already NFKC), none as empty."""
    return katakana_to_hiragana(value or "")


def _validate_phone(form: Form, field: StringField) -> None:
    if field.data and not _PHONE.match(field.data):
        raise ValidationError(
            _l("Please enter the phone number in digits, for example 046-847-6355.")
        )


def _companion_pair(form: Form, field: StringField) -> None:
    """A companion's name and reading go together: one without the other is refused
    beside the empty one."""
    number, part = field.name.split("_")[1:]
    other = form[companion_field(int(number), "kana" if part == "name" else "name")]
    if field.data or not other.data:
        return
    if part == "kana" and _english_form():
        return  # a reading is optional on the English form
    if part == "name":
        raise ValidationError(_l("Please enter the companion's name."))
    raise ValidationError(_l("Please enter the reading of the companion's name."))


def with_companion_fields(cls: type[Form]) -> type[Form]:
    """Add to a form the fields of ``MAX_COMPANIONS`` companions (同伴者), each an
    optional name and its reading; a page shows as many rows as the frame allows."""
    for number in range(1, MAX_COMPANIONS + 1):
        setattr(
            cls,
            companion_field(number, "name"),
            StringField(
                _l("Companion %(number)s: name", number=number),
                filters=[normalise_input],
                validators=[_length(100), _companion_pair],
            ),
        )
        setattr(
            cls,
            companion_field(number, "kana"),
            StringField(
                _l("Companion %(number)s: reading (furigana)", number=number),
                filters=[normalise_input],
                validators=[_length(100), _validate_kana, _companion_pair],
            ),
        )
    return cls


@dataclass(frozen=True)
class CompanionRow:
    """One companion's fields on a form."""

    number: int
    name: Field
    kana: Field

    @property
    def has_input(self) -> bool:
        return bool(self.name.data or self.kana.data or self.name.errors or self.kana.errors)


def companion_rows(form: Form, shown: int) -> list[CompanionRow]:
    """The first ``shown`` companion rows, and any later one that holds something (a
    companion sent for a frame that takes fewer is shown with its error)."""
    rows = [
        CompanionRow(
            number, form[companion_field(number, "name")], form[companion_field(number, "kana")]
        )
        for number in range(1, MAX_COMPANIONS + 1)
    ]
    last = max([shown, *(row.number for row in rows if row.has_input)])
    return rows[:last]


def companions_of(form: Form) -> tuple[Companion, ...]:
    """The companions typed in, in order (rows left empty are skipped); none from a
    form ``without_companion_fields``."""
    companions = []
    for number in range(1, MAX_COMPANIONS + 1):
        if companion_field(number, "name") not in form:
            break
        name = form[companion_field(number, "name")].data or ""
        kana = form[companion_field(number, "kana")].data or ""
        if name or kana:
            companions.append(Companion(name, store_reading(kana), row=number))
    return tuple(companions)


def is_companion_field(field: Field) -> bool:
    return field.name.startswith(_COMPANION_PREFIX)


_COMPANION_PREFIX = "companion_"


def sends_companions(form_names: Iterable[str]) -> bool:
    """Whether a posted form holds any companion's field (the form of a frame that
    takes companions sends its rows, even empty)."""
    return any(name.startswith(_COMPANION_PREFIX) for name in form_names)


@cache
def without_companion_fields(form_class: type[Form]) -> type[Form]:
    """``form_class`` without its companions' fields, for a sign-up that sent none: a
    third of the fields, each built and checked on every sign-up."""
    removed = {
        companion_field(number, part): None
        for number in range(1, MAX_COMPANIONS + 1)
        for part in ("name", "kana")
    }
    return type(form_class.__name__, (form_class,), removed)


@dataclass(frozen=True)
class ChoiceView:
    key: str
    label: Localised
    checked: bool


@dataclass(frozen=True)
class QuestionView:
    """One of the event's questions on the form, worded in the page's language."""

    field: Field
    kind: str
    label: Localised
    help: Localised
    is_required: bool
    choices: tuple[ChoiceView, ...] = ()
    #: The participation frame it is only for, and that frame's name, when the event
    #: has several frames (None: asked of everyone).
    frame_id: int | None = None
    frame_name: Localised | None = None

    @property
    def is_required_always(self) -> bool:
        """Required whichever frame is chosen (the page marks the control required)."""
        return self.is_required and self.frame_name is None

    @property
    def max_length(self) -> int:
        if self.kind == QuestionKind.long_text:
            return LONG_TEXT_MAX_LENGTH
        return SHORT_TEXT_MAX_LENGTH


def _question_field(question: EventQuestion, locale: str) -> Any:
    """The unbound field of a question. Required answers, choices and lengths are
    checked by ``answers.checked_answers``; the form refuses control characters."""
    label = str(localised(question.label_ja, question.label_en, locale))
    kind = question.question_kind
    if kind == QuestionKind.short_text:
        return StringField(label, filters=[normalise_input])
    if kind == QuestionKind.long_text:
        return TextAreaField(label, filters=[normalise_multiline])
    if kind == QuestionKind.agreement:
        return BooleanField(label)
    choices = [SelectChoice(choice["key"], choice["ja"]) for choice in question.choices]
    if kind == QuestionKind.one_choice:
        return RadioField(label, choices=choices, validate_choice=False)
    return SelectMultipleField(label, choices=choices, validate_choice=False)


@with_companion_fields
class RegistrationForm(Form):
    name = StringField(
        _l("Your name"),
        filters=[normalise_input],
        validators=[DataRequired(_l("Please enter your name.")), _length(100)],
    )
    #: Required in kana on the Japanese form; optional, in kana or Latin letters, on
    #: the English one (``_reading_required``, ``_validate_kana``).
    name_kana = StringField(
        _l("Reading of the name (furigana)"),
        filters=[normalise_input],
        validators=[_reading_required, _length(100), _validate_kana],
    )
    email = StringField(
        _l("Email address"),
        filters=[normalise_input],
        validators=[
            DataRequired(_l("Please enter your email address.")),
            _length(254),
            # Syntax only (no DNS); stored in the normalised form (text.normalise_email_address).
            EmailAddress(INVALID_EMAIL_MESSAGE),
        ],
    )
    organization = StringField(
        _l("Company or organization"), filters=[normalise_input], validators=[_length(200)]
    )
    title = StringField(_l("Job title"), filters=[normalise_input], validators=[_length(100)])
    phone = StringField(
        _l("Phone number"), filters=[_normalise_phone], validators=[_length(30), _validate_phone]
    )
    member_type = RadioField(
        _l("Membership"),
        choices=[SelectChoice(value, label) for value, label in MEMBER_TYPE_LABELS.items()],
        default=MemberType.general.value,
        validators=[InputRequired(_l("Please choose your membership."))],
    )
    #: The chosen participation frame's id (radio buttons when the event has several);
    #: the rules decide whether it may be taken (registration.frames).
    frame = StringField(_l("Participation frame"), filters=[normalise_input])
    invitation_code = StringField(
        _l("Invitation code"), filters=[normalise_input], validators=[_length(40)]
    )
    remarks = TextAreaField(
        _l("Questions or requests"),
        filters=[normalise_multiline],
        validators=[_length(REMARKS_MAX_LENGTH)],
    )
    agree_privacy = BooleanField(
        _l("I agree to the handling of my personal information"),
        validators=[DataRequired(_l("Please read the privacy policy and tick the box."))],
    )
    #: Honeypot: hidden from people and screen readers; bots that fill it are
    #: answered as if they had registered, and nothing is stored.
    website = StringField("Website")

    remarks_max_length = REMARKS_MAX_LENGTH
    #: The event's questions this form asks (``for_questions``), every frame's, and
    #: the language of their wording.
    event_questions: tuple[EventQuestion, ...] = ()
    question_locale = "ja"
    #: The names of the event's frames by id, when it has several (the questions of
    #: one frame are labelled with it); the frame of an event that has only one.
    frame_names: Mapping[int, Localised] = MappingProxyType({})
    only_frame_id: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.questions = [self._view(question) for question in self.event_questions]
        if _english_form():
            self.name_kana.label.text = _l("Reading of your name, if you know it in kana")

    @property
    def reading_is_required(self) -> bool:
        """Whether the page marks the reading required (the Japanese form)."""
        return not _english_form()

    @classmethod
    def for_questions(
        cls, questions: Sequence[EventQuestion], locale: str, frames: Sequence[Frame] = ()
    ) -> type[RegistrationForm]:
        """This form with a field for each of ``questions`` (every frame's), worded in
        ``locale``; ``frames`` are the event's, in order."""
        if not questions:
            return cls
        fields = {field_name(q.id): _question_field(q, locale) for q in questions}
        several = len(frames) > 1
        attributes = {
            **fields,
            "event_questions": tuple(questions),
            "question_locale": locale,
            "frame_names": (
                {f.id: localised(f.name_ja, f.name_en, locale) for f in frames} if several else {}
            ),
            "only_frame_id": frames[0].id if len(frames) == 1 else None,
        }
        return type(cls.__name__, (cls,), attributes)

    def _view(self, question: EventQuestion) -> QuestionView:
        locale = self.question_locale
        field = self[field_name(question.id)]
        data = field.data
        selected = set(data or []) if isinstance(data, list) else {data}
        return QuestionView(
            field=field,
            kind=question.kind,
            label=localised(question.label_ja, question.label_en, locale),
            help=localised(question.help_ja, question.help_en, locale),
            is_required=question.is_required,
            frame_id=question.frame_id,
            frame_name=(
                self.frame_names.get(question.frame_id) if question.frame_id is not None else None
            ),
            choices=tuple(
                ChoiceView(
                    choice["key"],
                    localised(choice["ja"], choice.get("en", ""), locale),
                    choice["key"] in selected,
                )
                for choice in question.choices or []
            ),
        )

    @property
    def has_frame_questions(self) -> bool:
        """Some questions are only for one of the event's several frames."""
        return any(view.frame_name is not None for view in self.questions)

    @property
    def answering_frame_id(self) -> int | None:
        """The frame whose questions are asked: the one chosen, or the event's only one."""
        return self.frame_id if self.frame_id is not None else self.only_frame_id

    def validate(self, extra_validators: Any = None) -> bool:
        """The fields' checks, except for another frame's questions: what was sent for
        them is not kept, so it cannot stop a sign-up."""
        super().validate(extra_validators)
        for question in self.event_questions:
            if not question.applies_to(self.answering_frame_id):
                self[field_name(question.id)].errors = []
        return not self.errors

    def answer_values(self) -> dict[int, Sent]:
        """What was sent for each question, by question id, for
        ``answers.checked_answers``."""
        sent: dict[int, Sent] = {}
        for question in self.event_questions:
            field = self[field_name(question.id)]
            # A radio button sends one value: several are refused, not cut to the first.
            many = question.kind == QuestionKind.one_choice and len(field.raw_data or []) > 1
            sent[question.id] = list(field.raw_data) if many else field.data
        return sent

    def fields_in_page_order(self) -> Iterator[Field]:
        """The fields in the order the page shows them: the companions and the
        questions come before the remarks (for the list of errors at the top)."""
        question_fields = [view.field for view in self.questions]
        companion_fields = [field for field in self if is_companion_field(field)]
        for field in self:
            if field in question_fields or is_companion_field(field):
                continue
            if field.name == "remarks":
                yield from companion_fields
                yield from question_fields
            yield field

    def companion_rows(self, shown: int) -> list[CompanionRow]:
        return companion_rows(self, shown)

    @property
    def is_bot(self) -> bool:
        return bool(self.website.data and self.website.data.strip())

    @property
    def frame_id(self) -> int | None:
        """The chosen frame's id; None when none was chosen, 0 for a value that names
        no frame (the rules refuse it as they refuse another event's frame)."""
        raw = self.frame.data or ""
        if not raw:
            return None
        return int(raw) if _FRAME_ID.fullmatch(raw) else 0

    def frame_choice(self) -> FrameChoice:
        return FrameChoice(frame_id=self.frame_id, invitation_code=self.invitation_code.data or "")

    def details(self, locale: str) -> RegistrationDetails:
        return RegistrationDetails(
            name=self.name.data,
            name_kana=store_reading(self.name_kana.data),
            email=self.email.data,
            organization=self.organization.data or "",
            job_title=self.title.data or "",
            phone=self.phone.data or "",
            member_type=self.member_type.data,
            remarks=self.remarks.data or "",
            locale=locale,
            companions=companions_of(self),
        )


class MemberRegistrationForm(RegistrationForm):
    """The form of a signed-in member, filled in from their person record. The address
    and the membership are theirs, not the form's: the fields are left out (the page
    shows them read-only) and the values come from ``person``, so the link to the
    member means something. The other fields may be changed for this sign-up."""

    email = None
    member_type = None

    def __init__(self, *args: Any, person: MemberPerson, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.person = person

    @classmethod
    def prefilled(cls, person: MemberPerson) -> MemberRegistrationForm:
        """The form as the event page first shows it."""
        return cls(formdata=None, data=prefilled_values(person), person=person)

    def details(self, locale: str) -> RegistrationDetails:
        return RegistrationDetails(
            name=self.name.data,
            name_kana=store_reading(self.name_kana.data),
            email=self.person.email,
            organization=self.organization.data or "",
            job_title=self.title.data or "",
            phone=self.phone.data or "",
            member_type=self.person.member.kind,
            remarks=self.remarks.data or "",
            locale=locale,
            companions=companions_of(self),
        )


def prefilled_values(person: MemberPerson) -> dict[str, str]:
    """What a signed-in member's form starts with: their person record, and for a
    corporate member the company's name as the organization."""
    member = person.member
    return {
        "name": person.name,
        "name_kana": person.name_kana,
        "organization": member.name if member.kind == MemberKind.corporate else "",
        "title": person.title,
        "phone": person.phone,
    }
