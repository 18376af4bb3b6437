"""Reading back what a test caused: outbox messages and audit entries, oldest first."""

from __future__ import annotations

from sqlalchemy import select

from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry, OutboxMessage


def outbox_messages(
    kind: str | None = None, *, registration_id: int | None = None
) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    if registration_id is not None:
        query = query.where(OutboxMessage.registration_id == registration_id)
    return list(db.session.scalars(query))


def outbox_kinds(registration_id: int) -> list[str]:
    return [message.kind for message in outbox_messages(registration_id=registration_id)]


def audit_entries(action: str | None = None) -> list[AuditLogEntry]:
    query = select(AuditLogEntry).order_by(AuditLogEntry.id)
    if action is not None:
        query = query.where(AuditLogEntry.action == action)
    return list(db.session.scalars(query))
