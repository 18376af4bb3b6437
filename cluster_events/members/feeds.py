"""What the private calendar feeds hold, and the one query per poll that finds the
feed's owner by token and tells whether the feed changed.

Same window and rules as the public feeds (calendar/queries.py): published and
cancelled events from 180 days ago on, cancelled ones marked. The members' feed adds
the members-only events; "my events" holds only the events the person registered for,
confirmed, waiting, entered in their lottery or waiting for the office's approval (a
cancelled or declined registration leaves it), the title saying so while they wait,
wait for the draw or wait for approval. A poll costs one query (the
owner and the version together), a 200 one more (the events), whatever the length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, bindparam, case, func, join, select, true
from sqlalchemy.orm import contains_eager

from cluster_events.database import UTCDateTime
from cluster_events.extensions import db
from cluster_events.members.feed_tokens import FeedKind, well_formed_hash
from cluster_events.models import (
    Category,
    Event,
    EventStatus,
    LotteryResult,
    Member,
    MemberPerson,
    MemberStatus,
    Registration,
    RegistrationStatus,
    Venue,
)

_FEED_EVENT_STATUSES = (EventStatus.published, EventStatus.cancelled)
_FEED_REGISTRATION_STATUSES = (
    RegistrationStatus.confirmed,
    RegistrationStatus.waiting,
    RegistrationStatus.entered,
    RegistrationStatus.pending,
)


@dataclass(frozen=True)
class PrivateFeedVersion:
    """The feed's owner and enough about its entries to notice any change that shows:
    an edit (the events' content_updated_at, which seat counts leave alone), a new or
    vanished entry (count, id sums), a registration that left or joined the waiting
    list or was approved (the waiting sum: the ids of waiting registrations less those
    of pending ones, and their updated_at), a renamed category or an edited venue
    (their updated_at)."""

    person_id: int
    count: int
    id_sum: int
    sequence_sum: int
    waiting_sum: int
    stamps: tuple[datetime | None, ...]

    @property
    def last_modified(self) -> datetime | None:
        present = [stamp for stamp in self.stamps if stamp is not None]
        return max(present) if present else None

    def etag_parts(self) -> tuple[object, ...]:
        """Everything but the owner: the members' feed is the same for every member."""
        return (
            self.count,
            self.id_sum,
            self.sequence_sum,
            self.waiting_sum,
            *self.stamps,
        )


def _feed_event_conditions() -> list:
    return [
        Event.status.in_(_FEED_EVENT_STATUSES),
        Event.starts_at >= bindparam("since", type_=UTCDateTime()),
    ]


def _owner(statement: Select, kind: FeedKind) -> Select:
    """Only a current person of an active member owns a feed."""
    token_hash = (
        MemberPerson.members_feed_token_hash
        if kind == FeedKind.members
        else MemberPerson.my_feed_token_hash
    )
    return (
        statement.join(Member, Member.id == MemberPerson.member_id)
        .where(token_hash == bindparam("token_hash"))
        .where(MemberPerson.is_active.is_(True))
        .where(MemberPerson.removed_at.is_(None))
        .where(Member.status == MemberStatus.active)
        .group_by(MemberPerson.id)
    )


def _events_with_places():
    return join(Event, Category, Event.category_id == Category.id).outerjoin(
        Venue, Event.venue_id == Venue.id
    )


def _members_version_statement() -> Select:
    statement = (
        select(
            MemberPerson.id,
            func.count(Event.id),
            func.coalesce(func.sum(Event.id), 0),
            func.coalesce(func.sum(Event.sequence), 0),
            func.max(Event.content_updated_at),
            func.max(Venue.updated_at),
            func.max(Category.updated_at),
        )
        .select_from(MemberPerson)
        .outerjoin(_events_with_places(), and_(true(), *_feed_event_conditions()))
    )
    return _owner(statement, FeedKind.members)


def _my_version_statement() -> Select:
    mine = join(Registration, _events_with_places(), Registration.event_id == Event.id)
    statement = (
        select(
            MemberPerson.id,
            func.count(Registration.id),
            func.coalesce(func.sum(Registration.id), 0),
            func.coalesce(func.sum(Event.sequence), 0),
            func.coalesce(
                func.sum(
                    case(
                        (Registration.status == RegistrationStatus.waiting, Registration.id),
                        (Registration.status == RegistrationStatus.pending, -Registration.id),
                        else_=0,
                    )
                ),
                0,
            ),
            func.max(Registration.updated_at),
            func.max(Event.content_updated_at),
            func.max(Venue.updated_at),
            func.max(Category.updated_at),
        )
        .select_from(MemberPerson)
        .outerjoin(
            mine,
            and_(
                Registration.member_person_id == MemberPerson.id,
                Registration.status.in_(_FEED_REGISTRATION_STATUSES),
                *_feed_event_conditions(),
            ),
        )
    )
    return _owner(statement, FeedKind.my)


def _feed_events_statement() -> Select:
    return (
        select(Event)
        .join(Event.category)
        .outerjoin(Event.venue)
        .options(contains_eager(Event.category), contains_eager(Event.venue))
        .where(*_feed_event_conditions())
        .order_by(Event.starts_at, Event.id)
    )


def _my_events_statement() -> Select:
    return (
        select(Registration.status, Registration.lottery_result, Event)
        .join(Registration.event)
        .join(Event.category)
        .outerjoin(Event.venue)
        .options(contains_eager(Event.category), contains_eager(Event.venue))
        .where(Registration.member_person_id == bindparam("person_id"))
        .where(Registration.status.in_(_FEED_REGISTRATION_STATUSES))
        .where(*_feed_event_conditions())
        .order_by(Event.starts_at, Event.id, Registration.id)
    )


# Built once, like the public feeds' statements: feeds are polled often.
_VERSION = {FeedKind.members: _members_version_statement(), FeedKind.my: _my_version_statement()}
_MEMBERS_EVENTS = _feed_events_statement()
_MY_EVENTS = _my_events_statement()


def feed_version(kind: FeedKind, token: str, since: datetime) -> PrivateFeedVersion | None:
    """The feed's owner and version, or None when the token is malformed, renewed or
    unknown, or its person was removed or their member is no longer active."""
    token_hash = well_formed_hash(token)
    if token_hash is None:
        return None
    row = db.session.execute(_VERSION[kind], {"token_hash": token_hash, "since": since}).first()
    if row is None:
        return None
    if kind == FeedKind.members:
        person_id, count, id_sum, sequence_sum, *stamps = row
        waiting_sum = 0
    else:
        person_id, count, id_sum, sequence_sum, waiting_sum, *stamps = row
    return PrivateFeedVersion(
        int(person_id), int(count), int(id_sum), int(sequence_sum), int(waiting_sum), tuple(stamps)
    )


def members_feed_events(since: datetime) -> list[Event]:
    """Every event a member may see, with category and venue, in one query."""
    return list(db.session.scalars(_MEMBERS_EVENTS, {"since": since}))


@dataclass(frozen=True)
class MyFeedEntries:
    events: list[Event]
    #: Ids of the events the person is only on the waiting list for.
    waiting: frozenset[int]
    #: Of those, the events whose lottery did not draw them (落選・キャンセル待ち).
    not_drawn: frozenset[int] = frozenset()
    #: Ids of the events the person entered the lottery of, not drawn yet (抽選待ち).
    entered: frozenset[int] = frozenset()
    #: Ids of the events the person's registration waits for the office's approval.
    pending: frozenset[int] = frozenset()


#: Which of a person's registrations for one event the feed's entry tells (lowest first).
_RANK = {
    RegistrationStatus.confirmed: 0,
    RegistrationStatus.waiting: 1,
    RegistrationStatus.entered: 2,
    RegistrationStatus.pending: 3,
}


def my_feed_entries(person_id: int, since: datetime) -> MyFeedEntries:
    """The person's events in one query. An event appears once even if the person
    holds two registrations for it (two addresses); a confirmed one wins, then a place
    on the waiting list, then a lottery entry, then one waiting for approval."""
    events: dict[int, Event] = {}
    states: dict[int, tuple[int, bool]] = {}
    rows = db.session.execute(_MY_EVENTS, {"person_id": person_id, "since": since})
    for status, lottery_result, event in rows:
        state = (_RANK.get(status, len(_RANK)), lottery_result == LotteryResult.lost)
        if event.id not in states or state < states[event.id]:
            states[event.id] = state
        events.setdefault(event.id, event)
    places = {event_id: place for event_id, (place, _lost) in states.items()}
    return MyFeedEntries(
        list(events.values()),
        frozenset(event_id for event_id, place in places.items() if place == 1),
        frozenset(event_id for event_id, (place, lost) in states.items() if place == 1 and lost),
        frozenset(event_id for event_id, place in places.items() if place == 2),
        pending=frozenset(event_id for event_id, place in places.items() if place == 3),
    )
