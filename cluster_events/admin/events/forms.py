"""The event form, the cancel form, the frame and code forms and the series form: they
parse and normalise what organizers type; the rules live in events/services.py,
events/frames.py and events/series.py."""

from __future__ import annotations

from datetime import date, datetime, timedelta
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
from cluster_events.events.sessions import SessionData
from cluster_events.forms import Form, WebAddress
from cluster_events.models import Category, Event, FrameEligibility, FrameSelection, Venue
from cluster_events.registration.labels import ELIGIBILITY_LABELS, SELECTION_LABELS
from cluster_events.registration.services import MAX_COMPANIONS
from cluster_events.timefmt import TOKYO, all_day_dates, to_tokyo, tokyo_midnight

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


def _plausible_day(form: Any, field: Any) -> None:
    if field.data is not None and not 2000 <= field.data.year <= 2100:
        raise ValidationError(_l("Enter a date between the years 2000 and 2100."))


class TimesFields(Form):
    """When: a start and an end (Japan time), or, for an all-day event or session
    (終日), its first and last day. The span is worked out here; its rules (an end
    after the start, no time on an all-day one, sessions in order) are the service's."""

    starts_at = DateTimeLocalField(
        _l("Starts"), format=LOCAL_FORMATS, validators=[Optional(), _plausible_year]
    )
    ends_at = DateTimeLocalField(
        _l("Ends"), format=LOCAL_FORMATS, validators=[Optional(), _plausible_year]
    )
    is_all_day = BooleanField(
        _l("All day (終日): dates only, no times"),
        description=_l(
            "Tick it and give the first and the last day below; leave the start and end "
            "times empty."
        ),
    )
    first_day = DateField(_l("First day"), validators=[Optional(), _plausible_day])
    last_day = DateField(
        _l("Last day"),
        validators=[Optional(), _plausible_day],
        description=_l("Leave empty for a one-day event."),
    )

    #: The times are not on the form (a course's come from its sessions).
    times_fixed = False

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if self.times_fixed:
            return valid
        if self.is_all_day.data:
            if self.starts_at.data is not None or self.ends_at.data is not None:
                target = self.starts_at if self.starts_at.data is not None else self.ends_at
                target.errors = [
                    *target.errors,
                    _l(
                        "An all-day event has dates only, no time. Clear the start and end "
                        "times, or untick “All day”."
                    ),
                ]
                valid = False
            if self.first_day.data is None and not self.first_day.errors:
                self.first_day.errors = [_l("Enter the first day.")]
                valid = False
            elif (
                self.first_day.data is not None
                and self.last_day.data is not None
                and self.last_day.data < self.first_day.data
            ):
                self.last_day.errors = [_l("The last day cannot be before the first day.")]
                valid = False
        else:
            for field, message in (
                (self.starts_at, _l("Enter the start.")),
                (self.ends_at, _l("Enter the end.")),
            ):
                if field.data is None and not field.errors:
                    field.errors = [message]
                    valid = False
        return valid

    def span(self) -> tuple[datetime, datetime, bool]:
        """(start, end, all day), aware: all-day as 00:00 Tokyo of the first day to 00:00
        of the day after the last. None for what the form lacks (the preview of a form
        with errors reads its texts only)."""
        if self.times_fixed:
            return None, None, False  # type: ignore[return-value]  # the caller's
        if self.is_all_day.data:
            first: date | None = self.first_day.data
            if first is None:
                return None, None, True  # type: ignore[return-value]
            last: date = self.last_day.data or first
            return tokyo_midnight(first), tokyo_midnight(last + timedelta(days=1)), True
        return from_tokyo_local(self.starts_at.data), from_tokyo_local(self.ends_at.data), False

    def fill_times(self, starts_at: datetime, ends_at: datetime, is_all_day: bool) -> None:
        self.is_all_day.data = is_all_day
        if is_all_day:
            self.first_day.data, last = all_day_dates(starts_at, ends_at)
            self.last_day.data = last if last != self.first_day.data else None
            self.starts_at.data = self.ends_at.data = None
        else:
            self.starts_at.data = utc_to_tokyo_local(starts_at)
            self.ends_at.data = utc_to_tokyo_local(ends_at)


class EventForm(TimesFields):
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
            if name in ("starts_at", "ends_at", "is_all_day"):
                continue
            value = getattr(event, name)
            if isinstance(value, datetime):
                value = utc_to_tokyo_local(value)
            getattr(self, name).data = value
        self.fill_times(event.starts_at, event.ends_at, event.is_all_day)

    def to_data(self) -> EventData:
        starts_at, ends_at, is_all_day = self.span()
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
            starts_at=starts_at,
            ends_at=ends_at,
            is_all_day=is_all_day,
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


class SessionForm(TimesFields):
    """One session of a course; the rules are in events/sessions.py."""

    venue_id = SelectField(
        _l("Venue"),
        coerce=lambda value: int(value) if value not in (None, "") else None,
        validate_choice=True,
    )
    notify = BooleanField(
        _l("Tell the registrants by email about this session"),
        default=True,
        description=_l("Only this session's change is sent, with its calendar entry."),
    )

    def __init__(self, *args: Any, venues: list[Venue], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.venue_id.choices = [
            SelectChoice("", _l("The event's venue")),
            *(SelectChoice(str(v.id), v.name) for v in venues),
        ]

    def fill_from_session(self, data: SessionData) -> None:
        self.fill_times(data.starts_at, data.ends_at, data.is_all_day)
        self.venue_id.data = data.venue_id

    def to_data(self) -> SessionData:
        starts_at, ends_at, is_all_day = self.span()
        return SessionData(starts_at, ends_at, is_all_day, self.venue_id.data)


class CancelSessionForm(Form):
    reason = TextAreaField(
        _l("Reason for cancelling this session"),
        validators=[DataRequired(message=_l("Write the reason; registrants will read it."))],
        filters=[strip_multiline],
        description=_l("Sent to every registrant with this session's date."),
    )
