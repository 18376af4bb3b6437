"""Filters and globals that templates use to show data; they decide nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Flask, current_app, request, url_for

from cluster_events import schedule, timefmt
from cluster_events.events.presentation import (
    availability,
    frame_availability,
    live_seats_left,
    live_waiting,
)
from cluster_events.i18n import current_locale
from cluster_events.members.sessions import template_context as member_template_context
from cluster_events.text import render_markdown


def _event_time(event: Any) -> str:
    return schedule.event_dates(event, current_locale())


def _schedule(event: Any) -> list[str]:
    """A course's sessions, one line each (none for a one-date event)."""
    return schedule.schedule_lines(event, current_locale())


def _session_time(session: Any) -> str:
    return schedule.session_line(session, current_locale())


def _span(item: Any) -> str:
    """The times (or whole days) of anything with ``starts_at``, ``ends_at`` and
    ``is_all_day`` that is not an event: a series' planned date."""
    return timefmt.format_span(item.starts_at, item.ends_at, item.is_all_day, current_locale())


def _date(value: datetime) -> str:
    return timefmt.format_date(value, current_locale())


def _datetime(value: datetime | None) -> str:
    return timefmt.format_datetime(value, current_locale()) if value else ""


def _time(value: datetime) -> str:
    return timefmt.format_time(value)


def _format_month(year: int, month: int) -> str:
    return timefmt.format_month(year, month, current_locale())


def url_with_lang(lang: str) -> str:
    """The current page in another language (the switch keeps the other query values).

    A page shown in answer to a POST (a form with errors) has no address of its own;
    the switch then leads back to the page the form was on, or to the list.
    """
    if request.endpoint is None:
        return url_for("events.index", lang=lang)
    if request.method != "GET":
        return _referrer_with_lang(lang) or url_for("events.index", lang=lang)
    args = request.args.to_dict(flat=False)
    args["lang"] = [lang]
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def _referrer_with_lang(lang: str) -> str | None:
    if not request.referrer:
        return None
    referrer = urlsplit(request.referrer)
    if referrer.netloc != request.host or not referrer.path.startswith("/"):
        return None
    query = [(k, v) for k, v in parse_qsl(referrer.query) if k != "lang"] + [("lang", lang)]
    return f"{referrer.path}?{urlencode(query)}"


def _site_context() -> dict[str, Any]:
    config = current_app.config
    english = current_locale() == "en"
    return {
        "current_locale": current_locale(),
        "site_name": config["SITE_NAME_EN"] if english else config["SITE_NAME"],
        "site_tagline": config["SITE_TAGLINE_EN"] if english else config["SITE_TAGLINE"],
        "site_footer_text": config["SITE_FOOTER_TEXT_EN"]
        if english
        else config["SITE_FOOTER_TEXT"],
        "site_contact_email": config["SITE_CONTACT_EMAIL"],
        "site_contact_phone": config["SITE_CONTACT_PHONE"],
        "site_contact_address": config["SITE_CONTACT_ADDRESS"],
        "url_with_lang": url_with_lang,
        "format_month": _format_month,
    }


def init_app(app: Flask) -> None:
    app.add_template_filter(_event_time, "event_time")
    app.add_template_filter(_schedule, "schedule")
    app.add_template_filter(_session_time, "session_time")
    app.add_template_filter(_span, "span")
    app.add_template_filter(_date, "date")
    app.add_template_filter(_datetime, "datetime")
    app.add_template_filter(_time, "time")
    app.add_template_filter(render_markdown, "markdown")
    app.add_template_filter(availability, "availability")
    app.add_template_filter(frame_availability, "frame_availability")
    app.add_template_filter(live_seats_left, "live_seats_left")
    app.add_template_filter(live_waiting, "live_waiting")
    app.context_processor(_site_context)
    app.context_processor(member_template_context)
