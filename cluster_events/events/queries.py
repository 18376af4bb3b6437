"""Read-only queries about events: the public catalogue, and the console's lists.
Every list loads its categories and venues in the same query, so a page makes the
same number of queries for 5 events as for 200."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import (
    Category,
    Event,
    EventStatus,
    Registration,
    RegistrationStatus,
    Venue,
)
from cluster_events.text import hiragana_to_katakana, katakana_to_hiragana
from cluster_events.timefmt import to_tokyo
from cluster_events.transactions import EventNotFound

MAX_SEARCH_LENGTH = 100
MAX_SEARCH_TERMS = 5
#: A keyword matches the title, the summary or the venue; every keyword must match.
_SEARCHED_COLUMNS = (
    Event.title,
    Event.title_en,
    Event.summary,
    Venue.name,
    Venue.name_en,
    Venue.address,
)


def upcoming_events(
    category: Category | None = None,
    search: str = "",
    now: datetime | None = None,
    *,
    viewer_is_member: bool = False,
) -> list[Event]:
    """Events not yet over, soonest first (an event under way still shows); members-only
    events too when the viewer is a signed-in member."""
    now = now or utcnow()
    query = Event.listed_for(viewer_is_member).where(Event.ends_at >= now)
    if category is not None:
        query = query.where(Event.category_id == category.id)
    if search:
        query = query.outerjoin(Venue, Event.venue_id == Venue.id)
        for term in search.split()[:MAX_SEARCH_TERMS]:
            # せみなー finds セミナー and the other way round.
            spellings = {term, katakana_to_hiragana(term), hiragana_to_katakana(term)}
            query = query.where(
                or_(
                    *(
                        column.ilike(f"%{_escape_like(spelling)}%", escape="\\")
                        for spelling in sorted(spellings)
                        for column in _SEARCHED_COLUMNS
                    )
                )
            )
    return list(db.session.scalars(query.order_by(Event.starts_at, Event.id)).unique())


@dataclass(frozen=True)
class MonthGroup:
    year: int
    month: int
    events: list[Event]


def group_by_month(events: list[Event]) -> list[MonthGroup]:
    """Group events (already in start order) by their month in Tokyo."""
    groups: list[MonthGroup] = []
    for event in events:
        start = to_tokyo(event.starts_at)
        if not groups or (groups[-1].year, groups[-1].month) != (start.year, start.month):
            groups.append(MonthGroup(start.year, start.month, []))
        groups[-1].events.append(event)
    return groups


def past_events(
    page: int, per_page: int, now: datetime | None = None, *, viewer_is_member: bool = False
) -> tuple[list[Event], int]:
    """One page of past events, newest first, and the total count."""
    now = now or utcnow()
    base = Event.listed_for(viewer_is_member).where(Event.ends_at < now)
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db.session.scalars(
        base.order_by(Event.starts_at.desc(), Event.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).unique()
    return list(rows), total


def category_by_slug(slug: str) -> Category | None:
    return db.session.scalar(select(Category).where(Category.slug == slug))


def all_categories() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.sort_order, Category.id)))


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The console's lists ---------------------------------------------------------------

EVENT_LIST_FILTERS = ("all", "upcoming", "draft", "past", "cancelled")


def list_events(which: str = "all", now: datetime | None = None) -> list[Event]:
    """Events for the console list, with category and venue loaded in the same query."""
    now = now or utcnow()
    query = select(Event).options(joinedload(Event.category), joinedload(Event.venue))
    if which == "upcoming":
        query = query.where(Event.ends_at >= now, Event.status != EventStatus.cancelled)
        query = query.order_by(Event.starts_at)
    elif which == "past":
        query = query.where(Event.ends_at < now).order_by(Event.starts_at.desc())
    elif which == "draft":
        query = query.where(Event.status == EventStatus.draft).order_by(Event.starts_at)
    elif which == "cancelled":
        query = query.where(Event.status == EventStatus.cancelled)
        query = query.order_by(Event.starts_at.desc())
    else:
        query = query.order_by(Event.starts_at.desc())
    return list(db.session.scalars(query))


def get_event(event_id: int) -> Event:
    """Any event, draft or not, by its id (the console's view); NotFound if there is none."""
    event = db.session.get(Event, event_id)
    if event is None:
        raise EventNotFound()
    return event


def active_registrations(event_id: int) -> list[Registration]:
    return list(
        db.session.scalars(
            select(Registration)
            .where(
                Registration.event_id == event_id,
                Registration.status != RegistrationStatus.cancelled,
            )
            .order_by(Registration.id)
        )
    )


def event_choices() -> list[tuple[int, str]]:
    """(id, title) of every event, newest first, for filters."""
    return list(db.session.execute(select(Event.id, Event.title).order_by(Event.starts_at.desc())))


def list_venues() -> list[Venue]:
    return list(db.session.scalars(select(Venue).order_by(Venue.name)))
