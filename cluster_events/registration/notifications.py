"""Which email a registrant gets for which change of their registration, and what
every email to a registrant carries (event details, personal link, QR code, .ics).

Each function only adds OutboxMessage rows to ``db.session`` (through mail's
``add_to_outbox``): the caller's transaction commits them together with the change
they announce, so an email is never sent for a change that was rolled back, and
never lost for one that was committed. Every message is written in the registrant's
own language.

The emails about a person's own registration (confirmation, waiting list, seat,
cancellation receipt, personal link, reminder) are made from the registration and
its event alone, so they are rendered when mail sends them (``render_when_sent``):
the row holds the subject and what must stay as it was when the change happened
(which template, the waiting position, whether the person had a seat and so the
online link, which calendar file), and the body, the calendar file and the check-in
QR code are made then, from the registration and the event as they are. A sign-up's
transaction then writes one small row instead of rendering two templates, an .ics
and a QR code (whose mask search is the costliest step), and neither the personal
link nor the check-in URL ever rests in the outbox. Messages with words of the
office's own (an organizer's message) and emails about a change of the event itself
(``events/notifications.py``, on top of the helpers here) are rendered at once.
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

from cluster_events import schedule, timefmt
from cluster_events.calendar import ical
from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.mail.messages import (
    Attachment,
    RenderedMail,
    add_to_outbox,
    register_renderer,
    register_send_time_value,
    render_mail,
)
from cluster_events.models import (
    Event,
    EventSession,
    OutboxMessage,
    Registration,
    RegistrationStatus,
)
from cluster_events.registration import answers, tokens
from cluster_events.urls import absolute_url

QR_SCALE = 5
QR_BORDER = 4
#: Stands for the registrant's personal link in stored messages; mail writes the link
#: in when the message is sent. The link lets anyone cancel the registration, and the
#: database keeps only a hash of it: the outbox must not be the place where it leaks.
PERSONAL_URL_MARK = "__PERSONAL_URL__"
#: The renderer (mail.messages.register_renderer) of the emails rendered when sent.
RENDERER = "registration"
#: The emails that repeat the registrant's answers to the event's questions.
WITH_ANSWERS = ("confirmation", "waitlisted", "pending", "lottery_entered")


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
    register_renderer(app, RENDERER, _render_when_sent)


def queue_registration_received(registration: Registration) -> list[OutboxMessage]:
    """Confirmation, the waiting-list notice with the person's position, the receipt of
    a lottery entry (no seat yet, so no calendar file), or (a frame that needs
    approval) the notice that the office will decide."""
    title = title_for(registration.event, registration)
    if registration.status == RegistrationStatus.entered:
        subject = _l("Lottery entry received: %(title)s", title=title)
        return [queue_when_sent(registration, "lottery_entered", subject)]
    if registration.status == RegistrationStatus.pending:
        subject = _l("Registration received, awaiting approval: %(title)s", title=title)
        return [queue_when_sent(registration, "pending", subject)]
    if registration.status == RegistrationStatus.waiting:
        subject = _l("Waiting list: %(title)s", title=title)
        return [queue_when_sent(registration, "waitlisted", subject, calendar="PUBLISH")]
    subject = _l("Registration received: %(title)s", title=title)
    return [
        queue_when_sent(registration, "confirmation", subject, with_qr=True, calendar="PUBLISH")
    ]


def queue_promoted(registration: Registration) -> list[OutboxMessage]:
    subject = _l("You have a seat: %(title)s", title=title_for(registration.event, registration))
    return [queue_when_sent(registration, "promoted", subject, with_qr=True, calendar="PUBLISH")]


def queue_approved(registration: Registration) -> list[OutboxMessage]:
    """The office approved: a seat (like a confirmation), or, the frame having filled
    up meanwhile, a place on its waiting list."""
    title = title_for(registration.event, registration)
    if registration.status == RegistrationStatus.waiting:
        subject = _l("Approved, on the waiting list: %(title)s", title=title)
        return [queue_when_sent(registration, "approved_waitlisted", subject, calendar="PUBLISH")]
    subject = _l("Approved, your seat is confirmed: %(title)s", title=title)
    return [queue_when_sent(registration, "approved", subject, with_qr=True, calendar="PUBLISH")]


def queue_declined(registration: Registration) -> list[OutboxMessage]:
    """The office declined the registration."""
    subject = _l(
        "We are unable to accept your registration: %(title)s",
        title=title_for(registration.event, registration),
    )
    return [queue_when_sent(registration, "declined", subject)]


def queue_lottery_won(registration: Registration) -> list[OutboxMessage]:
    """当選: the draw gave the entry a seat."""
    subject = _l(
        "Lottery result: you have a seat: %(title)s",
        title=title_for(registration.event, registration),
    )
    return [queue_when_sent(registration, "lottery_won", subject, with_qr=True, calendar="PUBLISH")]


def queue_lottery_not_drawn(registration: Registration) -> list[OutboxMessage]:
    """落選・キャンセル待ち: the entry is on the waiting list, at its drawn position."""
    subject = _l(
        "Lottery result: waiting list: %(title)s",
        title=title_for(registration.event, registration),
    )
    return [queue_when_sent(registration, "lottery_not_drawn", subject)]


def queue_cancellation_receipt(registration: Registration) -> list[OutboxMessage]:
    """Receipt for a cancelled registration (or a person leaving the waiting list), with
    a METHOD:CANCEL calendar file that takes the event out of their calendar."""
    subject = _l(
        "Cancellation received: %(title)s", title=title_for(registration.event, registration)
    )
    return [queue_when_sent(registration, "cancellation_receipt", subject, calendar="CANCEL")]


def queue_personal_link(registration: Registration) -> list[OutboxMessage]:
    """The personal link again, for a registrant whose address was used to sign up a
    second time from a browser that is not theirs (they may have lost the first email)."""
    subject = _l("Your registration: %(title)s", title=title_for(registration.event, registration))
    return [queue_when_sent(registration, "personal_link", subject)]


def queue_reminder(
    registration: Registration,
    now: datetime | None = None,
    session: EventSession | None = None,
) -> list[OutboxMessage]:
    """The reminder before the event (or before one ``session`` of a course). Its
    dedupe key makes a second one for the same registration (and session) fail at the
    database (see registration.reminders)."""
    event = registration.event
    title = title_for(event, registration)
    if session is not None:
        title = f"{title} {schedule.session_label(session.position, _locale(registration))}"
    starts_at = event.starts_at if session is None else session.starts_at
    days_ahead = _days_ahead(starts_at, now or utcnow())
    if days_ahead <= 0:
        subject = _l("Reminder: %(title)s is today", title=title)
    elif days_ahead == 1:
        subject = _l("Reminder: %(title)s is tomorrow", title=title)
    else:
        date = timefmt.format_date(starts_at, _locale(registration))
        subject = _l("Reminder: %(title)s on %(date)s", title=title, date=date)
    key = f"reminder:{registration.id}"
    if session is not None:
        key += f":session:{session.id}"
    return [
        queue_when_sent(
            registration,
            "reminder",
            subject,
            with_qr=True,
            calendar="PUBLISH",
            dedupe_key=key,
            session_id=session.id if session is not None else None,
        )
    ]


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


def queue_when_sent(
    registration: Registration,
    template: str,
    subject: Any,
    *,
    with_qr: bool = False,
    calendar: str = "",
    dedupe_key: str | None = None,
    session_id: int | None = None,
) -> OutboxMessage:
    """Queue the email ``template`` (also its kind) to be rendered when it is sent
    (``_render_when_sent``), with the calendar file of method ``calendar``, if any.

    What the email reports stays as it is now: the status, the waiting position, and
    whether the person has a seat (and so the online link). The rest is read when it
    is sent.
    """
    mail = RenderedMail.when_sent(
        RENDERER,
        subject,
        _locale(registration),
        template=template,
        waiting_position=registration.waiting_position,
        status=registration.status,
        online=_may_join_online(registration),
        qr=with_qr,
        calendar=calendar,
        **({"session_id": session_id} if session_id is not None else {}),
    )
    return add_for(mail, template, registration, dedupe_key=dedupe_key)


def _render_when_sent(message: OutboxMessage, args: dict[str, Any]) -> RenderedMail:
    """Render a row queued by ``queue_when_sent``, as ``render_for`` and
    ``calendar_file`` would have rendered it when it was queued."""
    registration = message.registration
    if registration is None:
        raise LookupError(f"outbox message {message.id} has no registration to render")
    online = bool(args["online"])
    extra: dict[str, Any] = {}
    if args.get("session_id") is not None:
        session = db.session.get(EventSession, args["session_id"])
        if session is not None:
            extra["session_line"] = schedule.session_line(session, _locale(registration))
    mail = _render(
        registration,
        args["template"],
        message.subject,
        with_qr=bool(args["qr"]),
        online=online,
        waiting_position=args["waiting_position"],
        # Rows queued before the status was kept: the status when sent.
        status=args.get("status", registration.status),
        **extra,
    )
    if args["calendar"]:
        mail.attachments.append(
            _calendar_file(registration.event, args["calendar"], registration, online)
        )
    return mail


def render_for(
    registration: Registration,
    template: str,
    subject: Any,
    *,
    with_qr: bool = False,
    **extra: Any,
) -> RenderedMail:
    """Render the email ``template`` to ``registration`` now."""
    if registration.id is None:
        db.session.flush()
    return _render(
        registration,
        template,
        subject,
        with_qr=with_qr,
        online=_may_join_online(registration),
        waiting_position=registration.waiting_position,
        status=registration.status,
        **extra,
    )


def _render(
    registration: Registration,
    template: str,
    subject: Any,
    *,
    with_qr: bool,
    online: bool,
    waiting_position: int | None,
    status: str,
    **extra: Any,
) -> RenderedMail:
    locale = _locale(registration)
    event = registration.event
    context = {
        **_event_context(event, locale, online),
        # The registrant's own frame: its fee, and its name when there is a choice.
        "fee": registration.frame.fee(locale),
        "frame_name": registration.frame.display_name(locale) if event.has_several_frames else "",
        "name": registration.name,
        "companions": [companion.name for companion in registration.companions],
        "waiting_position": waiting_position,
        "status": status,
        # A lottery entry waiting for the draw, and the lottery's deadline.
        "lottery_entry": registration.status == RegistrationStatus.entered,
        "lottery_deadline": (
            timefmt.format_datetime(registration.frame.draw_at, locale)
            if registration.frame.is_lottery
            else ""
        ),
        # The link is written in when the message is sent: the outbox never holds it.
        "personal_url": PERSONAL_URL_MARK,
        "ics_filename": ical.ics_filename(registration.event),
        **extra,
    }
    if template in WITH_ANSWERS:
        context["answers"] = answers.shown_answers(registration, locale)
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
        "event_time": schedule.event_dates(event, locale),
        # A course: one line per session (the date line above gives the span).
        "sessions": schedule.schedule_lines(event, locale),
        "venue_name": venue.display_name(locale) if venue else "",
        "venue_address": venue.display_address(locale) if venue else "",
        # An English reader is shown the Japanese notes when none are written in English
        # (the HTML part marks them lang="ja").
        "access_notes": venue.localized_access_notes(locale).text if venue else "",
        "access_notes_lang": venue.localized_access_notes(locale).lang if venue else locale,
        "map_url": venue.map_url if venue else "",
        "online_url": event.online_url if with_online_link else "",
        "fee": event.localized("fee_text", locale).text,
        "event_url": absolute_url("events.detail", slug=event.slug),
    }


def add_for(
    mail: RenderedMail, kind: str, registration: Registration, dedupe_key: str | None = None
) -> OutboxMessage:
    message = add_to_outbox(
        mail,
        kind=kind,
        recipient=registration.email,
        event_id=registration.event_id,
        registration_id=registration.id,
        dedupe_key=dedupe_key,
    )
    if registration.id is None:  # not flushed yet: the flush writes both, in order
        message.registration = registration
        message.event = registration.event
    return message


def active(registrations: Iterable[Registration]) -> list[Registration]:
    return [r for r in reachable(registrations) if r.is_active]


def reachable(registrations: Iterable[Registration]) -> list[Registration]:
    return [r for r in registrations if r.personal_data_purged_at is None and r.email]


def paragraphs(text: str) -> list[list[str]]:
    """Plain text as paragraphs of lines, for the HTML part."""
    return [block.splitlines() for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]


def title_for(event: Event, registration: Registration) -> str:
    return event.display_title(_locale(registration))


def _locale(registration: Registration) -> str:
    return "en" if registration.locale == "en" else "ja"


def locale_of(registration: Registration) -> str:
    """The language of the registrant's emails and calendar files."""
    return _locale(registration)


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
    return _calendar_file(event, method, registration, _may_join_online(registration))


def session_calendar_file(
    event: Event, session: EventSession, method: str, registration: Registration
) -> Attachment:
    """One session's entry alone (a moved or cancelled session of a course)."""
    return _calendar_file(event, method, registration, _may_join_online(registration), [session])


def _calendar_file(
    event: Event,
    method: str,
    registration: Registration,
    online: bool,
    sessions: list[EventSession] | None = None,
) -> Attachment:
    attendee = registration.email if method == "CANCEL" else None
    return Attachment.from_json(
        ical.ical_attachment(
            event,
            method,
            locale=_locale(registration),
            attendee_email=attendee,
            include_online_link=online,
            sessions=sessions,
        )
    )
