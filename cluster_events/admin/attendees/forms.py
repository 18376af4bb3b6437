"""Forms of the attendee pages; they normalise what people type (NFKC, kana in hiragana)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SearchField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, Regexp, ValidationError

from cluster_events.forms import EmailAddress, Form, GetForm
from cluster_events.models import Event, MemberType, RegistrationStatus
from cluster_events.registration.attendees import AttendeeFilter, Membership, SortOrder
from cluster_events.registration.forms import (
    CompanionRow,
    companion_rows,
    companions_of,
    with_companion_fields,
)
from cluster_events.registration.labels import LANGUAGE_NAMES, MEMBER_TYPE_LABELS
from cluster_events.registration.messages import Audience
from cluster_events.registration.services import (
    ContactDetails,
    FrameChoice,
    RegistrationDetails,
)
from cluster_events.text import (
    katakana_to_hiragana,
    mixes_kana_and_latin,
    normalise_input,
    normalise_multiline,
)

_IDEOGRAPHS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")


def _single_line(value: Any) -> str:
    return normalise_input(value) if isinstance(value, str) else ""


def _kana(value: Any) -> str:
    return katakana_to_hiragana(_single_line(value))


def _multiline(value: Any) -> str:
    return normalise_multiline(value) if isinstance(value, str) else ""


def _no_kanji(form: Form, field: StringField) -> None:
    if _IDEOGRAPHS.search(field.data or ""):
        raise ValidationError(_l("Please write the reading in hiragana or katakana."))


def _one_script(form: Form, field: StringField) -> None:
    """The office keeps a registrant's reading as given: kana, or Latin letters for
    someone who signed up in English; both mixed sorts nowhere."""
    if mixes_kana_and_latin(field.data or ""):
        raise ValidationError(
            _l("Please write the reading either in kana or in Latin letters, not both.")
        )


def member_type_choices() -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in MEMBER_TYPE_LABELS.items()]


def frame_choices(event: Event) -> list[SelectChoice]:
    return [SelectChoice(str(frame.id), frame.name_ja) for frame in event.frames]


class FrameChoiceMixin:
    """A select of the event's participation frames, only shown when it has several."""

    def set_frames(self, event: Event) -> None:
        self.frame.choices = frame_choices(event)  # type: ignore[attr-defined]
        if len(event.frames) == 1 and not self.frame.data:  # type: ignore[attr-defined]
            self.frame.data = event.frames[0].id  # type: ignore[attr-defined]


class ContactForm(Form):
    name = StringField(
        _l("Full name"), filters=[_single_line], validators=[InputRequired(), Length(max=100)]
    )
    name_kana = StringField(
        _l("Name reading (furigana)"),
        filters=[_kana],
        validators=[Length(max=100), _no_kanji, _one_script],
        description=_l(
            "Hiragana or katakana. Latin letters, or nothing, for someone who does not "
            "write kana (they are listed after the kana readings)."
        ),
    )
    email = StringField(
        _l("Email address"),
        filters=[_single_line],
        validators=[InputRequired(), Length(max=254), EmailAddress()],
    )
    organization = StringField(
        _l("Organization"), filters=[_single_line], validators=[Length(max=200)]
    )
    job_title = StringField(_l("Job title"), filters=[_single_line], validators=[Length(max=100)])
    phone = StringField(_l("Phone number"), filters=[_single_line], validators=[Length(max=30)])
    member_type = SelectField(
        _l("Member type"), choices=member_type_choices, default=MemberType.general.value
    )

    def contact_details(self) -> ContactDetails:
        return ContactDetails(
            name=self.name.data,
            name_kana=self.name_kana.data,
            email=self.email.data,
            organization=self.organization.data,
            job_title=self.job_title.data,
            phone=self.phone.data,
            member_type=self.member_type.data,
        )


@with_companion_fields
class AddRegistrationForm(FrameChoiceMixin, ContactForm):
    frame = SelectField(
        _l("Participation frame"),
        coerce=int,
        validate_choice=False,  # the rules refuse a frame of another event
        description=_l("A full frame puts the person on its waiting list."),
    )
    remarks = TextAreaField(_l("Remarks"), filters=[_multiline], validators=[Length(max=2000)])
    locale = SelectField(
        _l("Language of the emails"),
        choices=[SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()],
        default="ja",
    )
    send_confirmation = BooleanField(
        _l("Send the confirmation email"),
        default=True,
        description=_l(
            "Untick this if you have already told the person by phone, "
            "or if they do not want emails."
        ),
    )

    def registration_details(self) -> RegistrationDetails:
        return RegistrationDetails(
            **asdict(self.contact_details()),
            remarks=self.remarks.data,
            locale=self.locale.data,
            companions=companions_of(self),
        )

    def companion_rows(self, shown: int) -> list[CompanionRow]:
        return companion_rows(self, shown)

    def frame_choice(self) -> FrameChoice:
        return FrameChoice(frame_id=self.frame.data)


class MoveFrameForm(FrameChoiceMixin, Form):
    """Move a registration to another frame of its event (the rules:
    ``registration.services.move_to_frame``, which also refuses a frame of another event)."""

    frame = SelectField(_l("Move to the frame"), coerce=int, validate_choice=False)
    to_waiting_list = BooleanField(
        _l("If that frame is full, put them at the end of its waiting list"),
        description=_l(
            "Without this, a move to a full frame is refused. A person with a seat would lose it."
        ),
    )
    notify = BooleanField(
        _l("Tell them by email if they get a seat"),
        default=True,
    )


class NoteForm(Form):
    organizer_note = TextAreaField(
        _l("Office note (never shown to the registrant)"),
        filters=[_multiline],
        validators=[Length(max=5000)],
    )


class MessageForm(Form):
    audience = RadioField(
        _l("Send to"),
        choices=[
            SelectChoice(Audience.confirmed.value, _l("Everyone with a seat")),
            SelectChoice(Audience.waiting.value, _l("Everyone on the waiting list")),
            SelectChoice(Audience.both.value, _l("Both")),
        ],
        default=Audience.confirmed.value,
        validators=[InputRequired()],
    )
    subject = StringField(
        _l("Subject"), filters=[_single_line], validators=[InputRequired(), Length(max=200)]
    )
    body = TextAreaField(
        _l("Message"),
        filters=[_multiline],
        validators=[InputRequired(), Length(max=10000)],
    )
    batch_key = HiddenField(validators=[Optional(), Regexp(r"^[0-9a-f]{1,20}$")])


SEARCH_MAX_LENGTH = 100


class AttendeeSearchForm(GetForm):
    """The search box of the attendee list and of check-in; longer words are cut."""

    q = SearchField(
        _l("Search attendees"),
        filters=[lambda value: value[:SEARCH_MAX_LENGTH] if isinstance(value, str) else ""],
    )

    @property
    def query(self) -> str:
        """The words to search for; none while the box has an error."""
        return "" if self.q.errors else self.q.data


def search_form(args: Mapping[str, str]) -> AttendeeSearchForm:
    form = AttendeeSearchForm(formdata=args if isinstance(args, MultiDict) else MultiDict(args))
    form.validate()
    return form


def _frame_id(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and 0 < len(value) < 10 else None


def parse_filter(
    args: MultiDict[str, str], search: AttendeeSearchForm | None = None
) -> AttendeeFilter:
    """The list's search, filters and order from GET parameters; unknown values are
    ignored, and so are search words with an error (``search`` shows it)."""
    search = search or search_form(args)
    status = args.get("status", "")
    member_type = args.get("member_type", "")
    membership = args.get("membership", "")
    sort = args.get("sort", "")
    return AttendeeFilter(
        query=search.query,
        status=_member(RegistrationStatus, status),
        member_type=_member(MemberType, member_type),
        membership=_member(Membership, membership),
        frame_id=_frame_id(args.get("frame", "")),
        sort=_member(SortOrder, sort) or SortOrder.kana,
    )


def _member(enum_cls: Any, value: str) -> Any:
    return enum_cls(value) if value in {member.value for member in enum_cls} else None
