"""Which email registrants get when the event itself changes: it moves (time or
place) or it is cancelled; or when one session of a course moves or is cancelled (that
session alone, with its calendar entry alone). Built on the registrant emails'
helpers, and queued in the caller's transaction like every other email."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask_babel import lazy_gettext as _l

from cluster_events.models import Event, EventSession, OutboxMessage, Registration
from cluster_events.registration.notifications import (
    active,
    add_for,
    calendar_file,
    locale_of,
    paragraphs,
    reachable,
    render_for,
    session_calendar_file,
    title_for,
)
from cluster_events.schedule import session_line


def queue_event_changed(
    event: Event, registrations: Iterable[Registration], changes: list[Any]
) -> list[OutboxMessage]:
    """Tell every active registrant what changed, with the updated calendar entry
    (same UID, the event's raised SEQUENCE). ``changes`` are lines shown as given; lazy
    strings among them are rendered in each registrant's language."""
    messages = []
    for registration in active(registrations):
        subject = _l("Change of details: %(title)s", title=title_for(event, registration))
        mail = render_for(registration, "event_changed", subject, changes=changes)
        mail.attachments.append(calendar_file(event, "PUBLISH", registration))
        messages.append(add_for(mail, "event_changed", registration))
    return messages


def queue_event_cancelled(
    event: Event, registrations: Iterable[Registration], reason: str | None = None
) -> list[OutboxMessage]:
    """Tell the given registrants (already cancelled along with the event, or not) that
    the event will not take place, with a METHOD:CANCEL calendar file. The reason is
    the event's, in each registrant's language (English falling back to Japanese),
    unless ``reason`` is given."""
    messages = []
    for registration in reachable(registrations):
        subject = _l("Event cancelled: %(title)s", title=title_for(event, registration))
        if reason is None:
            shown = event.localized("cancellation_reason", locale_of(registration))
            reason_text, reason_lang = shown.text, shown.lang
        else:
            reason_text, reason_lang = reason, "ja"
        mail = render_for(
            registration,
            "event_cancelled",
            subject,
            reason=reason_text,
            reason_lang=reason_lang,
            reason_paragraphs=paragraphs(reason_text),
        )
        mail.attachments.append(calendar_file(event, "CANCEL", registration))
        messages.append(add_for(mail, "event_cancelled", registration))
    return messages


def queue_session_changed(
    event: Event, session: EventSession, registrations: Iterable[Registration], changes: list[Any]
) -> list[OutboxMessage]:
    """Tell every active registrant that one session moved, with that session's entry
    only (its UID, its raised SEQUENCE): the other sessions in their calendars stay."""
    return _queue_about_session(
        event,
        session,
        registrations,
        kind="session_changed",
        subject=lambda title: _l("Change of one session: %(title)s", title=title),
        method="PUBLISH",
        changes=changes,
    )


def queue_session_cancelled(
    event: Event, session: EventSession, registrations: Iterable[Registration], reason: str
) -> list[OutboxMessage]:
    """Tell every active registrant that one session will not take place (the course
    goes on), with a METHOD:CANCEL of that session's entry only."""
    return _queue_about_session(
        event,
        session,
        registrations,
        kind="session_cancelled",
        subject=lambda title: _l("One session cancelled: %(title)s", title=title),
        method="CANCEL",
        reason=reason,
        reason_paragraphs=paragraphs(reason),
    )


def _queue_about_session(
    event: Event,
    session: EventSession,
    registrations: Iterable[Registration],
    *,
    kind: str,
    subject: Callable[[str], Any],
    method: str,
    **values: Any,
) -> list[OutboxMessage]:
    """One email of ``kind`` per active registrant about ``session`` alone, in their
    language (``subject`` makes the lazy subject from the title, translated when the
    email is rendered in it), with that session's calendar entry (``method``) alone."""
    messages = []
    for registration in active(registrations):
        locale = "en" if registration.locale == "en" else "ja"
        mail = render_for(
            registration,
            kind,
            subject(title_for(event, registration)),
            session_line=session_line(session, locale),
            **values,
        )
        mail.attachments.append(session_calendar_file(event, session, method, registration))
        messages.append(add_for(mail, kind, registration))
    return messages
