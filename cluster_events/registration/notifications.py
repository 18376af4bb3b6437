"""Which email a registrant gets for which change of their registration, and what
every email to a registrant carries (event details, personal link, QR code, .ics).

Each function only adds OutboxMessage rows to ``db.session`` (through mail's
``add_to_outbox``): the caller's transaction commits them together with the change
they announce, so an email is never sent for a change that was rolled back, and
never lost for one that was committed. Every message is rendered at once, in the
registrant's own language. Emails about a change of the event itself are in
``events/notifications.py``, on top of the helpers here.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import segno
from flask import Flask
from flask_babel import lazy_gettext as _l

from cluster_events import timefmt
from cluster_events.calendar import ical
from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.mail.messages import (
    Attachment,
    RenderedMail,
    add_to_outbox,
    register_send_time_value,
    render_mail,
)
from cluster_events.models import Event, OutboxMessage, Registration, RegistrationStatus
from cluster_events.registration import tokens
from cluster_events.urls import absolute_url

QR_SCALE = 5
QR_BORDER = 4
#: Stands for the registrant's personal link in stored messages; mail writes the link
#: in when the message is sent. The link lets anyone cancel the registration, and the
#: database keeps only a hash of it: the outbox must not be the place where it leaks.
PERSONAL_URL_MARK = "__PERSONAL_URL__"


def personal_url(registration: Registration) -> str:
    """The registrant's own page, where they see and cancel their registration."""
    return absolute_url("registration.manage", token=tokens.personal_token(registration))


def checkin_url(registration: Registration) -> str:
    """What the QR code in the confirmation email opens, for the staff at the door."""
    return absolute_url("admin.checkin_scan", code=tokens.checkin_code(registration))


def _personal_url_of(message: OutboxMessage) -> str | None:
    return personal_url(message.registration) if message.registration is not None else None


def init_app(app: Flask) -> None:
    register_send_time_value(app, PERSONAL_URL_MARK, _personal_url_of)


def queue_registration_received(registration: Registration) -> list[OutboxMessage]:
    """Confirmation, or the waiting-list notice with the person's position."""
    event = registration.event
    title = title_for(event, registration)
    if registration.status == RegistrationStatus.waiting:
        kind = "waitlisted"
        mail = render_for(registration, kind, _l("Waiting list: %(title)s", title=title))
    else:
        kind = "confirmation"
        subject = _l("Registration received: %(title)s", title=title)
        mail = render_for(registration, kind, subject, with_qr=True)
    mail.attachments.append(calendar_file(event, "PUBLISH", registration))
    return [add_for(mail, kind, registration)]


def queue_promoted(registration: Registration) -> list[OutboxMessage]:
    event = registration.event
    subject = _l("You have a seat: %(title)s", title=title_for(event, registration))
    mail = render_for(registration, "promoted", subject, with_qr=True)
    mail.attachments.append(calendar_file(event, "PUBLISH", registration))
    return [add_for(mail, "promoted", registration)]


def queue_cancellation_receipt(registration: Registration) -> list[OutboxMessage]:
    """Receipt for a cancelled registration (or a person leaving the waiting list), with
    a METHOD:CANCEL calendar file that takes the event out of their calendar."""
    event = registration.event
    subject = _l("Cancellation received: %(title)s", title=title_for(event, registration))
    mail = render_for(registration, "cancellation_receipt", subject)
    mail.attachments.append(calendar_file(event, "CANCEL", registration))
    return [add_for(mail, "cancellation_receipt", registration)]


def queue_personal_link(registration: Registration) -> list[OutboxMessage]:
    """The personal link again, for a registrant whose address was used to sign up a
    second time from a browser that is not theirs (they may have lost the first email)."""
    subject = _l("Your registration: %(title)s", title=title_for(registration.event, registration))
    mail = render_for(registration, "personal_link", subject)
    return [add_for(mail, "personal_link", registration)]


def queue_reminder(registration: Registration, now: datetime | None = None) -> list[OutboxMessage]:
    """The reminder before the event. Its dedupe key makes a second one for the same
    registration fail at the database (see mail.reminders)."""
    event = registration.event
    title = title_for(event, registration)
    days_ahead = _days_ahead(event.starts_at, now or utcnow())
    if days_ahead <= 0:
        subject = _l("Reminder: %(title)s is today", title=title)
    elif days_ahead == 1:
        subject = _l("Reminder: %(title)s is tomorrow", title=title)
    else:
        date = timefmt.format_date(event.starts_at, _locale(registration))
        subject = _l("Reminder: %(title)s on %(date)s", title=title, date=date)
    mail = render_for(registration, "reminder", subject, with_qr=True)
    mail.attachments.append(calendar_file(event, "PUBLISH", registration))
    return [add_for(mail, "reminder", registration, dedupe_key=f"reminder:{registration.id}")]


def queue_organizer_message(
    event: Event, registrations: Iterable[Registration], subject: str, body: str
) -> list[OutboxMessage]:
    """A message the organizer wrote, sent as written, with each person's own link."""
    messages = []
    for registration in active(registrations):
        mail = render_for(
            registration,
            "organizer_message",
            subject,
            message_body=body,
            message_paragraphs=paragraphs(body),
        )
        messages.append(add_for(mail, "organizer_message", registration))
    return messages


def render_for(
    registration: Registration,
    template: str,
    subject: Any,
    *,
    with_qr: bool = False,
    **extra: Any,
) -> RenderedMail:
    if registration.id is None:
        db.session.flush()
    locale = _locale(registration)
    context = {
        **_event_context(registration.event, locale, _may_join_online(registration)),
        "name": registration.name,
        "waiting_position": registration.waiting_position,
        # The link is written in when the message is sent: the outbox never holds it.
        "personal_url": PERSONAL_URL_MARK,
        "ics_filename": ical.ics_filename(registration.event),
        **extra,
    }
    qr = None
    if with_qr:
        qr, context["checkin_qr_size"] = _checkin_qr(registration)
        context["checkin_qr_cid"] = qr.content_id
    mail = render_mail(template, locale, subject, context)
    if qr is not None:
        mail.attachments.append(qr)
    return mail


def _may_join_online(registration: Registration) -> bool:
    """The online meeting link goes to people with a seat, and to nobody else."""
    return registration.status == RegistrationStatus.confirmed


def _event_context(event: Event, locale: str, with_online_link: bool) -> dict[str, Any]:
    venue = event.venue
    return {
        "event_title": event.display_title(locale),
        "event_time": timefmt.format_event_time(event.starts_at, event.ends_at, locale),
        "venue_name": venue.display_name(locale) if venue else "",
        "venue_address": venue.display_address(locale) if venue else "",
        "access_notes": venue.access_notes if venue else "",
        "map_url": venue.map_url if venue else "",
        "online_url": event.online_url if with_online_link else "",
        "fee": event.fee_text,
        "event_url": absolute_url("events.detail", slug=event.slug),
    }


def add_for(
    mail: RenderedMail, kind: str, registration: Registration, dedupe_key: str | None = None
) -> OutboxMessage:
    return add_to_outbox(
        mail,
        kind=kind,
        recipient=registration.email,
        event_id=registration.event_id,
        registration_id=registration.id,
        dedupe_key=dedupe_key,
    )


def active(registrations: Iterable[Registration]) -> list[Registration]:
    return [r for r in reachable(registrations) if r.status != RegistrationStatus.cancelled]


def reachable(registrations: Iterable[Registration]) -> list[Registration]:
    return [r for r in registrations if r.personal_data_purged_at is None and r.email]


def paragraphs(text: str) -> list[list[str]]:
    """Plain text as paragraphs of lines, for the HTML part."""
    return [block.splitlines() for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]


def title_for(event: Event, registration: Registration) -> str:
    return event.display_title(_locale(registration))


def _locale(registration: Registration) -> str:
    return "en" if registration.locale == "en" else "ja"


def _days_ahead(starts_at: datetime, now: datetime) -> int:
    """0 when the event is today in Tokyo, 1 tomorrow, and so on."""
    return (timefmt.to_tokyo(starts_at).date() - timefmt.to_tokyo(now).date()) // timedelta(days=1)


def _checkin_qr(registration: Registration) -> tuple[Attachment, int]:
    """The check-in QR code as an inline PNG, and its width in pixels."""
    code = segno.make(checkin_url(registration), error="m")
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=QR_SCALE, border=QR_BORDER)
    width, _height = code.symbol_size(scale=QR_SCALE, border=QR_BORDER)
    content_id = f"checkin-qr-{registration.id}@cluster-events"
    return Attachment.inline_png(buffer.getvalue(), "checkin-qr.png", content_id), width


def calendar_file(event: Event, method: str, registration: Registration) -> Attachment:
    """The event as an .ics in the registrant's language, from the calendar module
    (same UID as the feeds; a CANCEL names the registrant and carries a higher SEQUENCE)."""
    attendee = registration.email if method == "CANCEL" else None
    return Attachment.from_json(
        ical.ical_attachment(
            event,
            method,
            locale=_locale(registration),
            attendee_email=attendee,
            include_online_link=_may_join_online(registration),
        )
    )
