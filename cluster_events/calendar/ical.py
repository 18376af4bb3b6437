"""The one place that builds iCalendar data: feeds, downloads and email attachments.

Minimal first version (foundation); the calendar issue completes it.
"""

from __future__ import annotations

from collections.abc import Iterable

import icalendar
from flask import current_app

from cluster_events.database import utcnow
from cluster_events.models import Event


def event_to_component(event: Event) -> icalendar.Event:
    component = icalendar.Event()
    component.add("uid", event.uid)
    component.add("dtstamp", utcnow())
    component.add("dtstart", event.starts_at)
    component.add("dtend", event.ends_at)
    component.add("sequence", event.sequence)
    component.add("summary", event.title)
    component.add("status", "CANCELLED" if event.is_cancelled else "CONFIRMED")
    return component


def events_to_ical(events: Iterable[Event], method: str = "PUBLISH") -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", f"-//{current_app.config['SITE_NAME_EN']}//cluster-events//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    for event in events:
        calendar.add_component(event_to_component(event))
    return calendar.to_ical()


def event_to_ical(event: Event, method: str = "PUBLISH") -> bytes:
    """One event as a calendar; ``method`` is PUBLISH, or CANCEL to remove it."""
    return events_to_ical([event], method=method)
