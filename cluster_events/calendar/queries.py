"""What the public feeds contain, and the one aggregate query that tells whether
a feed changed (so a poll that finds nothing new costs a single small query)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import contains_eager

from cluster_events.database import UTCDateTime, utcnow
from cluster_events.extensions import db
from cluster_events.models import Category, Event, Venue

#: Feeds reach this far back, so a subscriber still sees last season's events.
FEED_DAYS_BACK = 180


def feed_window_start(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=FEED_DAYS_BACK)


def _public_feed_filter(query: Select, *, by_category: bool) -> Select:
    # Public feeds: never a members-only event (the one rule, Event.visible_where).
    query = query.where(Event.visible_where(viewer_is_member=False)).where(
        Event.starts_at >= bindparam("since", type_=UTCDateTime())
    )
    if by_category:
        query = query.where(Event.category_id == bindparam("category_id"))
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


def _version_statement() -> Select:
    """The full feed's version: one aggregate row over the covered events."""
    return _public_feed_filter(
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
        by_category=False,
    )


def _events_statement(by_category: bool) -> Select:
    return _public_feed_filter(
        select(Event)
        .join(Event.category)
        .outerjoin(Event.venue)
        .options(contains_eager(Event.category), contains_eager(Event.venue)),
        by_category=by_category,
    ).order_by(Event.starts_at, Event.id)


def _category_version_statement() -> Select:
    """The category itself and its feed's version in one query, so a poll of a
    category feed also costs a single query (the category's own updated_at is
    the per-row one)."""
    covered = _public_feed_filter(
        select(Event.id).where(Event.category_id == Category.id), by_category=False
    ).whereclause
    return (
        select(
            Category,
            func.count(Event.id),
            func.coalesce(func.sum(Event.id), 0),
            func.coalesce(func.sum(Event.sequence), 0),
            func.max(Event.updated_at),
            func.max(Venue.updated_at),
        )
        .select_from(Category)
        .outerjoin(Event, covered)
        .outerjoin(Venue, Event.venue_id == Venue.id)
        .where(Category.slug == bindparam("slug"))
        .group_by(Category.id)
    )


# Built once: feeds are polled often, and composing a statement costs more
# than running the cached compiled form.
_VERSION = _version_statement()
_EVENTS = {by_category: _events_statement(by_category) for by_category in (False, True)}
_CATEGORY_VERSION = _category_version_statement()


def _parameters(category: Category | None, since: datetime) -> dict[str, object]:
    parameters: dict[str, object] = {"since": since}
    if category is not None:
        parameters["category_id"] = category.id
    return parameters


def feed_version(since: datetime) -> FeedVersion:
    """The version of the full feed (all categories)."""
    row = db.session.execute(_VERSION, {"since": since}).one()
    return FeedVersion(int(row[0]), int(row[1]), int(row[2]), row[3], row[4], row[5])


def category_feed_version(slug: str, since: datetime) -> tuple[Category, FeedVersion] | None:
    """The category with this slug and its feed's version, or None if there is none."""
    row = db.session.execute(_CATEGORY_VERSION, {"slug": slug, "since": since}).first()
    if row is None:
        return None
    category = row[0]
    version = FeedVersion(
        int(row[1]), int(row[2]), int(row[3]), row[4], row[5], category.updated_at
    )
    return category, version


def feed_events(category: Category | None, since: datetime) -> list[Event]:
    """The feed's events with their category and venue, in one query."""
    return list(db.session.scalars(_EVENTS[category is not None], _parameters(category, since)))


def public_event_for_ics(slug: str) -> Event | None:
    """One published or cancelled public event with its category and venue, in one query;
    a members-only event is not found (its page is for signed-in members only).
    Unlike the feeds there is no time window: an old event's page still offers its file."""
    query = (
        select(Event)
        .join(Event.category)
        .outerjoin(Event.venue)
        .options(contains_eager(Event.category), contains_eager(Event.venue))
        .where(Event.slug == slug)
        .where(Event.visible_where(viewer_is_member=False))
    )
    return db.session.scalars(query).first()


def categories_with_feeds() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.sort_order, Category.id)))
