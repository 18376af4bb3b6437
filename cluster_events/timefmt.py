"""Dates and times as readers expect them: always Asia/Tokyo, Japanese or English style.

2026年12月5日（土）14:00〜16:30  /  Sat 5 Dec 2026, 14:00–16:30 JST
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")

_JA_WEEKDAYS = "月火水木金土日"
_EN_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EN_MONTHS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip
_EN_MONTHS_LONG = (
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
)  # fmt: skip


def to_tokyo(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(TOKYO)


def format_date(value: datetime | date, locale: str) -> str:
    day = to_tokyo(value).date() if isinstance(value, datetime) else value
    if locale == "en":
        return f"{_EN_WEEKDAYS[day.weekday()]} {day.day} {_EN_MONTHS[day.month - 1]} {day.year}"
    return f"{day.year}年{day.month}月{day.day}日（{_JA_WEEKDAYS[day.weekday()]}）"


def format_time(value: datetime) -> str:
    return to_tokyo(value).strftime("%H:%M")


def format_datetime(value: datetime, locale: str) -> str:
    suffix = " JST" if locale == "en" else ""
    separator = ", " if locale == "en" else ""
    return f"{format_date(value, locale)}{separator}{format_time(value)}{suffix}"


def format_event_time(start: datetime, end: datetime | None, locale: str) -> str:
    """The date and time span of an event, on one line."""
    start_local = to_tokyo(start)
    if locale == "en":
        text = f"{format_date(start_local, 'en')}, {format_time(start_local)}"
        dash, suffix = "–", " JST"
    else:
        text = f"{format_date(start_local, 'ja')}{format_time(start_local)}"
        dash, suffix = "〜", ""
    if end is not None:
        end_local = to_tokyo(end)
        if end_local.date() == start_local.date():
            text += f"{dash}{format_time(end_local)}"
        else:
            separator = ", " if locale == "en" else ""
            text += f"{dash}{format_date(end_local, locale)}{separator}{format_time(end_local)}"
    return text + suffix


def all_day_dates(start: datetime, end: datetime) -> tuple[date, date]:
    """The first and the last day (inclusive) of an all-day span stored as 00:00 Tokyo
    of its first day to 00:00 Tokyo of the day after its last (an exclusive end)."""
    first = to_tokyo(start).date()
    last = to_tokyo(end).date() - timedelta(days=1)
    return first, max(first, last)


def tokyo_midnight(day: date) -> datetime:
    """00:00 Tokyo of a day: how an all-day span's days are stored."""
    return datetime(day.year, day.month, day.day, tzinfo=TOKYO)


def format_all_day(start: datetime, end: datetime, locale: str) -> str:
    """2027年3月1日（月）〜3月3日（水） / Mon 1 Mar – Wed 3 Mar 2027; one day alone says
    終日 / all day."""
    first, last = all_day_dates(start, end)
    if first == last:
        if locale == "en":
            return f"{format_date(first, 'en')}, all day"
        return f"{format_date(first, 'ja')}終日"
    if locale == "en":
        if first.year == last.year:
            head = f"{_EN_WEEKDAYS[first.weekday()]} {first.day} {_EN_MONTHS[first.month - 1]}"
        else:
            head = format_date(first, "en")
        return f"{head} – {format_date(last, 'en')}"
    tail = f"{last.month}月{last.day}日（{_JA_WEEKDAYS[last.weekday()]}）"
    if first.year != last.year:
        tail = f"{last.year}年{tail}"
    return f"{format_date(first, 'ja')}〜{tail}"


def format_span(start: datetime, end: datetime, is_all_day: bool, locale: str) -> str:
    """An event's or a session's dates: whole days, or times."""
    if is_all_day:
        return format_all_day(start, end, locale)
    return format_event_time(start, end, locale)


def format_month(year: int, month: int, locale: str) -> str:
    if locale == "en":
        return f"{_EN_MONTHS_LONG[month - 1]} {year}"
    return f"{year}年{month}月"
