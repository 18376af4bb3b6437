"""Demo data: the association's offices, categories and a season of events."""

from __future__ import annotations

from sqlalchemy import func, select

from cluster_events.extensions import db
from cluster_events.models import Event


def database_is_empty() -> bool:
    return (db.session.scalar(select(func.count(Event.id))) or 0) == 0


def seed_demo() -> int:
    """Placeholder until the demo data lands; returns the number of events created."""
    return 0
