"""What the public feeds contain, and the one aggregate query that tells whether
a feed changed (so a poll that finds nothing new costs a single small query)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import contains_eager

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import Category, Event, EventStatus, Venue

#: Feeds reach this far back, so a subscriber still sees last season's events.
FEED_DAYS_BACK = 180


def feed_window_start(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=FEED_DAYS_BACK)


def _public_feed_filter(query: Select, category: Category | None, since: datetime) -> Select:
    query = (
        query.where(Event.status.in_([EventStatus.published, EventStatus.cancelled]))
        .where(Event.is_members_only.is_(False))
        .where(Event.starts_at >= since)
    )
    if category is not None:
        query = query.where(Event.category_id == category.id)
    return query


@dataclass(frozen=True)
class FeedVersion:
    """Enough about the covered events to notice any change that shows in the feed:
    an edit (updated_at), a new or vanished event (count, id sum), a renamed
    category or an edited venue (their updated_at)."""

    count: int
    id_sum: int
    sequence_sum: int
    events_updated_at: datetime | None
    venues_updated_at: datetime | None
    categories_updated_at: datetime | None

    @property
    def last_modified(self) -> datetime | None:
        stamps = [
            value
            for value in (
                self.events_updated_at,
                self.venues_updated_at,
                self.categories_updated_at,
            )
            if value is not None
        ]
        return max(stamps) if stamps else None


def feed_version(category: Category | None, since: datetime) -> FeedVersion:
    query = _public_feed_filter(
        select(
            func.count(Event.id),
            func.coalesce(func.sum(Event.id), 0),
            func.coalesce(func.sum(Event.sequence), 0),
            func.max(Event.updated_at),
            func.max(Venue.updated_at),
            func.max(Category.updated_at),
        )
        .select_from(Event)
        .join(Category, Event.category_id == Category.id)
        .outerjoin(Venue, Event.venue_id == Venue.id),
        category,
        since,
    )
    row = db.session.execute(query).one()
    return FeedVersion(int(row[0]), int(row[1]), int(row[2]), row[3], row[4], row[5])


def feed_events(category: Category | None, since: datetime) -> list[Event]:
    """The feed's events with their category and venue, in one query."""
    query = _public_feed_filter(
        select(Event)
        .join(Event.category)
        .outerjoin(Event.venue)
        .options(contains_eager(Event.category), contains_eager(Event.venue)),
        category,
        since,
    ).order_by(Event.starts_at, Event.id)
    return list(db.session.scalars(query))


def public_event_for_ics(slug: str) -> Event | None:
    """One published or cancelled public event with its category and venue, in one query.
    Unlike the feeds there is no time window: an old event's page still offers its file."""
    query = (
        select(Event)
        .join(Event.category)
        .outerjoin(Event.venue)
        .options(contains_eager(Event.category), contains_eager(Event.venue))
        .where(Event.slug == slug)
        .where(Event.status.in_([EventStatus.published, EventStatus.cancelled]))
        .where(Event.is_members_only.is_(False))
    )
    return db.session.scalars(query).first()


def category_by_slug(slug: str) -> Category | None:
    return db.session.scalar(select(Category).where(Category.slug == slug))


def categories_with_feeds() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.sort_order, Category.id)))
