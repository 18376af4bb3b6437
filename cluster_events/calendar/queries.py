"""What the public feeds contain, and the one small query that tells whether a feed
changed (so a poll that finds nothing new costs a single query, whatever the number of
events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import contains_eager

from cluster_events.database import UTCDateTime, utcnow
from cluster_events.extensions import db
from cluster_events.models import CalendarVersion, Category, Event

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
    """What a public feed's validators are made of. ``token`` is new whenever anything
    a calendar shows changes (calendar.content_version), so registrations change no
    feed. The token alone cannot tell that an event left the window as time went by;
    ``first_start``, the start of the feed's earliest event, can: while the data stays
    the same, events only leave the window, the earliest first."""

    token: str
    #: When the token last changed: the feeds' Last-Modified.
    changed_at: datetime | None
    first_start: datetime | None

    @property
    def last_modified(self) -> datetime | None:
        return self.changed_at

    def holds_from(self, since: datetime) -> bool:
        """Whether the feed of this version is still the feed of a window from ``since``."""
        return self.first_start is None or self.first_start >= since


@dataclass(frozen=True)
class FeedIdentity:
    """Which feed, in the reader's language, besides its events."""

    #: The category of a category feed; None for the full feed.
    category_id: int | None
    #: The category's slug as in the feed's URL; "" for the full feed.
    slug: str
    #: X-WR-CALNAME and the name of the file.
    name: str
    #: The ASCII file name.
    fallback_filename: str


def _version_columns(first_start: Select) -> list:
    token = select(CalendarVersion.token).where(CalendarVersion.id == 1).scalar_subquery()
    changed_at = select(CalendarVersion.changed_at).where(CalendarVersion.id == 1)
    return [token, changed_at.scalar_subquery(), first_start.scalar_subquery()]


def _version_statement() -> Select:
    """The full feed's version: the token and the earliest start, in one small query."""
    first_start = _public_feed_filter(select(func.min(Event.starts_at)), by_category=False)
    return select(*_version_columns(first_start))


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
    category feed also costs a single query."""
    first_start = _public_feed_filter(
        select(func.min(Event.starts_at)).where(Event.category_id == Category.id),
        by_category=False,
    )
    return select(Category, *_version_columns(first_start)).where(
        Category.slug == bindparam("slug")
    )


# Built once: feeds are polled often, and composing a statement costs more
# than running the cached compiled form.
_VERSION = _version_statement()
_EVENTS = {by_category: _events_statement(by_category) for by_category in (False, True)}
_CATEGORY_VERSION = _category_version_statement()


def _parameters(category_id: int | None, since: datetime) -> dict[str, object]:
    parameters: dict[str, object] = {"since": since}
    if category_id is not None:
        parameters["category_id"] = category_id
    return parameters


def feed_version(since: datetime) -> FeedVersion:
    """The version of the full feed (all categories)."""
    token, changed_at, first_start = db.session.execute(_VERSION, {"since": since}).one()
    return FeedVersion(token or "", changed_at, first_start)


def category_feed_version(slug: str, since: datetime) -> tuple[Category, FeedVersion] | None:
    """The category with this slug and its feed's version, or None if there is none."""
    row = db.session.execute(_CATEGORY_VERSION, {"slug": slug, "since": since}).first()
    if row is None:
        return None
    category, token, changed_at, first_start = row
    return category, FeedVersion(token or "", changed_at, first_start)


def feed_events(category_id: int | None, since: datetime) -> list[Event]:
    """The feed's events (one category's, or all) with their category and venue, in
    one query."""
    return list(
        db.session.scalars(_EVENTS[category_id is not None], _parameters(category_id, since))
    )


_PUBLIC_EVENT = (
    select(Event)
    .join(Event.category)
    .outerjoin(Event.venue)
    .options(contains_eager(Event.category), contains_eager(Event.venue))
    .where(Event.slug == bindparam("slug"))
    .where(Event.visible_where(viewer_is_member=False))
)


def public_event_for_ics(slug: str) -> Event | None:
    """One published or cancelled public event with its category and venue, in one query;
    a members-only event is not found (its page is for signed-in members only).
    Unlike the feeds there is no time window: an old event's page still offers its file."""
    return db.session.scalars(_PUBLIC_EVENT, {"slug": slug}).first()


def categories_with_feeds() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.sort_order, Category.id)))
