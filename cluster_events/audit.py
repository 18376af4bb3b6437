"""The audit log: every organizer action that changes data leaves a record."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry


def record_change(
    action: str,
    target_type: str,
    target_id: int | None,
    *,
    event_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    organizer_id: int | None = None,
) -> AuditLogEntry:
    """Add an audit entry to the current transaction (committed with the change itself)."""
    if organizer_id is None and current_user and current_user.is_authenticated:
        organizer_id = current_user.organizer.id
    entry = AuditLogEntry(
        organizer_id=organizer_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        event_id=event_id,
        before=_jsonable(before or {}),
        after=_jsonable(after or {}),
    )
    db.session.add(entry)
    return entry


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        for key, value in values.items()
    }


def recent_entries(
    *, event_id: int | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[AuditLogEntry], int]:
    """Newest first, with who made them, and how many there are in all."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import joinedload

    query = select(AuditLogEntry)
    if event_id is not None:
        query = query.where(AuditLogEntry.event_id == event_id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    entries = db.session.scalars(
        query.options(joinedload(AuditLogEntry.organizer))
        .order_by(AuditLogEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(entries), total
