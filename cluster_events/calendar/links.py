"""Absolute URLs for feeds and events, "add to my calendar" links for Google
Calendar and Outlook.com, and the QR code of a feed's address."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import segno
from flask import current_app, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from cluster_events.models import Event
from cluster_events.timefmt import to_tokyo
from cluster_events.urls import absolute_url

GOOGLE_TEMPLATE_URL = "https://calendar.google.com/calendar/render"
OUTLOOK_COMPOSE_URL = "https://outlook.live.com/calendar/0/action/compose"

#: Browsers and mail clients cut very long URLs; the event page holds the rest.
LINK_DETAILS_LIMIT = 200


def event_url(event: Event) -> str:
    return absolute_url("events.detail", slug=event.slug)


def webcal_url(https_url: str) -> str:
    """The same feed with the webcal: scheme, which makes phones and desktop
    calendars offer to subscribe instead of importing once."""
    return "webcal://" + https_url.split("://", 1)[1]


def qr_svg(url: str, title: str) -> str:
    """A QR code of ``url`` as inline SVG (no inline style, so the CSP allows it)."""
    qr = segno.make(url, error="m", micro=False)
    return qr.svg_inline(
        scale=4, dark="#000", light="#fff", title=title, svgclass="qr-code", lineclass=None
    )


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _shorten(text: str, limit: int = LINK_DETAILS_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_EVENT_VENUE: Any = object()


def location_text(event: Event, locale: str, online: str = "", venue: Any = _EVENT_VENUE) -> str:
    """Venue name and address on one line; for an online event, ``online`` (the meeting
    link for those who may have it, else the word for "online", or nothing). ``venue``:
    another place than the event's (a session's own)."""
    venue = event.venue if venue is _EVENT_VENUE else venue
    if venue is not None:
        name = venue.display_name(locale)
        address = venue.display_address(locale)
        return f"{name}, {address}" if address else name
    return online if event.online_url else ""


def _public_location(event: Event, locale: str) -> str:
    """Public links never carry the meeting link: it goes to confirmed registrants only."""
    with force_locale(locale):
        return location_text(event, locale, _("Online"))


def _link_details(event: Event, locale: str) -> str:
    summary = event.localized("summary", locale).text
    parts = [_shorten(summary)] if summary else []
    parts.append(event_url(event))
    return "\n\n".join(parts)


def _query(values: dict[str, str]) -> str:
    # %20 rather than "+" for spaces: Outlook.com shows a literal "+" otherwise.
    return urlencode(values, quote_via=quote, safe="/:")


def google_calendar_url(event: Event, locale: str) -> str:
    if event.is_all_day:  # whole days, the end exclusive
        dates = "/".join(
            to_tokyo(value).strftime("%Y%m%d") for value in (event.starts_at, event.ends_at)
        )
    else:
        dates = "/".join(
            _utc(value).strftime("%Y%m%dT%H%M%SZ") for value in (event.starts_at, event.ends_at)
        )
    values = {
        "action": "TEMPLATE",
        "text": event.display_title(locale),
        "dates": dates,
        "details": _link_details(event, locale),
        "location": _public_location(event, locale),
        "ctz": "Asia/Tokyo",
    }
    return f"{GOOGLE_TEMPLATE_URL}?{_query(values)}"


def outlook_calendar_url(event: Event, locale: str) -> str:
    values = {
        "subject": event.display_title(locale),
        "startdt": _utc(event.starts_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "enddt": _utc(event.ends_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "body": _link_details(event, locale),
        "location": _public_location(event, locale),
    }
    if event.is_all_day:
        values["startdt"] = to_tokyo(event.starts_at).strftime("%Y-%m-%d")
        values["enddt"] = to_tokyo(event.ends_at).strftime("%Y-%m-%d")
        values["allday"] = "true"
    return f"{OUTLOOK_COMPOSE_URL}?{_query(values)}"


@dataclass(frozen=True)
class CalendarLinks:
    """What the "add to calendar" block on an event page shows. Google and Outlook
    links are None for a cancelled event: there is nothing to add."""

    ics_url: str
    google_url: str | None
    outlook_url: str | None
    #: A course: its sessions are in the .ics file (a Google or Outlook link would
    #: add one entry only, so there is none).
    is_course: bool = False


def calendar_links(event: Event, locale: str) -> CalendarLinks:
    values = {} if locale == current_app.config["BABEL_DEFAULT_LOCALE"] else {"lang": locale}
    ics_url = url_for("calendar.event_ics", slug=event.slug, **values)
    if event.is_cancelled:
        return CalendarLinks(ics_url, None, None)
    if event.session_count:
        return CalendarLinks(ics_url, None, None, is_course=True)
    return CalendarLinks(
        ics_url, google_calendar_url(event, locale), outlook_calendar_url(event, locale)
    )


_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def content_disposition(filename: str, fallback: str, disposition: str = "attachment") -> str:
    """A Content-Disposition header with an ASCII fallback name and the real
    (possibly Japanese) name as RFC 5987 ``filename*``."""
    cleaned = _UNSAFE_FILENAME.sub("_", unicodedata.normalize("NFC", filename)).strip() or fallback
    ascii_name = _UNSAFE_FILENAME.sub("_", fallback)
    ascii_name = ascii_name.encode("ascii", "ignore").decode() or "calendar.ics"
    header = f'{disposition}; filename="{ascii_name}"'
    if cleaned != ascii_name:
        header += f"; filename*=UTF-8''{quote(cleaned, safe='')}"
    return header
