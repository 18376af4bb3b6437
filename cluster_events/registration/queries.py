"""Read-only queries of the registration side."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from cluster_events.extensions import db
from cluster_events.models import Event, Member, MemberPerson, MemberStatus


def listed_event_by_slug(slug: str) -> Event | None:
    """The published or cancelled event with this slug, members-only ones included, or
    None: the caller decides with ``Event.is_visible_to`` whether this viewer may see it
    (so a members-only page can say so without a second query)."""
    return db.session.scalars(Event.listed_for(True).where(Event.slug == slug)).unique().first()


def active_person_by_email(email_normalized: str) -> MemberPerson | None:
    """The person of an active member with this address, with the member, or None (an
    address belongs to at most one such person: the partial unique index)."""
    return db.session.scalars(
        select(MemberPerson)
        .join(MemberPerson.member)
        .options(contains_eager(MemberPerson.member))
        .where(
            MemberPerson.email_normalized == email_normalized,
            MemberPerson.is_active.is_(True),
            MemberPerson.removed_at.is_(None),
            Member.status == MemberStatus.active,
        )
    ).first()
