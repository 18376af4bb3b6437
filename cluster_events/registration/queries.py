"""Read-only queries of the registration side."""

from __future__ import annotations

from cluster_events.extensions import db
from cluster_events.models import Event


def public_event_by_slug(slug: str) -> Event | None:
    """The public event with this slug (its page, its sign-up form), or None."""
    return db.session.scalars(Event.publicly_listed().where(Event.slug == slug)).unique().first()
