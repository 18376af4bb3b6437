"""Read-only queries of the registration side.

The sign-up POST runs the queries below on every request: they are built once, at
import, with bound parameters (SQLAlchemy's compiled cache then skips building and
compiling them again). They hold no data, only the shape of the query.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import contains_eager, joinedload

from cluster_events.extensions import db
from cluster_events.models import Event, Member, MemberPerson, MemberStatus

#: With its frames: the event page shows them, and the sign-up form offers them.
_LISTED_BY_SLUG = (
    Event.listed_for(True).options(joinedload(Event.frames)).where(Event.slug == bindparam("slug"))
)

_IS_ACTIVE_PERSON_WITH_EMAIL = (
    MemberPerson.email_normalized == bindparam("email_normalized"),
    MemberPerson.is_active.is_(True),
    MemberPerson.removed_at.is_(None),
    Member.status == MemberStatus.active,
)

_ACTIVE_PERSON_BY_EMAIL = (
    select(MemberPerson)
    .join(MemberPerson.member)
    .options(contains_eager(MemberPerson.member))
    .where(*_IS_ACTIVE_PERSON_WITH_EMAIL)
)

#: The id of the active member's person with the address ``:email_normalized``, or
#: NULL: a column for the sign-up's lock query (``registration.services``), which so
#: learns in the same statement whether the address is a member's.
ACTIVE_PERSON_ID_BY_EMAIL = (
    select(MemberPerson.id)
    .join(MemberPerson.member)
    .where(*_IS_ACTIVE_PERSON_WITH_EMAIL)
    .scalar_subquery()
)


def listed_event_by_slug(slug: str) -> Event | None:
    """The published or cancelled event with this slug, members-only ones included, or
    None: the caller decides with ``Event.is_visible_to`` whether this viewer may see it
    (so a members-only page can say so without a second query)."""
    return db.session.scalars(_LISTED_BY_SLUG, {"slug": slug}).unique().first()


def active_person_by_email(email_normalized: str) -> MemberPerson | None:
    """The person of an active member with this address, with the member, or None (an
    address belongs to at most one such person: the partial unique index)."""
    return db.session.scalars(
        _ACTIVE_PERSON_BY_EMAIL, {"email_normalized": email_normalized}
    ).first()
