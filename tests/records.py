"""Reading back what a test caused: outbox messages and audit entries, oldest first;
the seat counters checked against the registrations."""

from __future__ import annotations

from sqlalchemy import select

from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry, Event, OutboxMessage, Registration


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


def assert_seats_match_rows(event_id: int) -> None:
    """Each frame's counters are the people of its rows; positions run 1..parties."""
    db.session.expire_all()
    event = db.session.get(Event, event_id)
    for each in event.frames:
        rows = db.session.execute(
            select(
                Registration.status, Registration.waiting_position, Registration.party_size
            ).where(Registration.frame_id == each.id)
        ).all()
        confirmed = sum(size for status, _, size in rows if status == "confirmed")
        waiting = sum(size for status, _, size in rows if status == "waiting")
        positions = sorted(position for status, position, _ in rows if status == "waiting")
        assert (each.confirmed_count, each.waiting_count, each.waiting_parties) == (
            confirmed,
            waiting,
            len(positions),
        )
        assert positions == list(range(1, len(positions) + 1))
        if each.capacity is not None:
            assert each.confirmed_count <= each.capacity
    assert event.confirmed_count == sum(f.confirmed_count for f in event.frames)
    assert event.waiting_count == sum(f.waiting_count for f in event.frames)
    for registration in db.session.scalars(
        select(Registration).where(Registration.event_id == event_id)
    ):
        assert registration.party_size == 1 + len(registration.companions)
