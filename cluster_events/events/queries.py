"""Read-only queries about events: the public catalogue, and the console's lists.
Every list loads its categories and venues in the same query, so a page makes the
same number of queries for 5 events as for 200.

The public lists also have a *version*: one query that reads what the page shows of
each listed event (not the long texts of its page), with the categories, so that a page
already rendered for the same version can be answered from memory (``page_cache``)
without the list's own queries. The version query and the list share their filters,
and ``Listing.shows`` checks that the list rendered is the one the version described.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, inspect, or_, select
from sqlalchemy.orm import joinedload

from cluster_events.database import UTCDateTime, utcnow
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
    category: Category | ListedCategory | None = None,
    search: str = "",
    now: datetime | None = None,
    *,
    viewer_is_member: bool = False,
) -> list[Event]:
    """Events not yet over, soonest first (an event under way still shows); members-only
    events too when the viewer is a signed-in member."""
    now = now or utcnow()
    query = Event.listed_for(viewer_is_member).where(_upcoming(now))
    if category is not None:
        query = query.where(Event.category_id == category.id)
    if search:
        query = query.outerjoin(Venue, Event.venue_id == Venue.id).where(*_matching(search))
    return list(db.session.scalars(query.order_by(Event.starts_at, Event.id)).unique())


def _upcoming(now: datetime) -> ColumnElement[bool]:
    """Not yet over: an event under way still shows."""
    return Event.ends_at >= now


def _matching(search: str) -> list[ColumnElement[bool]]:
    """Every keyword matches one of ``_SEARCHED_COLUMNS`` (Venue outer-joined)."""
    conditions = []
    for term in search.split()[:MAX_SEARCH_TERMS]:
        # せみなー finds セミナー and the other way round.
        spellings = {term, katakana_to_hiragana(term), hiragana_to_katakana(term)}
        conditions.append(
            or_(
                *(
                    column.ilike(f"%{_escape_like(spelling)}%", escape="\\")
                    for spelling in sorted(spellings)
                    for column in _SEARCHED_COLUMNS
                )
            )
        )
    return conditions


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


# Versions of the public lists ---------------------------------------------------------

#: What a list shows of an event, read by the version query and from a loaded event
#: alike: every column the card shows or decides with (the long body is not on a card),
#: and the venue's names. ``updated_at`` and the seat counts are there too, so nothing
#: depends on which of them a change updates.
_EVENT_VERSION_COLUMNS = (
    Event.id,
    Event.updated_at,
    Event.slug,
    Event.title,
    Event.title_en,
    Event.category_id,
    Event.summary,
    Event.starts_at,
    Event.ends_at,
    Event.venue_id,
    Event.online_url,
    Event.capacity,
    Event.fee_text,
    Event.registration_opens_at,
    Event.registration_closes_at,
    Event.accepts_registrations,
    Event.status,
    Event.is_members_only,
    Event.confirmed_count,
    Event.waiting_count,
    Event.frame_count,
)
_EVENT_VERSION_KEYS = tuple(column.key for column in _EVENT_VERSION_COLUMNS)
_VENUE_VERSION_COLUMNS = (Venue.name, Venue.name_en)
_CATEGORY_VERSION_KEYS = ("id", "slug", "name_ja", "name_en", "sort_order")


def event_list_version(event: Event) -> tuple[Any, ...]:
    """What the version query reads of one event, from the loaded event."""
    venue = event.venue
    return (
        *(getattr(event, key) for key in _EVENT_VERSION_KEYS),
        venue.name if venue is not None else None,
        venue.name_en if venue is not None else None,
    )


def time_marks(
    starts_at: datetime,
    ends_at: datetime,
    opens_at: datetime | None,
    closes_at: datetime | None,
    now: datetime,
) -> tuple[bool, bool, bool, bool]:
    """Which of an event's moments are past at ``now``: what a page shows changes at
    these (registration opens, closes, the event starts, ends) and only at these."""
    return (
        opens_at is not None and opens_at <= now,
        closes_at is not None and closes_at <= now,
        starts_at <= now,
        ends_at < now,
    )


_TIME_POSITIONS = tuple(
    _EVENT_VERSION_KEYS.index(key)
    for key in ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at")
)


def _marks_of_version(version: tuple[Any, ...], now: datetime) -> tuple[bool, ...]:
    starts_at, ends_at, opens_at, closes_at = (version[i] for i in _TIME_POSITIONS)
    return time_marks(starts_at, ends_at, opens_at, closes_at, now)


@dataclass(frozen=True)
class Listing:
    """A public list as its version query found it at ``now``: the categories (all of
    them, for the catalogue's filter; or the one of a category page), the category
    chosen, the events' versions in the list's order, and the archive's total."""

    now: datetime
    categories: list[ListedCategory]
    selected: ListedCategory | None
    events: tuple[tuple[Any, ...], ...]
    total: int = 0
    #: The archive's versions also hold each event's category names.
    with_category_names: bool = False

    @property
    def version(self) -> tuple[Any, ...]:
        """Everything the list shows, as one value for a page's key."""
        return (
            tuple(self.categories),
            self.events,
            tuple(_marks_of_version(event, self.now) for event in self.events),
            self.total,
        )

    def shows(self, events: Sequence[Event], at: datetime) -> bool:
        """Whether ``events`` (the list, loaded after the version) are what the version
        saw, and ``at`` (the end of rendering) is still within the same time marks: only
        then may a page rendered from them be kept under this version."""
        if tuple(self._version_of(event) for event in events) != self.events:
            return False
        return all(
            _marks_of_version(event, at) == _marks_of_version(event, self.now)
            for event in self.events
        )

    def _version_of(self, event: Event) -> tuple[Any, ...]:
        version = event_list_version(event)
        if self.with_category_names:
            version = (*version, event.category.name_ja, event.category.name_en)
        return version


@dataclass(frozen=True)
class ListedCategory:
    """A category as the public lists show it, read with a list's version."""

    id: int
    slug: str
    name_ja: str
    name_en: str
    sort_order: int

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_ja


_CATEGORY_COLUMNS = tuple(getattr(Category, key) for key in _CATEGORY_VERSION_KEYS)
_NOW = bindparam("now", type_=UTCDateTime())


def _version_of_upcoming(viewer_is_member: bool, search: str) -> Select[tuple[Any, ...]]:
    query = (
        select(*_EVENT_VERSION_COLUMNS, *_VENUE_VERSION_COLUMNS)
        .outerjoin(Venue, Event.venue_id == Venue.id)
        .where(Event.visible_where(viewer_is_member), _upcoming(_NOW))
    )
    if search:
        query = query.where(*_matching(search))
    return query


def _catalogue_version(
    viewer_is_member: bool, *, search: str = "", by_category: bool = False
) -> Select[tuple[Any, ...]]:
    """Every category, each with the upcoming events it lists (the chosen category's
    only, with ``by_category``); a category without any in a row of its own."""
    listed = _version_of_upcoming(viewer_is_member, search).subquery()
    joined = listed.c.category_id == Category.id
    if by_category:
        joined = and_(joined, Category.slug == bindparam("slug"))
    return (
        select(*_CATEGORY_COLUMNS, *listed.c)
        .outerjoin(listed, joined)
        .order_by(Category.sort_order, Category.id)
    )


def _one_category_version(viewer_is_member: bool) -> Select[tuple[Any, ...]]:
    """One category (by slug) with its upcoming events."""
    listed = _version_of_upcoming(viewer_is_member, "").subquery()
    return (
        select(*_CATEGORY_COLUMNS, *listed.c)
        .outerjoin(listed, listed.c.category_id == Category.id)
        .where(Category.slug == bindparam("slug"))
    )


def _archive_version(viewer_is_member: bool) -> Select[tuple[Any, ...]]:
    """The page's events (only their ids are sorted, then the page's rows read) and the
    number of past events, counted once."""
    past = (Event.visible_where(viewer_is_member), Event.ends_at < _NOW)
    newest_first = (Event.starts_at.desc(), Event.id.desc())
    page_ids = (
        select(Event.id)
        .where(*past)
        .order_by(*newest_first)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    total = select(func.count(Event.id)).where(*past).scalar_subquery()
    return (
        select(
            total,
            *_EVENT_VERSION_COLUMNS,
            *_VENUE_VERSION_COLUMNS,
            Category.name_ja,
            Category.name_en,
        )
        .join(Category, Event.category_id == Category.id)
        .outerjoin(Venue, Event.venue_id == Venue.id)
        .where(Event.id.in_(page_ids))
        .order_by(*newest_first)
    )


# Built once per kind of viewer: the catalogue is read often, and composing a statement
# costs more than running its cached compiled form (searches are composed each time).
_VIEWERS = (False, True)
_CATALOGUE_VERSION = {
    (member, by_category): _catalogue_version(member, by_category=by_category)
    for member in _VIEWERS
    for by_category in (False, True)
}
_CATEGORY_VERSION = {member: _one_category_version(member) for member in _VIEWERS}
_ARCHIVE_VERSION = {member: _archive_version(member) for member in _VIEWERS}
_CATEGORY_WIDTH = len(_CATEGORY_COLUMNS)


def _split_listing(rows: Sequence[Any], now: datetime, selected_slug: str | None) -> Listing:
    categories: list[ListedCategory] = []
    versions: list[tuple[Any, ...]] = []
    for row in rows:
        if not categories or categories[-1].id != row[0]:
            categories.append(ListedCategory(*row[:_CATEGORY_WIDTH]))
        if row[_CATEGORY_WIDTH] is not None:
            versions.append(tuple(row[_CATEGORY_WIDTH:]))
    selected = next((c for c in categories if c.slug == selected_slug), None)
    starts_at = _TIME_POSITIONS[0]
    versions.sort(key=lambda version: (version[starts_at], version[0]))  # upcoming_events' order
    return Listing(now, categories, selected, tuple(versions))


def catalogue_listing(
    *,
    category_slug: str = "",
    search: str = "",
    now: datetime | None = None,
    viewer_is_member: bool = False,
) -> Listing:
    """The catalogue's version in one query: every category (the filter and the
    category links) and the upcoming events ``upcoming_events`` lists for the same
    arguments. ``selected`` is None when no category has ``category_slug``."""
    now = now or utcnow()
    by_category = bool(category_slug)
    if search:
        statement = _catalogue_version(viewer_is_member, search=search, by_category=by_category)
    else:
        statement = _CATALOGUE_VERSION[viewer_is_member, by_category]
    parameters: dict[str, Any] = {"now": now}
    if by_category:
        parameters["slug"] = category_slug
    rows = db.session.execute(statement, parameters).all()
    return _split_listing(rows, now, category_slug or None)


def category_listing(
    slug: str, *, now: datetime | None = None, viewer_is_member: bool = False
) -> Listing | None:
    """A category page's version in one query: the category with this slug and its
    upcoming events; None when there is no such category."""
    now = now or utcnow()
    rows = db.session.execute(_CATEGORY_VERSION[viewer_is_member], {"now": now, "slug": slug}).all()
    listing = _split_listing(rows, now, slug)
    return listing if listing.selected is not None else None


def archive_listing(
    page: int, per_page: int, *, now: datetime | None = None, viewer_is_member: bool = False
) -> Listing:
    """One page of the archive's version in one query: the events of the page, newest
    first, each with its category's names, and the number of past events."""
    now = now or utcnow()
    rows = db.session.execute(
        _ARCHIVE_VERSION[viewer_is_member],
        {"now": now, "limit": per_page, "offset": (page - 1) * per_page},
    ).all()
    total = rows[0][0] if rows else 0
    events = tuple(tuple(row[1:]) for row in rows)
    return Listing(now, [], None, events, total, with_category_names=True)


def archive_events(listing: Listing, *, viewer_is_member: bool = False) -> list[Event]:
    """The events of an archive page whose version is ``listing``, in its order."""
    ids = [version[0] for version in listing.events]
    if not ids:
        return []
    rows = db.session.scalars(
        Event.listed_for(viewer_is_member)
        .where(Event.id.in_(ids))
        .order_by(Event.starts_at.desc(), Event.id.desc())
    ).unique()
    return list(rows)


@cache
def _column_keys(cls: type) -> tuple[str, ...]:
    return tuple(attribute.key for attribute in inspect(cls).column_attrs)


def row_values(row: object | None) -> tuple[Any, ...] | None:
    """Every column of a loaded row, for a page's key: whatever a page shows of the
    row is in here, whichever column a change touches."""
    if row is None:
        return None
    return tuple(getattr(row, key) for key in _column_keys(type(row)))


def event_page_version(event: Event, now: datetime) -> tuple[Any, ...]:
    """Everything an event's page shows of the database, from the loaded event: its
    row, its category's and venue's rows, its frames' rows, and which of its moments
    (and of its frames') are past."""
    return (
        row_values(event),
        row_values(event.category),
        row_values(event.venue),
        tuple(row_values(frame) for frame in event.frames),
        page_time_marks(event, now),
    )


def page_time_marks(event: Event, now: datetime) -> tuple[Any, ...]:
    """``event_time_marks`` and those of each frame's own period: an event page shows
    each frame's state."""
    return (
        event_time_marks(event, now),
        tuple(
            (
                frame.opens_at is not None and frame.opens_at <= now,
                frame.closes_at is not None and frame.closes_at <= now,
            )
            for frame in event.frames
        ),
    )


def event_time_marks(event: Event, now: datetime) -> tuple[bool, bool, bool, bool]:
    return time_marks(
        event.starts_at,
        event.ends_at,
        event.registration_opens_at,
        event.registration_closes_at,
        now,
    )


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
