"""The event form, the cancel form, the frame and code forms and the series form: they
parse and normalise what organizers type; the rules live in events/services.py,
events/frames.py and events/series.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from cluster_events.admin.forms import normalise_address, strip_multiline, strip_text
from cluster_events.events.frames import CodeData, FrameData
from cluster_events.events.series import (
    HOLIDAY_CALENDARS,
    MAX_EVENTS,
    Frequency,
    SeriesRule,
)
from cluster_events.events.services import EventData
from cluster_events.forms import Form, WebAddress
from cluster_events.models import Category, Event, FrameEligibility, FrameSelection, Venue
from cluster_events.registration.labels import ELIGIBILITY_LABELS, SELECTION_LABELS
from cluster_events.registration.services import MAX_COMPANIONS
from cluster_events.timefmt import TOKYO, to_tokyo

LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def _plausible_year(form: Any, field: Any) -> None:
    if field.data is not None and not 2000 <= field.data.year <= 2100:
        raise ValidationError(_l("Enter a date between the years 2000 and 2100."))


def from_tokyo_local(value: datetime | None) -> datetime | None:
    """A datetime-local value means Tokyo wall-clock time, whatever the server's zone."""
    if value is None:
        return None
    return value.replace(tzinfo=TOKYO)


def utc_to_tokyo_local(value: datetime | None) -> datetime | None:
    return to_tokyo(value).replace(tzinfo=None) if value else None


class EventForm(Form):
    title = StringField(
        _l("Title (Japanese)"), validators=[DataRequired(), Length(max=200)], filters=[strip_text]
    )
    title_en = StringField(
        _l("Title (English)"),
        validators=[Length(max=200)],
        filters=[strip_text],
        description=_l("Shown on the English pages. Leave empty to show the Japanese title."),
    )
    slug = StringField(
        _l("Address of the event page"),
        validators=[Length(max=100)],
        filters=[lambda value: normalise_address(value).lower() if value else ""],
        description=_l(
            "Lower-case letters, digits and hyphens, e.g. kondankai-2026-12. "
            "Leave empty and one is suggested."
        ),
    )
    category_id = SelectField(_l("Category"), coerce=int, validators=[InputRequired()])
    starts_at = DateTimeLocalField(
        _l("Starts"), format=LOCAL_FORMATS, validators=[InputRequired(), _plausible_year]
    )
    ends_at = DateTimeLocalField(
        _l("Ends"), format=LOCAL_FORMATS, validators=[InputRequired(), _plausible_year]
    )
    venue_id = SelectField(
        _l("Venue"),
        coerce=lambda value: int(value) if value not in (None, "") else None,
        validate_choice=True,
    )
    online_url = StringField(
        _l("Online meeting link"),
        validators=[Optional(), Length(max=500), WebAddress()],
        filters=[normalise_address],
        description=_l("Only for online events. Registrants receive it by email."),
    )
    capacity = IntegerField(
        _l("Capacity (seats)"),
        validators=[
            Optional(),
            NumberRange(min=0, max=100_000, message=_l("Enter a number from 0 to 100,000.")),
        ],
        description=_l("Leave empty for no limit."),
    )
    fee_text = StringField(
        _l("Fee (Japanese)"),
        validators=[Length(max=200)],
        filters=[strip_text],
        description=_l("As it should read, e.g. 無料 or 1,000円（会員無料）."),
    )
    fee_text_en = StringField(
        _l("Fee (English)"),
        validators=[Length(max=200)],
        filters=[strip_text],
        description=_l(
            "e.g. Free, or 1,000 yen (free for members). Leave empty to show the Japanese."
        ),
    )
    registration_opens_at = DateTimeLocalField(
        _l("Registration opens"),
        format=LOCAL_FORMATS,
        validators=[Optional(), _plausible_year],
        description=_l("Leave empty to open as soon as the event is published."),
    )
    registration_closes_at = DateTimeLocalField(
        _l("Registration deadline"),
        format=LOCAL_FORMATS,
        validators=[Optional(), _plausible_year],
        description=_l("Leave empty to take registrations until the event starts."),
    )
    accepts_registrations = BooleanField(_l("Take registrations on this site"), default=True)
    is_members_only = BooleanField(_l("Members only (not shown to the public)"))
    summary = TextAreaField(
        _l("Summary (Japanese)"),
        filters=[strip_multiline],
        description=_l("One or two sentences for the list of events."),
    )
    summary_en = TextAreaField(
        _l("Summary (English)"),
        filters=[strip_multiline],
        description=_l(
            "For English readers. Leave empty and they read the Japanese summary, "
            "with a note that the event is described in Japanese only."
        ),
    )
    body = TextAreaField(
        _l("Description (Japanese)"),
        filters=[strip_multiline],
        description=_l(
            "Markdown: ## for a heading, - for a list, **bold**. "
            "Press Preview to see how it will look."
        ),
    )
    body_en = TextAreaField(
        _l("Description (English)"),
        filters=[strip_multiline],
        description=_l(
            "Markdown, like the Japanese. Leave empty to show the Japanese description."
        ),
    )

    def __init__(self, *args: Any, categories: list[Category], venues: list[Venue], **kwargs):
        super().__init__(*args, **kwargs)
        self.category_id.choices = [
            SelectChoice(str(c.id), f"{c.name_ja} / {c.name_en}") for c in categories
        ]
        self.venue_id.choices = [
            SelectChoice("", _l("No venue (online or to be announced)")),
            *(SelectChoice(str(v.id), v.name) for v in venues),
        ]

    def fill_from_event(self, event: Event) -> None:
        for name in EventData.__dataclass_fields__:
            value = getattr(event, name)
            if isinstance(value, datetime):
                value = utc_to_tokyo_local(value)
            getattr(self, name).data = value

    def to_data(self) -> EventData:
        return EventData(
            title=self.title.data or "",
            title_en=self.title_en.data or "",
            slug=self.slug.data or "",
            category_id=self.category_id.data,
            summary=self.summary.data or "",
            body=self.body.data or "",
            summary_en=self.summary_en.data or "",
            body_en=self.body_en.data or "",
            fee_text_en=self.fee_text_en.data or "",
            starts_at=from_tokyo_local(self.starts_at.data),
            ends_at=from_tokyo_local(self.ends_at.data),
            venue_id=self.venue_id.data,
            online_url=self.online_url.data or "",
            capacity=self.capacity.data,
            fee_text=self.fee_text.data or "",
            registration_opens_at=from_tokyo_local(self.registration_opens_at.data),
            registration_closes_at=from_tokyo_local(self.registration_closes_at.data),
            accepts_registrations=bool(self.accepts_registrations.data),
            is_members_only=bool(self.is_members_only.data),
        )


class CancelEventForm(Form):
    reason = TextAreaField(
        _l("Reason for the cancellation"),
        validators=[DataRequired(message=_l("Write the reason; registrants will read it."))],
        filters=[strip_multiline],
        description=_l("Sent to every registrant and shown on the event page."),
    )
    reason_en = TextAreaField(
        _l("Reason for the cancellation (English)"),
        filters=[strip_multiline],
        description=_l(
            "For registrants who read English. Leave empty to send the Japanese reason."
        ),
    )


def _text_or_none(value: str | None) -> str | None:
    """An empty fee means the event's fee (None), not "no fee"."""
    return value if value else None


class FrameForm(Form):
    """A participation frame (参加枠) of an event; the rules are in events/frames.py."""

    name_ja = StringField(
        _l("Name (Japanese)"),
        validators=[DataRequired(), Length(max=100)],
        filters=[strip_text],
        description=_l("As registrants read it, e.g. 会員枠 or 一般枠."),
    )
    name_en = StringField(
        _l("Name (English)"),
        validators=[Length(max=100)],
        filters=[strip_text],
        description=_l("Shown on the English pages. Leave empty to show the Japanese name."),
    )
    capacity = IntegerField(
        _l("Capacity (seats)"),
        validators=[
            Optional(),
            NumberRange(min=0, max=100_000, message=_l("Enter a number from 0 to 100,000.")),
        ],
        description=_l("Leave empty for no limit. A full frame takes its own waiting list."),
    )
    eligibility = RadioField(
        _l("Who may take it"),
        choices=[SelectChoice(value, label) for value, label in ELIGIBILITY_LABELS.items()],
        default=FrameEligibility.anyone.value,
        validators=[InputRequired()],
    )
    selection = RadioField(
        _l("How the seats are given"),
        choices=[SelectChoice(value, label) for value, label in SELECTION_LABELS.items()],
        # Not sent (an older form): first come, as every frame was before lotteries.
        default=FrameSelection.first_come.value,
        description=_l(
            "By lot: until the registration deadline the frame takes entries, then "
            "the participants are drawn (automatically, or with the “Draw the lottery” button "
            "on the frame's page) "
            "and everyone is told by email. Those not drawn go on the waiting list in the "
            "drawn order."
        ),
    )
    fee_text = StringField(
        _l("Fee"),
        validators=[Length(max=200)],
        filters=[strip_text],
        description=_l("Leave empty to show the event's fee."),
    )
    fee_text_en = StringField(
        _l("Fee (English)"),
        validators=[Length(max=200)],
        filters=[strip_text],
        description=_l("Leave empty to show the Japanese fee."),
    )
    registration_opens_at = DateTimeLocalField(
        _l("Registration opens"),
        format=LOCAL_FORMATS,
        validators=[Optional(), _plausible_year],
        description=_l("Leave empty to open with the event's registration."),
    )
    registration_closes_at = DateTimeLocalField(
        _l("Registration deadline"),
        format=LOCAL_FORMATS,
        validators=[Optional(), _plausible_year],
        description=_l(
            "Leave empty to close with the event's registration. A frame's period can "
            "only be shorter than the event's."
        ),
    )
    max_companions = IntegerField(
        _l("Companions per registration"),
        default=0,
        validators=[
            Optional(),
            NumberRange(
                min=0,
                max=MAX_COMPANIONS,
                message=_l("Enter a number from 0 to %(max)s.", max=MAX_COMPANIONS),
            ),
        ],
        description=_l(
            "How many people a registrant may bring (0 or empty: none). The form asks each one's "
            "name and reading; each takes a seat of this frame, and a party is seated "
            "whole or waits whole."
        ),
    )
    requires_approval = BooleanField(
        _l("The office approves each registration (approval required)"),
        description=_l(
            "Registrations on the web wait, without a seat, until the office approves or "
            "declines them on the attendee list. Registrations the office adds itself "
            "need no approval."
        ),
    )

    def fill_from_frame(self, data: FrameData) -> None:
        for name in FrameData.__dataclass_fields__:
            value = getattr(data, name)
            if isinstance(value, datetime):
                value = utc_to_tokyo_local(value)
            getattr(self, name).data = value

    def to_data(self) -> FrameData:
        return FrameData(
            name_ja=self.name_ja.data or "",
            name_en=self.name_en.data or "",
            capacity=self.capacity.data,
            fee_text=_text_or_none(self.fee_text.data),
            fee_text_en=_text_or_none(self.fee_text_en.data),
            eligibility=self.eligibility.data,
            registration_opens_at=from_tokyo_local(self.registration_opens_at.data),
            registration_closes_at=from_tokyo_local(self.registration_closes_at.data),
            max_companions=self.max_companions.data or 0,
            requires_approval=bool(self.requires_approval.data),
            selection=self.selection.data,
        )


class InvitationCodeForm(Form):
    code = StringField(
        _l("Invitation code"),
        validators=[Length(max=40)],
        filters=[normalise_address],
        description=_l("Leave empty and a new code is made. Letters A-Z and digits."),
    )
    max_uses = IntegerField(
        _l("How many registrations it admits"),
        validators=[
            Optional(),
            NumberRange(min=1, max=100_000, message=_l("Enter a number from 1 to 100,000.")),
        ],
        description=_l("Leave empty to admit any number of registrations."),
    )
    note = StringField(
        _l("Given to"),
        validators=[Length(max=200)],
        filters=[strip_text],
        description=_l("For the office, e.g. the company it was sent to."),
    )

    def to_data(self) -> CodeData:
        return CodeData(
            code=self.code.data or "", max_uses=self.max_uses.data, note=self.note.data or ""
        )


class SeriesForm(Form):
    """A series of events from one (events/series.py checks the rule: the form only
    parses, so that each refusal is said beside its field in one place)."""

    frequency = RadioField(
        _l("How the events repeat"),
        default=Frequency.monthly_by_weekday.value,
        validate_choice=False,
    )
    interval = IntegerField(
        _l("Every how many weeks or months"),
        default=1,
        validators=[InputRequired()],
        description=_l("1: every week or every month. 2: every other week or month."),
    )
    count = IntegerField(
        _l("Number of events to make"),
        validators=[Optional()],
        description=_l(
            "At most %(max)d. Holidays that are skipped do not count: the next date of the "
            "rule is taken instead.",
            max=MAX_EVENTS,
        ),
    )
    until = DateField(
        _l("Or: the last date"),
        validators=[Optional(), _plausible_year],
        description=_l(
            "Events are made up to this date, including it. Leave it empty if you "
            "gave the number of events."
        ),
    )
    holiday_calendar = RadioField(
        _l("Public holidays"),
        choices=[
            SelectChoice(HOLIDAY_CALENDARS[0], _l("Skip Japanese public holidays")),
            SelectChoice("", _l("Do not skip public holidays")),
        ],
        default=HOLIDAY_CALENDARS[0],
        validate_choice=False,
        description=_l(
            "A date that falls on a public holiday is not made. With a number of events, the "
            "next date of the rule is taken instead, so the number stays the same."
        ),
    )

    #: The dates of the preview the office saw (``SeriesPlan.fingerprint``).
    previewed = HiddenField()

    def __init__(self, *args: Any, frequencies: list[tuple[str, str]], **kwargs: Any) -> None:
        """``frequencies``: the kinds of rule in words, for the event
        (``events.series.rule_choices``)."""
        super().__init__(*args, **kwargs)
        self.frequency.choices = [SelectChoice(value, label) for value, label in frequencies]

    def to_rule(self) -> SeriesRule:
        return SeriesRule(
            frequency=self.frequency.data or "",
            interval=self.interval.data,
            count=self.count.data,
            until=self.until.data,
            holiday_calendar=self.holiday_calendar.data or "",
        )
