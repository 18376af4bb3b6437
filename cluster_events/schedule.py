"""An event's dates as readers read them: one line for a one-date event (times, or
whole days), one line per session of a course (第2回 2027年3月8日（月）14:00〜16:00).

Like ``timefmt``, the words are written per language here (Japanese, English), not
looked up in a catalog: they belong to the dates.
"""

from __future__ import annotations

from cluster_events.models import Event, EventSession
from cluster_events.timefmt import all_day_dates, format_date, format_span, to_tokyo


def session_label(position: int, locale: str) -> str:
    """第2回 / Session 2."""
    return f"Session {position}" if locale == "en" else f"第{position}回"


def session_dates(session: EventSession, locale: str) -> str:
    return format_span(session.starts_at, session.ends_at, session.is_all_day, locale)


def session_line(session: EventSession, locale: str, *, with_venue: bool = True) -> str:
    """第2回　2027年3月8日（月）14:00〜16:00（YRPベンチャー棟）【中止】: the number, the dates,
    its own venue when it differs from the event's, and whether it is cancelled."""
    separator = ": " if locale == "en" else "　"
    line = f"{session_label(session.position, locale)}{separator}{session_dates(session, locale)}"
    if with_venue and session.venue_id is not None and session.venue is not None:
        name = session.venue.display_name(locale)
        line += f" ({name})" if locale == "en" else f"（{name}）"
    if session.is_cancelled:
        line += " [Cancelled]" if locale == "en" else "【中止】"
    return line


def schedule_lines(event: Event, locale: str) -> list[str]:
    """One line per session of a course; none for a one-date event."""
    if not event.session_count:
        return []
    return [session_line(session, locale) for session in event.sessions]


def event_dates(event: Event, locale: str) -> str:
    """The event's dates on one line: its times or days; for a course, the days it runs
    and how many sessions (2027年3月1日（月）〜2027年3月15日（月）（全3回）)."""
    if not event.session_count:
        return format_span(event.starts_at, event.ends_at, event.is_all_day, locale)
    sessions = event.sessions
    first = to_tokyo(sessions[0].starts_at).date()
    last_session = sessions[-1]
    if last_session.is_all_day:
        last = all_day_dates(last_session.starts_at, last_session.ends_at)[1]
    else:
        last = to_tokyo(last_session.ends_at).date()
    count = len(sessions)
    dash = " – " if locale == "en" else "〜"
    span = format_date(first, locale)
    if last != first:
        span += dash + format_date(last, locale)
    return f"{span} ({count} sessions)" if locale == "en" else f"{span}（全{count}回）"
