"""A series of events made from one (繰り返しの催し): a rule of dates, previewed, then
each date made a draft event of its own.

- **The rule** is python-dateutil's ``rrule``, started at the source event's own start
  in Tokyo time (Asia/Tokyo has no daylight saving, so a time of day read there is kept
  on every date): every N weeks on its weekday, every N months on its weekday of the
  month (the 3rd Saturday; a 5th one is read as the month's last), or every N months on
  its day of the month (a 31st is the month's last day in a shorter month). The source
  itself is not part of the series: the series is the dates *after* it.
- **The end** is a number of events or a last date (in Tokyo), one of the two, and at
  most ``MAX_EVENTS`` events.
- **Holidays**: when asked, a date that is a Japanese public holiday (the ``holidays``
  package's Japan calendar) is not made; the rule's next date is taken instead, so a
  count is the number of events made, holidays or not. With a last date, a holiday
  just gives one event fewer. The preview lists the skipped dates with the holiday's
  name.
- **The events** are copies as ``events.services.duplicate_event`` makes them
  (``copy_event``: frames, questions, a UID of its own, a draft), numbered on from the
  source's 第N回, each with a slug of the source's with its date. Nothing links them
  afterwards: each is edited, published or cancelled alone.
- ``create_series`` makes them all in one transaction, or none: a refused rule, a slug
  taken at the same moment (``Conflict``), anything raised. One audit entry on the
  source names them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from enum import StrEnum
from functools import cache

import holidays
from dateutil import rrule
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from cluster_events.audit import record_change
from cluster_events.errors import Conflict, ServiceError
from cluster_events.events.queries import get_event
from cluster_events.events.services import copy_event, dated_slug, next_title
from cluster_events.i18n import current_locale
from cluster_events.models import Event
from cluster_events.timefmt import TOKYO, format_date, to_tokyo
from cluster_events.transactions import write_transaction

#: The most events one series makes (a year of weekly meetings; five years of monthly ones).
MAX_EVENTS = 60
#: The longest step between two dates: twelve weeks or twelve months.
MAX_INTERVAL = 12
#: The holiday calendars a series may skip: Japan's only.
HOLIDAY_CALENDARS = ("JP",)
#: Dates of a rule looked at before giving up: far more than MAX_EVENTS and the holidays
#: among them, a bound so that no rule can keep a request busy.
_MAX_DATES_LOOKED_AT = 1000


class Frequency(StrEnum):
    weekly = "weekly"
    monthly_by_weekday = "monthly_by_weekday"
    monthly_by_date = "monthly_by_date"


WEEKDAYS = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
)
ORDINALS = {1: _l("1st"), 2: _l("2nd"), 3: _l("3rd"), 4: _l("4th"), -1: _l("last")}


@dataclass
class SeriesRule:
    """What the office asked for, as the form parsed it (numbers not checked yet)."""

    frequency: str
    interval: int | None = 1
    #: How many events to make (holidays skipped do not count).
    count: int | None = None
    #: The last date (Tokyo), included.
    until: date | None = None
    #: "" (do not skip holidays) or a code of HOLIDAY_CALENDARS.
    holiday_calendar: str = ""


@dataclass(frozen=True)
class SeriesDate:
    starts_at: datetime
    ends_at: datetime
    #: The name of the holiday this date is skipped for, in the reader's language.
    holiday: str | None = None
    #: The title of the event made for this date ("" for a skipped one).
    title: str = ""
    #: Whole days, as the source (an all-day event's copies are all-day).
    is_all_day: bool = False

    @property
    def is_skipped(self) -> bool:
        return self.holiday is not None


@dataclass
class SeriesPlan:
    source: Event
    rule: SeriesRule
    #: Every date of the rule in order, the skipped holidays included.
    dates: list[SeriesDate]

    @property
    def events(self) -> list[SeriesDate]:
        """The dates that become events."""
        return [day for day in self.dates if not day.is_skipped]

    @property
    def description(self) -> str:
        return describe_rule(self.rule, self.source.starts_at)

    @property
    def fingerprint(self) -> str:
        """The events' starts: what the office saw in the preview, so that making them
        can check nothing changed since (the form's fields, or the event itself)."""
        return ",".join(day.starts_at.isoformat(timespec="minutes") for day in self.events)


# --- the rule ---------------------------------------------------------------------------------


def week_of_month(starts_at: datetime) -> int:
    """Which of its weekdays in its month a date is: 1 to 4, or -1 for a 5th (the last)."""
    week = (to_tokyo(starts_at).day - 1) // 7 + 1
    return -1 if week == 5 else week


def describe_rule(rule: SeriesRule, starts_at: datetime) -> str:
    """The rule in words, for the form's choices, the preview and the flash message."""
    local = to_tokyo(starts_at)
    weekday = WEEKDAYS[local.weekday()]
    interval = rule.interval or 1
    if rule.frequency == Frequency.weekly:
        if interval == 1:
            return _("Every week on %(weekday)s", weekday=weekday)
        return _("Every %(interval)d weeks on %(weekday)s", interval=interval, weekday=weekday)
    if rule.frequency == Frequency.monthly_by_weekday:
        ordinal = ORDINALS[week_of_month(local)]
        if interval == 1:
            return _("Every month on the %(ordinal)s %(weekday)s", ordinal=ordinal, weekday=weekday)
        return _(
            "Every %(interval)d months on the %(ordinal)s %(weekday)s",
            interval=interval,
            ordinal=ordinal,
            weekday=weekday,
        )
    text = (
        _("Every month on day %(day)d", day=local.day)
        if interval == 1
        else _("Every %(interval)d months on day %(day)d", interval=interval, day=local.day)
    )
    if local.day > 28:
        text += _(" (the last day in a shorter month)")
    return text


def rule_choices(starts_at: datetime) -> list[tuple[str, str]]:
    """The kinds of rule for an event starting at ``starts_at``, each in words."""
    return [
        (frequency.value, describe_rule(SeriesRule(frequency.value), starts_at))
        for frequency in Frequency
    ]


def _rrule(rule: SeriesRule, starts_at: datetime) -> rrule.rrule:
    """Every date of the rule from the source's start, as naive Tokyo wall-clock times
    (the source's own start first)."""
    local = to_tokyo(starts_at).replace(tzinfo=None)
    until = datetime.combine(rule.until, time.max) if rule.until else None
    options: dict = {"dtstart": local, "interval": rule.interval, "until": until}
    if rule.frequency == Frequency.weekly:
        return rrule.rrule(rrule.WEEKLY, byweekday=local.weekday(), **options)
    if rule.frequency == Frequency.monthly_by_weekday:
        weekday = rrule.weekday(local.weekday())(week_of_month(starts_at))
        return rrule.rrule(rrule.MONTHLY, byweekday=weekday, **options)
    # The same day of the month, or the month's last day when it has no such day:
    # the latest of the 28th ... that day that the month has.
    days = tuple(range(min(local.day, 28), local.day + 1))
    return rrule.rrule(rrule.MONTHLY, bymonthday=days, bysetpos=-1, **options)


@cache
def _holiday_calendar(code: str, language: str) -> holidays.HolidayBase:
    return holidays.country_holidays(code, language=language)


def _holiday_name(rule: SeriesRule, day: date) -> str | None:
    if not rule.holiday_calendar:
        return None
    language = "en_US" if current_locale() == "en" else "ja"
    return _holiday_calendar(rule.holiday_calendar, language).get(day)


def _dates(rule: SeriesRule, source: Event) -> Iterator[SeriesDate]:
    """The rule's dates after the source's, each with its holiday if it is skipped."""
    length = source.ends_at - source.starts_at
    occurrences = _rrule(rule, source.starts_at)
    for number, local in enumerate(occurrences):
        if number > _MAX_DATES_LOOKED_AT:
            return
        starts_at = local.replace(tzinfo=TOKYO)
        if starts_at <= source.starts_at:
            continue
        yield SeriesDate(
            starts_at,
            starts_at + length,
            _holiday_name(rule, local.date()),
            is_all_day=source.is_all_day,
        )


# --- checking and planning --------------------------------------------------------------------


def _rule_errors(rule: SeriesRule, source: Event) -> dict[str, str]:
    errors: dict[str, str] = {}
    if rule.frequency not in set(Frequency):
        errors["frequency"] = _("Choose how the events repeat.")
    if rule.interval is None or not 1 <= rule.interval <= MAX_INTERVAL:
        errors["interval"] = _("Enter a number from 1 to %(max)d.", max=MAX_INTERVAL)
    if rule.count is None and rule.until is None:
        errors["count"] = _(
            "Say when the series ends: enter the number of events or the last date."
        )
    elif rule.count is not None and rule.until is not None:
        errors["until"] = _("Enter either the number of events or the last date, not both.")
    elif rule.count is not None and not 1 <= rule.count <= MAX_EVENTS:
        errors["count"] = _("A series makes from 1 to %(max)d events at a time.", max=MAX_EVENTS)
    elif rule.until is not None and rule.until <= to_tokyo(source.starts_at).date():
        errors["until"] = _(
            "The last date must come after this event's date (%(date)s).",
            date=format_date(source.starts_at, current_locale()),
        )
    if rule.holiday_calendar and rule.holiday_calendar not in HOLIDAY_CALENDARS:
        errors["holiday_calendar"] = _("Only Japanese public holidays can be skipped.")
    return errors


def plan_series(source: Event, rule: SeriesRule) -> SeriesPlan:
    """The dates a rule gives after ``source``; a refused rule raises ServiceError with
    an error per field, and nothing is changed."""
    if errors := _rule_errors(rule, source):
        raise ServiceError(field_errors=errors)
    dates: list[SeriesDate] = []
    made = 0
    for day in _dates(rule, source):
        if rule.count is not None and made == rule.count:
            break
        if not day.is_skipped:
            made += 1
            day = replace(day, title=next_title(source.title, made))
            if made > MAX_EVENTS:
                raise ServiceError(
                    field_errors={
                        "until": _(
                            "Up to this date the rule gives more than %(max)d events, and "
                            "a series makes at most %(max)d at a time. Choose an earlier date.",
                            max=MAX_EVENTS,
                        )
                    }
                )
        dates.append(day)
    if made == 0 or (rule.count is not None and made < rule.count):
        field = "count" if rule.count is not None else "until"
        raise ServiceError(
            field_errors={field: _("The rule gives no date for this. Choose another end.")}
        )
    return SeriesPlan(source=source, rule=rule, dates=dates)


def preview_series(event_id: int, rule: SeriesRule) -> SeriesPlan:
    """What ``create_series`` would make, without making it."""
    return plan_series(get_event(event_id), rule)


# --- making the events ------------------------------------------------------------------------


def _slug_format(rule: SeriesRule) -> str:
    """A monthly series is dated by month (kondankai-2027-02), as a duplicate is; a weekly
    one by day, since two of its events may fall in one month."""
    return "%Y-%m-%d" if rule.frequency == Frequency.weekly else "%Y-%m"


def create_series(event_id: int, rule: SeriesRule) -> list[Event]:
    """Make each date of the rule a draft event copied from the event, all in one
    transaction, and record the series in the audit log. Returns them in date order."""
    try:
        with write_transaction():
            source = get_event(event_id)
            plan = plan_series(source, rule)
            copies = [
                copy_event(
                    source,
                    day.starts_at,
                    title=day.title,
                    slug=dated_slug(source.slug, day.starts_at, _slug_format(rule)),
                )
                for day in plan.events
            ]
            record_change(
                "event.create_series",
                "event",
                source.id,
                event_id=source.id,
                after={
                    "rule": str(_rrule(rule, source.starts_at)).splitlines()[-1],
                    "count": len(copies),
                    "skipped_holidays": ", ".join(
                        f"{to_tokyo(day.starts_at).date().isoformat()} {day.holiday}"
                        for day in plan.dates
                        if day.is_skipped
                    ),
                    "events": ", ".join(f"{copy.id} {copy.slug}" for copy in copies),
                },
            )
    except IntegrityError as error:  # a slug taken at the same moment
        raise Conflict(
            _("Another event took one of these addresses at the same moment. Please try again.")
        ) from error
    return copies
