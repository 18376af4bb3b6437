"""The audit log: every organizer action that changes data leaves a record, written in
the same transaction as the change itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry


def record_change(
    action: str,
    target_type: str,
    target_id: int | None,
    *,
    event_id: int | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    organizer_id: int | None = None,
    changed_only: bool = False,
) -> AuditLogEntry | None:
    """Add an audit entry to the current transaction.

    With ``changed_only`` the entry keeps only the values that differ between
    ``before`` and ``after``, and nothing is recorded when none does.
    """
    before, after = dict(before or {}), dict(after or {})
    if changed_only:
        changed = [key for key in after if before.get(key) != after[key]]
        if not changed:
            return None
        before = {key: before.get(key) for key in changed}
        after = {key: after[key] for key in changed}
    if organizer_id is None and current_user and current_user.is_authenticated:
        organizer_id = current_user.organizer.id
    entry = AuditLogEntry(
        organizer_id=organizer_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        event_id=event_id,
        before=_jsonable(before),
        after=_jsonable(after),
    )
    db.session.add(entry)
    return entry


def snapshot(record: Any, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The named attributes of a record, for ``before`` and ``after``."""
    return {name: getattr(record, name) for name in names}


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        for key, value in values.items()
    }


def recent_entries(
    *, event_id: int | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[AuditLogEntry], int]:
    """Newest first, with who made them, and how many there are in all."""
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
