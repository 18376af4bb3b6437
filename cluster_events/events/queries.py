"""Read-only queries about events: the public catalogue, and the console's lists.
Every list loads its categories and venues in the same query, so a page makes the
same number of queries for 5 events as for 200.

The public lists are read one page at a time, from a cursor (``events.pagination``),
and each page has a *version*: one query that reads what the page shows of each of its
events (not the long texts of their pages), with the categories, so that a page already
rendered for the same version can be answered from memory (``page_cache``) without
loading its events. The page's events are then loaded by the version's ids, and
``Listing.shows`` checks that they are what the version described.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    false,
    func,
    inspect,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import joinedload

from cluster_events.database import UTCDateTime, utcnow
from cluster_events.events.pagination import FIRST_PAGE, Cursor, Position
from cluster_events.extensions import db
from cluster_events.models import (
    ENDED_STATUSES,
    Category,
    Event,
    EventStatus,
    Registration,
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
    # English content (issue 13): the card's English texts, and whether the office
    # described the event in English (its long body itself is not on a card).
    Event.summary_en,
    Event.fee_text_en,
    Event.is_described_in_english.label("is_described_in_english"),
    Event.is_all_day,
    # A course's card lists its sessions: a change of one sets the event's
    # content_updated_at (calendar.content_version), and so its updated_at.
    Event.session_count,
    Event.content_updated_at,
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
    """One page of a public list as its version query found it at ``now``: the
    categories (all of them, for the catalogue's filter; or the one of a category page),
    the category chosen, the page's events' versions in the list's order, and whether
    the list goes on after the page and before it.

    ``first_page_instead``: the page asked for is better answered by the list's first
    page (a page before the first one, or a cursor beyond the list's end: events ended
    or were removed since the link was made)."""

    now: datetime
    categories: list[ListedCategory]
    selected: ListedCategory | None
    events: tuple[tuple[Any, ...], ...]
    has_next: bool = False
    has_previous: bool = False
    first_page_instead: bool = False
    #: The archive's versions also hold each event's category names.
    with_category_names: bool = False

    @property
    def version(self) -> tuple[Any, ...]:
        """Everything the list shows, as one value for a page's key."""
        return (
            tuple(self.categories),
            self.events,
            tuple(_marks_of_version(event, self.now) for event in self.events),
            self.has_next,
            self.has_previous,
        )

    @property
    def next_cursor(self) -> Cursor | None:
        """Where the next page starts (after the page's last event), if there is one."""
        return _cursor_of(self.events[-1]) if self.has_next and self.events else None

    @property
    def previous_cursor(self) -> Cursor | None:
        """Where the previous page ends (before the page's first event), if any."""
        return _cursor_of(self.events[0]) if self.has_previous and self.events else None

    @property
    def ids(self) -> list[int]:
        return [version[0] for version in self.events]

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
_CATEGORY_WIDTH = len(_CATEGORY_COLUMNS)
_NOW = bindparam("now", type_=UTCDateTime())
_LIMIT = bindparam("limit", type_=Integer())
_CURSOR = tuple_(
    bindparam("cursor_starts_at", type_=UTCDateTime()), bindparam("cursor_id", type_=Integer())
)
_PLACE = tuple_(Event.starts_at, Event.id)
_CHOSEN_CATEGORY = select(Category.id).where(Category.slug == bindparam("slug")).scalar_subquery()
_STARTS_AT = _TIME_POSITIONS[0]

#: Which way a page is read from its cursor: from the top, after it, before it.
Direction = Literal["first", "after", "before"]


def _direction(position: Position) -> Direction:
    if position.cursor is None:
        return "first"
    return "before" if position.backwards else "after"


def _not_for_an_index(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """The same condition as one term that no index is chosen for. SQLite, which keeps
    no statistics, takes an equality or a range on an indexed column for a selective one
    and reads every row it allows through that index, then sorts them; hiding the term
    leaves it the index that reads the page in order and stops after it (see
    docs/benchmarks.md, "Keyset pagination"). PostgreSQL plans alike either way."""
    return func.coalesce(condition, false())


def _one_page(
    query: Select[tuple[Any, ...]],
    direction: Direction,
    *,
    newest_first: bool,
    cursor_in_index: bool,
) -> Select[tuple[Any, ...]]:
    """``query`` cut to one page and one event more (which tells whether the list goes
    on), read from the cursor in ``direction``, nearest first. ``cursor_in_index``: the
    cursor's comparison may choose the index (the archive's, which walks
    ``ix_event_starts_at_id``); the upcoming lists are read through the end time
    instead (an event under way started before events that are long over)."""
    descending = newest_first != (direction == "before")
    if direction != "first":
        beyond = _PLACE < _CURSOR if descending else _PLACE > _CURSOR
        query = query.where(beyond if cursor_in_index else _not_for_an_index(beyond))
    order = (Event.starts_at.desc(), Event.id.desc()) if descending else (Event.starts_at, Event.id)
    return query.order_by(*order).limit(_LIMIT)


def _version_of_upcoming(
    viewer_is_member: bool,
    search: str,
    *,
    by_category: bool,
    direction: Direction,
    described_in_english: bool = False,
) -> Select[tuple[Any, ...]]:
    query = (
        select(*_EVENT_VERSION_COLUMNS, *_VENUE_VERSION_COLUMNS)
        .outerjoin(Venue, Event.venue_id == Venue.id)
        .where(Event.visible_where(viewer_is_member), _upcoming(_NOW))
    )
    if by_category:
        query = query.where(Event.category_id == _CHOSEN_CATEGORY)
    if described_in_english:
        query = query.where(Event.is_described_in_english)
    if search:
        query = query.where(*_matching(search))
    return _one_page(query, direction, newest_first=False, cursor_in_index=False)


def _catalogue_version(
    viewer_is_member: bool,
    direction: Direction,
    *,
    search: str = "",
    by_category: bool = False,
    described_in_english: bool = False,
) -> Select[tuple[Any, ...]]:
    """Every category, with the page's upcoming events (the chosen category's only,
    with ``by_category``; those described in English only, with
    ``described_in_english``) beside their own; a category without any in a row of
    its own."""
    listed = _version_of_upcoming(
        viewer_is_member,
        search,
        by_category=by_category,
        direction=direction,
        described_in_english=described_in_english,
    ).subquery()
    return (
        select(*_CATEGORY_COLUMNS, *listed.c)
        .outerjoin(listed, listed.c.category_id == Category.id)
        .order_by(Category.sort_order, Category.id)
    )


def _one_category_version(viewer_is_member: bool, direction: Direction) -> Select[tuple[Any, ...]]:
    """One category (by slug) with the page's upcoming events."""
    listed = _version_of_upcoming(
        viewer_is_member, "", by_category=True, direction=direction
    ).subquery()
    return (
        select(*_CATEGORY_COLUMNS, *listed.c)
        .outerjoin(listed, listed.c.category_id == Category.id)
        .where(Category.slug == bindparam("slug"))
    )


def _archive_version(viewer_is_member: bool, direction: Direction) -> Select[tuple[Any, ...]]:
    """The page's past events, each with its category's names. ``starts_at < now``
    adds nothing to ``ends_at < now`` (an event ends after it starts: the services'
    rule), but it lets the first page's index walk begin at now instead of at the last
    upcoming event. A page after a cursor has the cursor for its bound instead: SQLite
    bounds a walk by one of two upper bounds only, and now would be the wrong one."""
    query = (
        select(
            *_EVENT_VERSION_COLUMNS,
            *_VENUE_VERSION_COLUMNS,
            Category.name_ja,
            Category.name_en,
        )
        .join(Category, Event.category_id == Category.id)
        .outerjoin(Venue, Event.venue_id == Venue.id)
        .where(_not_for_an_index(Event.visible_where(viewer_is_member)), Event.ends_at < _NOW)
    )
    if direction != "after":
        query = query.where(Event.starts_at < _NOW)
    return _one_page(query, direction, newest_first=True, cursor_in_index=True)


# Built once per kind of viewer and direction: the lists are read often, and composing
# a statement costs more than running its cached compiled form (searches are composed
# each time).
@cache
def _catalogue_statement(
    viewer_is_member: bool, by_category: bool, direction: Direction, described_in_english: bool
) -> Select[tuple[Any, ...]]:
    return _catalogue_version(
        viewer_is_member,
        direction,
        by_category=by_category,
        described_in_english=described_in_english,
    )


@cache
def _category_statement(viewer_is_member: bool, direction: Direction) -> Select[tuple[Any, ...]]:
    return _one_category_version(viewer_is_member, direction)


@cache
def _archive_statement(viewer_is_member: bool, direction: Direction) -> Select[tuple[Any, ...]]:
    return _archive_version(viewer_is_member, direction)


def _parameters(now: datetime, position: Position, per_page: int) -> dict[str, Any]:
    parameters: dict[str, Any] = {"now": now, "limit": per_page + 1}
    if position.cursor is not None:
        parameters["cursor_starts_at"] = position.cursor.starts_at
        parameters["cursor_id"] = position.cursor.event_id
    return parameters


def _cursor_of(version: tuple[Any, ...]) -> Cursor:
    return Cursor(version[_STARTS_AT], version[0])


def _paged_listing(
    versions: list[tuple[Any, ...]],
    position: Position,
    per_page: int,
    *,
    now: datetime,
    newest_first: bool,
    categories: list[ListedCategory] | None = None,
    selected: ListedCategory | None = None,
    with_category_names: bool = False,
) -> Listing:
    """The page out of the rows read (at most ``per_page + 1``, nearest the cursor
    first): the events in the list's order, and whether the list goes on each way."""
    versions.sort(key=lambda version: (version[_STARTS_AT], version[0]), reverse=newest_first)
    more = len(versions) > per_page
    if position.backwards:
        shown = versions[-per_page:]
        has_next, has_previous, instead = True, more, not more
    else:
        shown = versions[:per_page]
        has_next, has_previous = more, position.cursor is not None
        instead = position.cursor is not None and not shown
    return Listing(
        now,
        categories or [],
        selected,
        tuple(shown),
        has_next=has_next,
        has_previous=has_previous,
        first_page_instead=instead,
        with_category_names=with_category_names,
    )


def _upcoming_listing(
    rows: Sequence[Any],
    position: Position,
    per_page: int,
    now: datetime,
    selected_slug: str | None,
) -> Listing:
    categories: list[ListedCategory] = []
    versions: list[tuple[Any, ...]] = []
    for row in rows:
        if not categories or categories[-1].id != row[0]:
            categories.append(ListedCategory(*row[:_CATEGORY_WIDTH]))
        if row[_CATEGORY_WIDTH] is not None:
            versions.append(tuple(row[_CATEGORY_WIDTH:]))
    selected = next((c for c in categories if c.slug == selected_slug), None)
    return _paged_listing(
        versions,
        position,
        per_page,
        now=now,
        newest_first=False,
        categories=categories,
        selected=selected,
    )


def catalogue_listing(
    *,
    per_page: int,
    position: Position = FIRST_PAGE,
    category_slug: str = "",
    search: str = "",
    described_in_english: bool = False,
    now: datetime | None = None,
    viewer_is_member: bool = False,
) -> Listing:
    """The catalogue's version in one query: every category (the filter and the
    category links) and one page of the upcoming events (soonest first; an event under
    way still shows) that match ``search`` and the category with ``category_slug``
    (and, with ``described_in_english``, that the office described in English).
    ``selected`` is None when no category has that slug."""
    now = now or utcnow()
    by_category = bool(category_slug)
    direction = _direction(position)
    if search:
        statement = _catalogue_version(
            viewer_is_member,
            direction,
            search=search,
            by_category=by_category,
            described_in_english=described_in_english,
        )
    else:
        statement = _catalogue_statement(
            viewer_is_member, by_category, direction, described_in_english
        )
    parameters = _parameters(now, position, per_page)
    if by_category:
        parameters["slug"] = category_slug
    rows = db.session.execute(statement, parameters).all()
    return _upcoming_listing(rows, position, per_page, now, category_slug or None)


def category_listing(
    slug: str,
    *,
    per_page: int,
    position: Position = FIRST_PAGE,
    now: datetime | None = None,
    viewer_is_member: bool = False,
) -> Listing | None:
    """A category page's version in one query: the category with this slug and one
    page of its upcoming events; None when there is no such category."""
    now = now or utcnow()
    parameters = {**_parameters(now, position, per_page), "slug": slug}
    statement = _category_statement(viewer_is_member, _direction(position))
    rows = db.session.execute(statement, parameters).all()
    listing = _upcoming_listing(rows, position, per_page, now, slug)
    return listing if listing.selected is not None else None


def archive_listing(
    *,
    per_page: int,
    position: Position = FIRST_PAGE,
    now: datetime | None = None,
    viewer_is_member: bool = False,
) -> Listing:
    """One page of the archive's version in one query: past events, newest first,
    each with its category's names."""
    now = now or utcnow()
    statement = _archive_statement(viewer_is_member, _direction(position))
    rows = db.session.execute(statement, _parameters(now, position, per_page)).all()
    return _paged_listing(
        [tuple(row) for row in rows],
        position,
        per_page,
        now=now,
        newest_first=True,
        with_category_names=True,
    )


def listed_events(listing: Listing, *, viewer_is_member: bool = False) -> list[Event]:
    """The events of the page whose version is ``listing``, in its order, with their
    categories and venues (one query); one that this viewer may no longer see is left
    out, and ``listing.shows`` then tells the page apart."""
    ids = listing.ids
    if not ids:
        return []
    loaded = {
        event.id: event
        for event in db.session.scalars(
            Event.listed_for(viewer_is_member).where(Event.id.in_(ids))
        ).unique()
    }
    return [loaded[event_id] for event_id in ids if event_id in loaded]


@cache
def _column_keys(cls: type) -> tuple[str, ...]:
    return tuple(attribute.key for attribute in inspect(cls).column_attrs)


def row_values(row: object | None) -> tuple[Any, ...] | None:
    """Every column of a loaded row, for a page's key: whatever a page shows of the
    row is in here, whichever column a change touches."""
    if row is None:
        return None
    return tuple(getattr(row, key) for key in _column_keys(type(row)))


#: The columns of an event and its frames that every sign-up changes: an event page
#: shows them as live values (``presentation.live_counts``), not through its key.
_SEAT_COUNTER_COLUMNS = frozenset(
    {"confirmed_count", "waiting_count", "waiting_parties", "updated_at"}
)


@cache
def _content_column_keys(cls: type) -> tuple[str, ...]:
    return tuple(key for key in _column_keys(cls) if key not in _SEAT_COUNTER_COLUMNS)


def _content_values(row: object) -> tuple[Any, ...]:
    return tuple(getattr(row, key) for key in _content_column_keys(type(row)))


def event_page_version(event: Event, now: datetime) -> tuple[Any, ...]:
    """Everything an event's page shows of the database, from the loaded event, but
    its seat counters (the page's live values, ``presentation.live_counts``): its row,
    its category's and venue's rows, its frames' rows, and which of its moments (and
    of its frames') are past."""
    return (
        _content_values(event),
        row_values(event.category),
        row_values(event.venue),
        tuple(_content_values(frame) for frame in event.frames),
        tuple(
            (row_values(session), row_values(session.venue))
            for session in (event.sessions if event.session_count else ())
        ),
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
                Registration.status.not_in(ENDED_STATUSES),
            )
            .order_by(Registration.id)
        )
    )


def event_choices() -> list[tuple[int, str]]:
    """(id, title) of every event, newest first, for filters."""
    return list(db.session.execute(select(Event.id, Event.title).order_by(Event.starts_at.desc())))


def list_venues() -> list[Venue]:
    return list(db.session.scalars(select(Venue).order_by(Venue.name)))
