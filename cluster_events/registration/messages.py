"""Messages the office writes to an event's registrants: who receives them, sending
each message once however often the button is pressed, and its delivery status."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cluster_events.audit import record_change
from cluster_events.database import utcnow
from cluster_events.errors import Conflict
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.models import OutboxMessage, OutboxStatus, Registration, RegistrationStatus
from cluster_events.registration.attendees import sort_attendees
from cluster_events.registration.notifications import queue_organizer_message
from cluster_events.transactions import write_transaction

ORGANIZER_MESSAGE_KEY = "organizer-message"


class Audience(enum.StrEnum):
    confirmed = "confirmed"
    waiting = "waiting"
    both = "both"


@dataclass
class MessageBatch:
    """One message an organizer wrote, and the delivery state of each copy."""

    key: str
    subject: str
    created_at: datetime
    messages: list[OutboxMessage] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for message in self.messages if _delivery_status(message) == status)

    @property
    def failed(self) -> list[OutboxMessage]:
        return [m for m in self.messages if m.status == OutboxStatus.failed]


def recipients(event_id: int, audience: Audience) -> list[Registration]:
    statuses = {
        Audience.confirmed: [RegistrationStatus.confirmed],
        Audience.waiting: [RegistrationStatus.waiting],
        Audience.both: [RegistrationStatus.confirmed, RegistrationStatus.waiting],
    }[audience]
    return sort_attendees(
        db.session.scalars(
            select(Registration).where(
                Registration.event_id == event_id,
                Registration.status.in_(statuses),
                Registration.personal_data_purged_at.is_(None),
            )
        )
    )


def new_batch_key() -> str:
    return uuid.uuid4().hex[:20]


def send_message(
    event_id: int, audience: Audience, subject: str, body: str, *, batch_key: str
) -> list[OutboxMessage]:
    """Queue one copy per recipient. ``batch_key`` comes from the preview form, so that
    pressing "send" twice (or reloading) cannot send the message twice."""
    already_sent = _("This message has already been sent.")
    try:
        with write_transaction(lock_event=event_id) as event:
            assert event is not None
            sent_before = db.session.scalar(
                select(OutboxMessage.id)
                .where(OutboxMessage.dedupe_key.like(f"{ORGANIZER_MESSAGE_KEY}:{batch_key}:%"))
                .limit(1)
            )
            if sent_before is not None:
                raise Conflict(already_sent)
            people = recipients(event_id, audience)
            if not people:
                raise Conflict(_("There is nobody to send this message to."))
            messages = queue_organizer_message(event, people, subject, body)
            sent_at = utcnow()
            for message in messages:
                message.created_at = sent_at
                message.event_id = event_id
                message.dedupe_key = (
                    f"{ORGANIZER_MESSAGE_KEY}:{batch_key}:{message.registration_id}"
                )
            db.session.flush()
            record_change(
                "event.message",
                "event",
                event_id,
                event_id=event_id,
                after={
                    "audience": audience,
                    "subject": subject,
                    "body": body,
                    "recipients": len(messages),
                    "batch": batch_key,
                },
            )
    except IntegrityError as error:  # the same batch sent at the same moment elsewhere
        raise Conflict(already_sent) from error
    return messages


def message_history(event_id: int) -> list[MessageBatch]:
    messages = db.session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.event_id == event_id,
            OutboxMessage.dedupe_key.like(f"{ORGANIZER_MESSAGE_KEY}:%"),
        )
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id)
    )
    batches: dict[str, MessageBatch] = {}
    for message in messages:
        key = (message.dedupe_key or "").split(":")[1]
        batch = batches.setdefault(
            key, MessageBatch(key=key, subject=message.subject, created_at=message.created_at)
        )
        batch.messages.append(message)
    return list(batches.values())


def _delivery_status(message: OutboxMessage) -> str:
    # "sending" is a worker's short claim on a queued message; the office sees "queued".
    return OutboxStatus.queued if message.status == OutboxStatus.sending else message.status


def retry_failed(event_id: int, message_ids: Sequence[int] | None = None) -> int:
    """Put this event's failed emails of every kind (confirmations, promotions,
    reminders, notices, organizer messages) back in the queue: those in
    ``message_ids``, or all of them. Ids of other events are ignored. Audited."""
    return len(outbox.requeue(ids=message_ids, event_id=event_id))


def failed_mail(event_id: int) -> list[OutboxMessage]:
    """This event's emails that failed for good, of every kind."""
    return outbox.failed_messages(event_id=event_id)
