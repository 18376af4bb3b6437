"""The one place that builds iCalendar data: feeds, per-event downloads and the
attachments of registration and change emails.

Choices that calendar clients depend on:

- times are written in UTC (``...Z``): a ``TZID`` without a matching VTIMEZONE
  is what makes Outlook shift times, and UTC reads the same everywhere;
- the UID is the one stored at creation; SEQUENCE is ``Event.sequence`` (raised
  by calendar.sequence whenever time, place, title or status changes);
- a course's sessions (``EventSession``) are one entry each, with the session's own
  UID and SEQUENCE (the event's plus the session's), the event's URL and a
  ``RELATED-TO;RELTYPE=PARENT`` naming the event's UID (clients that know nothing of
  it ignore it); an event without sessions is one entry with the event's UID;
- an all-day event or session is written with ``VALUE=DATE`` starts and ends, the end
  exclusive (the day after the last), as RFC 5545 asks;
- cancelled events stay in feeds with STATUS:CANCELLED so subscribers' copies
  are marked, not silently orphaned;
- DTSTAMP is the last change of what the entry shows, not the clock, so the same
  data gives the same bytes and the feeds can carry a strong ETag. A cancellation of a
  registration is the exception: it is a new message, stamped now.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import icalendar
from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import gettext as _

from cluster_events.calendar import links
from cluster_events.database import utcnow
from cluster_events.i18n import current_locale
from cluster_events.models import Category, Event, EventSession
from cluster_events.timefmt import to_tokyo

CONTENT_TYPE = "text/calendar; charset=utf-8"
#: How often subscribed clients should poll (REFRESH-INTERVAL, X-PUBLISHED-TTL).
REFRESH_INTERVAL = timedelta(hours=1)
TIMEZONE_NAME = "Asia/Tokyo"


def attachment_content_type(method: str = "PUBLISH") -> str:
    """MIME type for an email attachment: ``text/calendar; charset=utf-8; method=...``."""
    return f"{CONTENT_TYPE}; method={method.upper()}"


def _default_locale() -> str:
    if has_request_context():
        return current_locale()
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def last_modified(event: Event) -> datetime:
    """When anything shown in the event's calendar entry last changed, including its
    venue and category. Not ``Event.updated_at``: seat counts change that
    (calendar.content_version)."""
    stamps = [event.content_updated_at, event.category.updated_at]
    if event.venue is not None:
        stamps.append(event.venue.updated_at)
    return max(_utc(stamp) for stamp in stamps if stamp is not None)


def session_last_modified(event: Event, session: EventSession) -> datetime:
    """When anything shown in one session's entry last changed: the session itself, or
    what its entry shares with the event's other sessions (calendar.content_version
    stamps those on every session), its venue and the category. Moving another
    session leaves it as it was."""
    stamps = [session.content_updated_at, event.category.updated_at]
    venue = session.shown_venue
    if venue is not None:
        stamps.append(venue.updated_at)
    return max(_utc(stamp) for stamp in stamps if stamp is not None)


@dataclass(frozen=True)
class _Context:
    """Everything shared by all events of one calendar, worked out once."""

    locale: str
    site_name: str
    organizer: icalendar.vCalAddress
    cancelled_title: str
    waiting_title: str
    pending_title: str
    not_drawn_title: str
    entered_title: str
    fact: str
    fee_label: str
    free_text: str
    online_label: str
    details_label: str
    cancelled_notice: str
    japanese_only: str
    session_title: str
    session_cancelled_notice: str


def _context(locale: str) -> _Context:
    config = current_app.config
    site_name = config["SITE_NAME_EN"] if locale == "en" else config["SITE_NAME"]
    organizer = icalendar.vCalAddress(f"mailto:{config['SITE_CONTACT_EMAIL']}")
    organizer.params["cn"] = icalendar.vText(site_name)
    with force_locale(locale):
        return _Context(
            locale=locale,
            site_name=site_name,
            organizer=organizer,
            cancelled_title=_("[Cancelled] %(title)s"),
            waiting_title=_("[Waiting list] %(title)s"),
            pending_title=_("[Awaiting approval] %(title)s"),
            not_drawn_title=_("[Not drawn – waiting list] %(title)s"),
            entered_title=_("[Lottery entry – awaiting the draw] %(title)s"),
            fact=_("%(label)s: %(value)s"),
            fee_label=_("Fee"),
            free_text=_("Free"),
            online_label=_("Online"),
            details_label=_("Details and registration"),
            cancelled_notice=_("This event has been cancelled."),
            japanese_only=_("This event is described in Japanese only."),
            session_title=_("%(title)s (session %(number)d)"),
            session_cancelled_notice=_("This session has been cancelled."),
        )


def _description(event: Event, context: _Context, page_url: str, include_online_link: bool) -> str:
    """The entry's text in the calendar's language: the English texts for English,
    each one not written in English falling back to the Japanese (the summary then
    after a line saying the event is described in Japanese only)."""
    locale = context.locale
    parts = []
    if event.is_cancelled:
        notice = context.cancelled_notice
        reason = event.localized("cancellation_reason", locale)
        if reason:
            notice += "\n" + reason.text
        parts.append(notice)
    summary = event.localized("summary", locale)
    if summary.is_fallback and not event.is_described_in_english:
        parts.append(context.japanese_only)
    if summary:
        parts.append(summary.text)
    fee = event.localized("fee_text", locale)
    facts = [(context.fee_label, fee.text or context.free_text)]
    if event.online_url and include_online_link:
        facts.append((context.online_label, event.online_url))
    facts.append((context.details_label, page_url))
    parts.append(
        "\n".join(context.fact % {"label": label, "value": value} for label, value in facts)
    )
    return "\n\n".join(parts)


def _add_times(component: icalendar.Event, start: datetime, end: datetime, all_day: bool) -> None:
    if all_day:
        # VALUE=DATE, the end exclusive: stored as 00:00 Tokyo of the first day and of
        # the day after the last (models.Event.is_all_day).
        component.add("dtstart", to_tokyo(start).date())
        component.add("dtend", to_tokyo(end).date())
    else:
        component.add("dtstart", _utc(start))
        component.add("dtend", _utc(end))


def _component(
    event: Event,
    context: _Context,
    *,
    sequence: int | None = None,
    cancelled: bool | None = None,
    stamp: datetime | None = None,
    include_online_link: bool = False,
    waiting: bool = False,
    title_format: str | None = None,
    session: EventSession | None = None,
) -> icalendar.Event:
    """One entry: the event's, or one session's (``session``; ``sequence`` is then an
    offset on the session's own). The online meeting link is left out unless asked
    for: only confirmed registrants (their emails) and the office (its own .ics) may
    have it. ``waiting`` marks the title of a person's own entry while they are on the
    waiting list; ``title_format`` (one of the context's titles) marks it otherwise."""
    session_cancelled = session is not None and session.is_cancelled
    if cancelled is None:
        cancelled = event.is_cancelled or session_cancelled
    page_url = links.event_url(event)
    modified = last_modified(event) if session is None else session_last_modified(event, session)
    title = event.display_title(context.locale)
    if session is not None:
        title = context.session_title % {"title": title, "number": session.position}
    if waiting and title_format is None:
        title_format = context.waiting_title
    if title_format is not None:
        title = title_format % {"title": title}
    if event.is_cancelled or session_cancelled:
        title = context.cancelled_title % {"title": title}

    component = icalendar.Event()
    if session is None:
        component.add("uid", event.uid)
        component.add("created", _utc(event.created_at))
        own_sequence = event.sequence
    else:
        component.add("uid", session.uid)
        component.add("created", _utc(session.created_at))
        own_sequence = event.sequence + session.sequence
    component.add("dtstamp", stamp or modified)
    component.add("last-modified", modified)
    component.add("sequence", own_sequence if sequence is None else own_sequence + sequence)
    if session is None:
        _add_times(component, event.starts_at, event.ends_at, event.is_all_day)
    else:
        _add_times(component, session.starts_at, session.ends_at, session.is_all_day)
    component.add("summary", title)
    online = event.online_url if include_online_link else context.online_label
    location = links.location_text(event, context.locale, online, venue=_venue_of(event, session))
    if location:
        component.add("location", location)
    description = _description(event, context, page_url, include_online_link)
    if session_cancelled and not event.is_cancelled:
        notice = context.session_cancelled_notice
        if session.cancellation_reason:  # type: ignore[union-attr]
            notice += "\n" + session.cancellation_reason  # type: ignore[union-attr]
        description = notice + "\n\n" + description
    component.add("description", description)
    component.add("url", page_url)
    if session is not None:
        component.add("related-to", event.uid, parameters={"RELTYPE": "PARENT"})
    component.add("organizer", context.organizer)
    component.add("categories", [event.category.name(context.locale)])
    component.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    component.add("transp", "TRANSPARENT" if _is_all_day(event, session) else "OPAQUE")
    component.add("class", "PUBLIC")
    return component


def _venue_of(event: Event, session: EventSession | None) -> object:
    return event.venue if session is None else session.shown_venue


def _is_all_day(event: Event, session: EventSession | None) -> bool:
    return event.is_all_day if session is None else session.is_all_day


def _components(
    event: Event,
    context: _Context,
    *,
    sessions: Iterable[EventSession] | None = None,
    **options: object,
) -> list[icalendar.Event]:
    """The event's entries: one per session of a course (or of ``sessions``, some of
    them), else the event's own."""
    if not event.session_count:
        return [_component(event, context, **options)]  # type: ignore[arg-type]
    chosen = event.sessions if sessions is None else sessions
    return [
        _component(event, context, session=session, **options)  # type: ignore[arg-type]
        for session in chosen
    ]


def _calendar(method: str) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("prodid", f"-//{current_app.config['SITE_NAME_EN']}//cluster-events//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    return calendar


def _subscription_calendar(name: str) -> icalendar.Calendar:
    """A feed's calendar. Single-event files leave these properties out: with a
    calendar name, Outlook opens a file as a separate new calendar instead of
    adding the event to the reader's own."""
    calendar = _calendar("PUBLISH")
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", TIMEZONE_NAME)
    calendar.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", icalendar.vDuration(REFRESH_INTERVAL))
    return calendar


def calendar_name(category: Category | None, locale: str) -> str:
    """X-WR-CALNAME: the site's name, plus the category for a category feed."""
    config = current_app.config
    site_name = config["SITE_NAME_EN"] if locale == "en" else config["SITE_NAME"]
    if category is None:
        return site_name
    with force_locale(locale):
        return _("%(site)s – %(category)s", site=site_name, category=category.name(locale))


def events_to_ical(
    events: Iterable[Event],
    *,
    name: str | None = None,
    locale: str | None = None,
    waiting: Collection[int] = (),
    pending: Collection[int] = (),
    not_drawn: Collection[int] = (),
    entered: Collection[int] = (),
) -> bytes:
    """A subscribable calendar of events (a feed). Events need their category and
    venue loaded; load them in the same query (see calendar.queries.feed_events).
    ``waiting`` holds the ids of events whose title says "waiting list" (a person's
    own feed, where they are on the waiting list), ``not_drawn`` those of them whose
    lottery did not draw the person, ``entered`` those whose lottery they entered and
    that is not drawn yet, and ``pending`` those whose title says "awaiting approval"."""
    locale = locale or _default_locale()
    context = _context(locale)
    calendar = _subscription_calendar(name or context.site_name)
    for event in events:
        title_format = None
        if event.id in entered:
            title_format = context.entered_title
        elif event.id in not_drawn:
            title_format = context.not_drawn_title
        elif event.id in pending:
            title_format = context.pending_title
        for component in _components(
            event, context, waiting=event.id in waiting, title_format=title_format
        ):
            calendar.add_component(component)
    return calendar.to_ical()


def event_to_ical(
    event: Event,
    method: str = "PUBLISH",
    *,
    locale: str | None = None,
    include_online_link: bool = False,
    sessions: Iterable[EventSession] | None = None,
) -> bytes:
    """One event as a calendar: METHOD:PUBLISH for a download or a confirmation
    email (the updated entry for a change notice), METHOD:CANCEL to remove it. A
    course gives one entry per session; ``sessions`` narrows it to those (the notice
    of one moved session carries that session's entry only)."""
    if method.upper() == "CANCEL":
        return cancellation_ical(event, locale=locale, sessions=sessions)
    locale = locale or _default_locale()
    context = _context(locale)
    calendar = _calendar(method.upper())
    for component in _components(
        event, context, sessions=sessions, include_online_link=include_online_link
    ):
        calendar.add_component(component)
    return calendar.to_ical()


def cancellation_ical(
    event: Event,
    *,
    locale: str | None = None,
    attendee_email: str | None = None,
    sessions: Iterable[EventSession] | None = None,
) -> bytes:
    """METHOD:CANCEL with the same UID, so the entry leaves the recipient's calendar.

    For a cancelled event the SEQUENCE is the event's (already raised when it was
    cancelled); for an event that goes on (one registrant cancelled) it is one
    above, since a CANCEL must carry a higher SEQUENCE than the entry it removes.
    ``attendee_email`` names the person removed (RFC 5546 asks for it). A course's
    sessions (or ``sessions``, some of them) are one entry each, likewise: a cancelled
    session keeps its SEQUENCE.
    """
    locale = locale or _default_locale()
    context = _context(locale)
    calendar = _calendar("CANCEL")
    now = utcnow()
    if event.session_count:
        chosen = event.sessions if sessions is None else list(sessions)
        components = [
            _component(
                event,
                context,
                session=session,
                sequence=0 if event.is_cancelled or session.is_cancelled else 1,
                cancelled=True,
                stamp=now,
            )
            for session in chosen
        ]
    else:
        offset = 0 if event.is_cancelled else 1
        components = [_component(event, context, sequence=offset, cancelled=True, stamp=now)]
    for component in components:
        if attendee_email:
            component.add("attendee", icalendar.vCalAddress(f"mailto:{attendee_email}"))
        calendar.add_component(component)
    return calendar.to_ical()


def ical_attachment(
    event: Event,
    method: str = "PUBLISH",
    *,
    locale: str | None = None,
    attendee_email: str | None = None,
    include_online_link: bool = False,
    sessions: Iterable[EventSession] | None = None,
) -> dict[str, str]:
    """An entry for ``OutboxMessage.attachments``: filename, content type and text."""
    method = method.upper()
    if method == "CANCEL":
        data = cancellation_ical(
            event, locale=locale, attendee_email=attendee_email, sessions=sessions
        )
    else:
        data = event_to_ical(
            event,
            method,
            locale=locale,
            include_online_link=include_online_link,
            sessions=sessions,
        )
    return {
        "filename": ics_filename(event),
        "content_type": attachment_content_type(method),
        "data": data.decode("utf-8"),
    }


def ics_filename(event: Event) -> str:
    """ASCII file name for an event's .ics (its slug)."""
    slug = event.slug.encode("ascii", "ignore").decode() or f"event-{event.id}"
    return f"{slug}.ics"
