"""The audit log for admins: who changed what and when, filterable by event."""

from __future__ import annotations

from flask import abort, render_template, request
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from cluster_events.admin.access import admin_required
from cluster_events.admin.blueprint import bp
from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry, Event

PER_PAGE = 50


@bp.route("/audit")
@admin_required
def audit_log() -> str:
    event_id = request.args.get("event", type=int)
    page = request.args.get("page", 1, type=int)
    if page < 1:
        abort(400)
    event = db.get_or_404(Event, event_id) if event_id is not None else None
    query = select(AuditLogEntry)
    if event is not None:
        query = query.where(AuditLogEntry.event_id == event.id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    entries = list(
        db.session.scalars(
            query.options(joinedload(AuditLogEntry.organizer))
            .order_by(AuditLogEntry.id.desc())
            .limit(PER_PAGE)
            .offset((page - 1) * PER_PAGE)
        )
    )
    events = db.session.execute(select(Event.id, Event.title).order_by(Event.starts_at.desc()))
    return render_template(
        "admin/audit_log.html",
        entries=entries,
        event=event,
        events=list(events),
        page=page,
        has_next=page * PER_PAGE < total,
    )
