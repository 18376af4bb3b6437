"""Typed SQLAlchemy models for every domain, with their small state checks.

Rules that change several rows (registering, cancelling, promoting) live in the
domain service modules, not here.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

from cluster_events.database import Base, UTCDateTime, utcnow


class EventStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    cancelled = "cancelled"


class RegistrationStatus(enum.StrEnum):
    confirmed = "confirmed"
    waiting = "waiting"
    cancelled = "cancelled"
    #: 申込み受付・承認待ち: made in a frame that needs the office's approval; holds no
    #: seat and no place in line until the office approves it.
    pending = "pending"
    #: お断り: the office declined it. Over, like a cancelled one, but it keeps its
    #: address for the event (a second sign-up with it is shown this one).
    declined = "declined"
    #: 応募: an entry for a frame drawn by lot, holding no seat until the draw
    #: (registration.lottery), which makes it confirmed or waiting.
    entered = "entered"


#: The statuses of a registration that is over: it holds nothing and waits for nothing.
ENDED_STATUSES = (RegistrationStatus.cancelled, RegistrationStatus.declined)


class MemberType(enum.StrEnum):
    corporate = "corporate"
    individual = "individual"
    general = "general"


class MemberLink(enum.StrEnum):
    """How a registration is tied to the member list."""

    #: Made by a signed-in member.
    verified = "verified"
    #: A public registration whose address is that of a person of an active member.
    matched = "matched"
    #: Not linked: the member type, if any, is what the visitor chose on the form.
    none = "none"


class OutboxStatus(enum.StrEnum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    failed = "failed"


class MemberKind(enum.StrEnum):
    corporate = "corporate"
    individual = "individual"


class MemberStatus(enum.StrEnum):
    active = "active"
    lapsed = "lapsed"
    withdrawn = "withdrawn"


class FrameEligibility(enum.StrEnum):
    """Who may take a participation frame on the web (the office may add anyone)."""

    #: Anyone who may sign up for the event.
    anyone = "anyone"
    #: Signed-in members only.
    members = "members"
    #: Whoever types one of the frame's invitation codes.
    invitation = "invitation"


class FrameSelection(enum.StrEnum):
    """How a participation frame gives its seats."""

    #: 先着順: in the order people sign up; a full frame takes a waiting list.
    first_come = "first_come"
    #: 抽選: entries until the deadline, then a draw (registration.lottery).
    lottery = "lottery"


class LotteryResult(enum.StrEnum):
    """What the draw made of an entry (kept after later promotions or cancellations)."""

    #: 当選: a seat.
    won = "won"
    #: 落選: a place on the frame's waiting list, in the drawn order.
    lost = "lost"


class OrganizerRole(enum.StrEnum):
    admin = "admin"
    organizer = "organizer"


class QuestionKind(enum.StrEnum):
    """What an event's question asks for (see registration.answers)."""

    short_text = "short_text"
    long_text = "long_text"
    one_choice = "one_choice"
    several_choices = "several_choices"
    #: A statement to tick ("I agree to ..."): the answer is yes, or none.
    agreement = "agreement"

    @property
    def has_choices(self) -> bool:
        return self in (QuestionKind.one_choice, QuestionKind.several_choices)


def _enum_column(enum_cls: type[enum.StrEnum], **kwargs: Any) -> Any:
    # Plain strings in the database: adding a member later needs no ALTER TYPE.
    length = max(len(m.value) for m in enum_cls) + 8
    return mapped_column(String(length), **kwargs)


@dataclass(frozen=True)
class LocalizedText:
    """A text as one language's reader sees it, and the language it is written in:
    an English reader is shown the Japanese text when no English one was written, and
    the page marks it ``lang="ja"`` (``is_fallback``)."""

    text: str
    lang: str
    is_fallback: bool = False

    @classmethod
    def of(cls, japanese: str, english: str, locale: str) -> LocalizedText:
        if locale != "en":
            return cls(japanese, "ja")
        if english:
            return cls(english, "en")
        return cls(japanese, "ja", is_fallback=bool(japanese))

    def __bool__(self) -> bool:
        return bool(self.text)

    def __str__(self) -> str:
        return self.text


class Category(Base):
    __tablename__ = "category"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Used in URLs (/categories/<slug>, /calendar/<slug>.ics); never changes once public.
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name_ja: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    #: Part of the calendar feeds' ETag: a renamed category changes every feed it is in.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    events: Mapped[list[Event]] = relationship(back_populates="category")

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_ja


class Venue(Base):
    __tablename__ = "venue"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    address_en: Mapped[str] = mapped_column(String(300), default="")
    access_notes: Mapped[str] = mapped_column(Text, default="")
    # English content (issue 13) ------------------------------------------------------
    #: Empty: the English pages show ``access_notes``, marked as Japanese.
    access_notes_en: Mapped[str] = mapped_column(Text, default="")
    map_url: Mapped[str] = mapped_column(String(500), default="")
    #: Part of the calendar feeds' ETag: a changed address changes LOCATION in the feeds.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def display_name(self, locale: str) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name

    def display_address(self, locale: str) -> str:
        return self.address_en if locale == "en" and self.address_en else self.address

    def localized_access_notes(self, locale: str) -> LocalizedText:
        return LocalizedText.of(self.access_notes, self.access_notes_en, locale)


class Event(Base):
    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_status_starts_at", "status", "starts_at"),
        Index("ix_event_category_starts_at", "category_id", "starts_at"),
        # The public list and archive split on the end time (an event under way is upcoming).
        Index("ix_event_ends_at", "ends_at"),
        # The same split with the visibility rule in one index: SQLite (which has no
        # statistics) otherwise reads every published event through the status index, and
        # the archive's count reads only this index. See docs/benchmarks.md.
        Index("ix_event_status_ends_at", "status", "ends_at", "is_members_only"),
        # The archive's pages, newest first: PostgreSQL walks it backwards and stops after
        # the page instead of sorting every past event.
        Index("ix_event_starts_at_id", "starts_at", "id"),
        # A category's upcoming events (category pages, the catalogue's filter): SQLite
        # otherwise walks ix_event_category_starts_at through the category's past events.
        Index("ix_event_category_ends_at", "category_id", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200), default="")
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"))
    summary: Mapped[str] = mapped_column(Text, default="")
    #: Markdown; rendered and sanitised by cluster_events.text.render_markdown.
    body: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    venue_id: Mapped[int | None] = mapped_column(ForeignKey("venue.id"))
    online_url: Mapped[str] = mapped_column(String(500), default="")
    #: Seats: the sum of its frames' capacities, None (unlimited) when a frame has no
    #: limit; kept in step with the frames under the event row lock.
    capacity: Mapped[int | None] = mapped_column(Integer)
    fee_text: Mapped[str] = mapped_column(String(200), default="")
    registration_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    registration_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: False for events the public cannot sign up for (school visits, invitation only).
    accepts_registrations: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = _enum_column(EventStatus, default=EventStatus.draft)
    is_members_only: Mapped[bool] = mapped_column(Boolean, default=False)
    cancellation_reason: Mapped[str] = mapped_column(Text, default="")
    # English content (issue 13): each empty one falls back to the Japanese text,
    # marked as Japanese (``localized``).
    summary_en: Mapped[str] = mapped_column(Text, default="")
    #: Markdown, like ``body``.
    body_en: Mapped[str] = mapped_column(Text, default="")
    fee_text_en: Mapped[str] = mapped_column(String(200), default="")
    cancellation_reason_en: Mapped[str] = mapped_column(Text, default="")
    #: Calendar UID, fixed at creation so every feed and email names the same entry.
    uid: Mapped[str] = mapped_column(String(255), unique=True)
    #: iCalendar SEQUENCE; raised when time, place, title or status changes.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    #: Seats taken in all its frames (people: registrants and companions); kept in
    #: step with the frames' counters (and so with the registrations) under the event
    #: row lock.
    confirmed_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: People on its frames' waiting lists (registrants and their companions).
    waiting_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The questions of the form not removed, kept in step by registration.questions
    #: under the event row lock: 0 lets a sign-up skip reading questions at all.
    question_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Raised by every change of the event's questions (also part of the event page's
    #: key): a sign-up checked against other questions than the current ones is refused.
    questions_revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: How many participation frames it has (at least one), kept in step with them, so
    #: a list can say "several frames" without reading them.
    frame_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    #: The last change of what calendars show of the event (not its seats, waiting
    #: list, registration window or page text): set by calendar.content_version.
    content_updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # --- sessions and all-day events (issue 13; see docs/architecture.md, "Sessions") ---
    #: 終日: the event takes whole days. ``starts_at`` is then 00:00 Tokyo of its first
    #: day and ``ends_at`` 00:00 Tokyo of the day after its last (an exclusive end, as
    #: RFC 5545's VALUE=DATE). With sessions: True when every session is all-day.
    is_all_day: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    #: How many sessions (EventSession rows) it has, kept in step by events/sessions.py:
    #: 0 is a one-date event (one calendar entry with the event's UID), and lets lists
    #: and feeds skip reading sessions at all. With sessions, ``starts_at`` is the first
    #: session's start and ``ends_at`` the last one's end.
    session_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    category: Mapped[Category] = relationship(back_populates="events")
    venue: Mapped[Venue | None] = relationship()
    registrations: Mapped[list[Registration]] = relationship(back_populates="event")
    #: In display order. Read with the event under its lock (transactions.py).
    frames: Mapped[list[Frame]] = relationship(
        back_populates="event",
        order_by=lambda: (Frame.sort_order, Frame.id),
        cascade="all, delete-orphan",
    )
    #: A course's sessions (全N回) in their order; empty for a one-date event.
    sessions: Mapped[list[EventSession]] = relationship(
        back_populates="event",
        order_by=lambda: (EventSession.position, EventSession.id),
        cascade="all, delete-orphan",
    )

    @staticmethod
    def new_uid(domain: str) -> str:
        return f"{uuid.uuid4()}@{domain}"

    @classmethod
    def visible_where(cls, viewer_is_member: bool) -> ColumnElement[bool]:
        """Who may see an event outside the console, the one rule for every list, page
        and feed: published or cancelled events, never drafts; members-only events only
        for a signed-in member."""
        clause = cls.status.in_([EventStatus.published, EventStatus.cancelled])
        if not viewer_is_member:
            clause = and_(clause, cls.is_members_only.is_(False))
        return clause

    def is_visible_to(self, viewer_is_member: bool) -> bool:
        """``visible_where`` for one event already loaded."""
        if self.status not in (EventStatus.published, EventStatus.cancelled):
            return False
        return viewer_is_member or not self.is_members_only

    @classmethod
    def listed_for(cls, viewer_is_member: bool) -> Select[tuple[Event]]:
        """The events this viewer may see, with category and venue in the same query."""
        return (
            select(cls)
            .options(joinedload(cls.category), joinedload(cls.venue))
            .where(cls.visible_where(viewer_is_member))
        )

    @classmethod
    def publicly_listed(cls) -> Select[tuple[Event]]:
        """What anyone may see (no members-only events): ``listed_for(False)``."""
        return cls.listed_for(viewer_is_member=False)

    @property
    def is_published(self) -> bool:
        return self.status == EventStatus.published

    @property
    def is_cancelled(self) -> bool:
        return self.status == EventStatus.cancelled

    @property
    def is_draft(self) -> bool:
        return self.status == EventStatus.draft

    @property
    def seats_left(self) -> int | None:
        if self.capacity is None:
            return None
        return max(self.capacity - self.confirmed_count, 0)

    @property
    def is_full(self) -> bool:
        return self.capacity is not None and self.confirmed_count >= self.capacity

    def display_title(self, locale: str) -> str:
        return self.title_en if locale == "en" and self.title_en else self.title

    # English content (issue 13) ----------------------------------------------------------

    #: The texts that have an English version, by the Japanese column's name.
    LOCALIZED_TEXTS = ("title", "summary", "body", "fee_text", "cancellation_reason")

    def localized(self, name: str, locale: str) -> LocalizedText:
        """One of ``LOCALIZED_TEXTS`` as a reader of ``locale`` sees it: the English text
        when it is written, else the Japanese one, which says it is Japanese."""
        if name not in self.LOCALIZED_TEXTS:
            raise KeyError(name)
        return LocalizedText.of(getattr(self, name), getattr(self, name + "_en"), locale)

    @hybrid_property
    def is_described_in_english(self) -> bool:
        """The office wrote an English summary or body: the English catalogue's filter
        and the "described in Japanese only" note go by it."""
        return bool(self.summary_en or self.body_en)

    @is_described_in_english.inplace.expression
    @classmethod
    def _is_described_in_english_expression(cls) -> ColumnElement[bool]:
        return type_coerce(or_(cls.summary_en != "", cls.body_en != ""), Boolean())

    @property
    def has_several_frames(self) -> bool:
        return self.frame_count > 1

    def frame_by_id(self, frame_id: int) -> Frame | None:
        return next((frame for frame in self.frames if frame.id == frame_id), None)

    @property
    def has_sessions(self) -> bool:
        return self.session_count > 0

    def session_by_id(self, session_id: int) -> EventSession | None:
        return next((s for s in self.sessions if s.id == session_id), None)


class SessionStatus(enum.StrEnum):
    scheduled = "scheduled"
    cancelled = "cancelled"


class EventSession(Base):
    """One dated session of a course (全3回の第2回): its own times, all-day flag and,
    if it differs from the event's, venue; its own calendar entry (UID and SEQUENCE).
    One registration of the event covers every session."""

    __tablename__ = "event_session"
    __table_args__ = (
        UniqueConstraint("event_id", "position", name="uq_event_session_event_position"),
        Index("ix_event_session_starts_at", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    #: 1, 2, 3...: 第n回, in date order (sessions never overlap).
    position: Mapped[int] = mapped_column(Integer)
    #: Like the event's: an all-day session runs from 00:00 Tokyo of its first day to
    #: 00:00 Tokyo of the day after its last.
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    is_all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    #: None: the event's venue.
    venue_id: Mapped[int | None] = mapped_column(ForeignKey("venue.id"))
    status: Mapped[str] = _enum_column(SessionStatus, default=SessionStatus.scheduled)
    cancellation_reason: Mapped[str] = mapped_column(Text, default="")
    #: Its calendar entry's UID, fixed at creation.
    uid: Mapped[str] = mapped_column(String(255), unique=True)
    #: Raised when its own time, place, number or status changes (calendar.sequence);
    #: its entry's SEQUENCE is the event's plus this.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The last change of what its entry alone shows (calendar.content_version).
    content_updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    event: Mapped[Event] = relationship(back_populates="sessions")
    venue: Mapped[Venue | None] = relationship()

    @property
    def is_cancelled(self) -> bool:
        return self.status == SessionStatus.cancelled

    @property
    def shown_venue(self) -> Venue | None:
        """Where it takes place: its own venue, else the event's."""
        return self.venue if self.venue_id is not None else self.event.venue


class SessionAttendance(Base):
    """One person's arrival at one session (the registrant: ``person`` 0; a companion:
    their position)."""

    __tablename__ = "session_attendance"
    __table_args__ = (
        UniqueConstraint(
            "session_id", "registration_id", "person", name="uq_session_attendance_person"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("event_session.id"))
    registration_id: Mapped[int] = mapped_column(ForeignKey("registration.id"), index=True)
    person: Mapped[int] = mapped_column(Integer, default=0)
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SessionReminder(Base):
    """A reminder queued for one registration before one session (once each)."""

    __tablename__ = "session_reminder"
    __table_args__ = (
        UniqueConstraint("session_id", "registration_id", name="uq_session_reminder"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("event_session.id"))
    registration_id: Mapped[int] = mapped_column(ForeignKey("registration.id"), index=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


#: The name of an event's frame when the office made no other: an event made before
#: frames existed, or a new one.
DEFAULT_FRAME_NAMES = ("参加者", "Participants")


class Frame(Base):
    """参加枠: seats of one kind within an event (会員枠, 一般枠), each with its own
    capacity, waiting list, fee, registration period and who may take it.

    Its counters are kept in step with its registrations under the event row lock, like
    the event's (which are their sums): they count people (a registration and its
    companions), and positions on its waiting list run 1..waiting_parties without
    gaps. Fee and period fall back to the event's; a period of
    its own only narrows the event's.
    """

    __tablename__ = "participation_frame"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    name_ja: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    #: Seats; None means unlimited.
    capacity: Mapped[int | None] = mapped_column(Integer)
    #: The fee as it should read; None: the event's fee.
    fee_text: Mapped[str | None] = mapped_column(String(200))
    #: The fee on English pages; None: the Japanese one (the frame's, or the event's).
    fee_text_en: Mapped[str | None] = mapped_column(String(200))
    eligibility: Mapped[str] = _enum_column(
        FrameEligibility, default=FrameEligibility.anyone, server_default="anyone"
    )
    #: None: the event's. Registration is open when both the event's and these allow.
    registration_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    registration_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Display order within the event, from 0.
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    #: 同伴者: how many companions a registration may bring (0: none). Each takes a
    #: seat of the frame, so a party of three needs three seats.
    max_companions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: 承認制: a sign-up on the web waits as pending, holding no seat, until the office
    #: approves it (registration.services.approve_registrations).
    requires_approval: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    #: Seats taken: the people (registrants and their companions) confirmed.
    confirmed_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: People on its waiting list (registrants and their companions).
    waiting_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Registrations on its waiting list: their positions run 1..waiting_parties.
    waiting_parties: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: First come (the default) or drawn by lot at the deadline (``draw_at``).
    selection: Mapped[str] = _enum_column(
        FrameSelection, default=FrameSelection.first_come, server_default="first_come"
    )
    #: When its lottery was drawn (``LotteryDraw``); None until then. Set in the draw's
    #: transaction under the event lock: a frame is drawn once.
    drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship(back_populates="frames")
    invitation_codes: Mapped[list[InvitationCode]] = relationship(
        back_populates="frame", order_by="InvitationCode.id", cascade="all, delete-orphan"
    )

    def display_name(self, locale: str) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name_ja

    def fee(self, locale: str) -> str:
        """The fee as shown to a reader of ``locale`` ("" when none is written)."""
        return self.localized_fee(locale).text

    def localized_fee(self, locale: str) -> LocalizedText:
        """The frame's own fee, else the event's; English falls back to Japanese."""
        if self.fee_text is not None:
            japanese, english = self.fee_text, self.fee_text_en or ""
        else:
            japanese = self.event.fee_text
            english = self.fee_text_en or self.event.fee_text_en
        return LocalizedText.of(japanese, english, locale)

    @property
    def opens_at(self) -> datetime | None:
        """When registration for this frame opens: the later of its own and the event's."""
        times = [t for t in (self.registration_opens_at, self.event.registration_opens_at) if t]
        return max(times) if times else None

    @property
    def closes_at(self) -> datetime | None:
        """When it closes: the earlier of its own and the event's (None: at the start)."""
        times = [t for t in (self.registration_closes_at, self.event.registration_closes_at) if t]
        return min(times) if times else None

    @property
    def seats_left(self) -> int | None:
        if self.capacity is None:
            return None
        return max(self.capacity - self.confirmed_count, 0)

    @property
    def is_full(self) -> bool:
        """A newcomer goes to the waiting list: every seat is taken, or someone waits
        already (a party at the head of the line that does not fit the seats left
        holds them: nobody behind it passes it, see ``can_seat``)."""
        if self.capacity is None:
            return False
        return self.confirmed_count >= self.capacity or self.waiting_parties > 0

    @property
    def has_free_seat(self) -> bool:
        return not self.is_full

    def fits(self, people: int) -> bool:
        """``people`` more seats are free (whoever waits)."""
        return self.capacity is None or self.confirmed_count + people <= self.capacity

    def can_seat(self, people: int) -> bool:
        """A newcomer party of ``people`` takes seats now: all of them are free and
        nobody waits ahead of it. A party never takes part of its seats, and never
        passes a bigger one waiting."""
        return self.fits(people) and (self.capacity is None or self.waiting_parties == 0)

    @property
    def is_for_members(self) -> bool:
        return self.eligibility == FrameEligibility.members

    @property
    def needs_invitation(self) -> bool:
        return self.eligibility == FrameEligibility.invitation

    @property
    def is_lottery(self) -> bool:
        return self.selection == FrameSelection.lottery

    @property
    def takes_entries(self) -> bool:
        """A lottery not drawn yet: a sign-up is an entry (応募), holding no seat. Once
        drawn, the frame gives seats first come, like any other."""
        return self.is_lottery and self.drawn_at is None

    @property
    def draw_at(self) -> datetime:
        """A lottery's deadline, after which it is drawn: when registration for the frame
        closes (its own deadline, or the event's), else when the event starts."""
        return self.closes_at or self.event.starts_at


class InvitationCode(Base):
    """A code that admits to an invitation frame, for at most ``max_uses`` active
    registrations (None: any number). A use is an active registration of the frame made
    with the code, counted under the event row lock; a cancellation gives it back.

    Kept as the office wrote it (normalised), not hashed: the office reads it out to the
    people it invites, and it opens a frame, not anyone's data (guessing is bounded by
    the sign-up rate limit)."""

    __tablename__ = "invitation_code"
    __table_args__ = (UniqueConstraint("frame_id", "code", name="uq_invitation_code_frame_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    frame_id: Mapped[int] = mapped_column(ForeignKey("participation_frame.id"))
    #: Upper-case letters and digits only (see registration.frames.normalise_code).
    code: Mapped[str] = mapped_column(String(32))
    #: Whom it was given to, for the office.
    note: Mapped[str] = mapped_column(String(200), default="")
    max_uses: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    frame: Mapped[Frame] = relationship(back_populates="invitation_codes")


class CalendarVersion(Base):
    """One row: a new random token whenever anything a public calendar shows changes
    (calendar.content_version). The public feeds' ETags and the feeds each process
    keeps built are keyed by it, so a poll reads one row whatever the number of events."""

    __tablename__ = "calendar_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Registration(Base):
    __tablename__ = "registration"
    __table_args__ = (
        # One active registration per address per event, enforced by the database too.
        Index(
            "uq_registration_active_email",
            "event_id",
            "email_normalized",
            unique=True,
            sqlite_where=text("status != 'cancelled'"),
            postgresql_where=text("status != 'cancelled'"),
        ),
        Index("ix_registration_event_status", "event_id", "status"),
        # A frame's waiting list in order (promotions, closing up positions).
        Index("ix_registration_frame_status", "frame_id", "status", "waiting_position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    #: The participation frame whose seat or waiting list it holds (of the same event).
    frame_id: Mapped[int] = mapped_column(ForeignKey("participation_frame.id"))
    status: Mapped[str] = _enum_column(RegistrationStatus)
    #: 1-based place on its frame's waiting list while status is waiting, else None.
    waiting_position: Mapped[int | None] = mapped_column(Integer)
    #: The people it holds seats for: the registrant and their companions (1 + the
    #: companions), all seated together or all waiting.
    party_size: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    name: Mapped[str] = mapped_column(String(100))
    #: Stored in hiragana so lists sort in 五十音順.
    name_kana: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    #: Lower-cased address used for the one-registration-per-address rule.
    email_normalized: Mapped[str] = mapped_column(String(254))
    organization: Mapped[str] = mapped_column(String(200), default="")
    job_title: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(30), default="")
    member_type: Mapped[str] = _enum_column(MemberType, default=MemberType.general)
    remarks: Mapped[str] = mapped_column(Text, default="")
    #: Language of the registrant's emails.
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    #: Random salt from which the personal link's token is derived with the secret key
    #: (so later emails can carry the same link); the token itself is never stored.
    token_salt: Mapped[str] = mapped_column(String(32))
    #: SHA-256 of the personal link's token, for looking a registration up by its link.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: "web" or "organizer" (added by hand from a phone or fax sign-up).
    source: Mapped[str] = mapped_column(String(16), default="web")
    organizer_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the office approved or declined it (a frame that needs approval).
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the personal link was last sent again to someone who signed up a second time
    #: from another browser (at most once an hour; see registration.services).
    link_resent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    personal_data_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The member's person this registration belongs to (see ``member_link``), or None.
    member_person_id: Mapped[int | None] = mapped_column(ForeignKey("member_person.id"), index=True)
    member_link: Mapped[str] = _enum_column(
        MemberLink, default=MemberLink.none, server_default=MemberLink.none.value
    )
    #: The invitation code it was made with, while it counts as one of the code's uses.
    invitation_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitation_code.id"), index=True
    )
    #: What the draw made of it (``LotteryResult``), for an entry of a lottery frame;
    #: None for any other registration. Kept when the person is promoted or cancels.
    lottery_result: Mapped[str | None] = _enum_column(LotteryResult)

    event: Mapped[Event] = relationship(back_populates="registrations")
    frame: Mapped[Frame] = relationship()
    member_person: Mapped[MemberPerson | None] = relationship()
    answers: Mapped[list[RegistrationAnswer]] = relationship(
        back_populates="registration", order_by="RegistrationAnswer.position"
    )
    companions: Mapped[list[RegistrationCompanion]] = relationship(
        back_populates="registration", order_by="RegistrationCompanion.position"
    )

    @property
    def is_active(self) -> bool:
        """It holds a seat, a place in line, or waits for the office's decision."""
        return self.status not in ENDED_STATUSES

    @property
    def is_pending(self) -> bool:
        return self.status == RegistrationStatus.pending


class RegistrationCompanion(Base):
    """同伴者: a person a registrant brings, in the same frame and on a seat of their
    own (counted in ``Registration.party_size``). Personal data: the purge blanks it."""

    __tablename__ = "registration_companion"
    __table_args__ = (UniqueConstraint("registration_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Looked up through the unique constraint, whose first column it is.
    registration_id: Mapped[int] = mapped_column(ForeignKey("registration.id"))
    #: 1..n in the order the registrant gave them.
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    #: Stored in hiragana, like every reading.
    name_kana: Mapped[str] = mapped_column(String(100))
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    registration: Mapped[Registration] = relationship(back_populates="companions")


class EventQuestion(Base):
    """A question of an event's registration form, in Japanese and English.

    A question that was answered is never deleted: removing it sets ``removed_at``
    (it leaves the form, its answers stay). Each answer keeps its own copy of the
    wording (``RegistrationAnswer``), so a later change never rewrites what someone
    answered. Every change goes through registration.questions, under the event lock.

    A question for one participation frame (``frame_id``) is asked only of people who
    sign up for that frame; NULL asks everyone (``applies_to``).
    """

    __tablename__ = "event_question"
    __table_args__ = (Index("ix_event_question_event_position", "event_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    #: The frame (of the same event) whose registrants it asks; None: everyone.
    frame_id: Mapped[int | None] = mapped_column(ForeignKey("participation_frame.id"))
    kind: Mapped[str] = _enum_column(QuestionKind)
    label_ja: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200), default="")
    help_ja: Mapped[str] = mapped_column(String(500), default="")
    help_en: Mapped[str] = mapped_column(String(500), default="")
    #: For the choice kinds: [{"key": "1", "ja": ..., "en": ...}] in display order; the
    #: form sends the keys.
    choices: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    is_required: Mapped[bool] = mapped_column(Boolean, default=False)
    #: 1..n among the questions not removed.
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    frame: Mapped[Frame | None] = relationship()

    @property
    def question_kind(self) -> QuestionKind:
        return QuestionKind(self.kind)

    def applies_to(self, frame_id: int | None) -> bool:
        """Whether someone signing up for ``frame_id`` is asked it (None: no frame
        chosen, so only the questions for everyone)."""
        return self.frame_id is None or self.frame_id == frame_id

    def choice_by_key(self) -> dict[str, dict[str, str]]:
        return {choice["key"]: choice for choice in self.choices or []}


class RegistrationAnswer(Base):
    """One registrant's answer to one question, with the question's wording (and the
    chosen choices' wording) as it was when they answered. Personal data: the purge
    deletes it."""

    __tablename__ = "registration_answer"
    __table_args__ = (UniqueConstraint("registration_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Looked up through the unique constraint, whose first column it is.
    registration_id: Mapped[int] = mapped_column(ForeignKey("registration.id"))
    question_id: Mapped[int] = mapped_column(ForeignKey("event_question.id"), index=True)
    #: The question's place on the form when answered (the order answers are shown in).
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = _enum_column(QuestionKind)
    label_ja: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200), default="")
    #: What was sent: the text, "yes" for an agreement, the chosen keys one per line.
    value: Mapped[str] = mapped_column(Text, default="")
    #: The chosen choices as worded then: [{"key", "ja", "en"}].
    choices: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    registration: Mapped[Registration] = relationship(back_populates="answers")


class LotteryDraw(Base):
    """The draw of one lottery frame, kept so that anyone can recompute it
    (registration.lottery: the algorithm and the entry list's canonical form).

    One per frame (unique), written in the draw's transaction under the event lock,
    with the frame's ``drawn_at`` and an audit entry holding the seed and the digest.
    """

    __tablename__ = "lottery_draw"

    id: Mapped[int] = mapped_column(primary_key=True)
    frame_id: Mapped[int] = mapped_column(ForeignKey("participation_frame.id"), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Who pressed 「抽選する」; None for the ``draw-lotteries`` command.
    organizer_id: Mapped[int | None] = mapped_column(ForeignKey("organizer.id"))
    #: The seed in hex: 32 bytes from ``secrets``.
    seed: Mapped[str] = mapped_column(String(64))
    #: SHA-256 (hex) of the entry list in its canonical form.
    entries_sha256: Mapped[str] = mapped_column(String(64))
    #: The entry list in its canonical form (ids and normalised addresses). Personal
    #: data: the purge empties it; ``entry_ids`` and ``drawn_ids`` stay.
    entry_list: Mapped[str] = mapped_column(Text, default="")
    #: The entries' registration ids, ascending: what the generator shuffled.
    entry_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    #: The same ids in drawn order: the first ``seats`` won, the rest wait in this order.
    drawn_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    #: The frame's free seats at the draw.
    seats: Mapped[int] = mapped_column(Integer)

    frame: Mapped[Frame] = relationship()
    organizer: Mapped[Organizer | None] = relationship()

    @property
    def winner_ids(self) -> list[int]:
        return self.drawn_ids[: self.seats]

    @property
    def waiting_ids(self) -> list[int]:
        return self.drawn_ids[self.seats :]


class OutboxMessage(Base):
    """An email waiting to be sent, written in the same transaction as the change
    it announces, so a crash or an SMTP outage never loses it."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: confirmation, waitlisted, promoted, cancelled, reminder, event_changed, ...
    kind: Mapped[str] = mapped_column(String(32))
    #: Set where a message must never be queued twice (e.g. "reminder:42").
    dedupe_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registration.id"))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    #: [{"filename", "content_type", "data"}] with text data (iCalendar).
    attachments: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    #: For a message rendered when it is sent rather than when it is queued: the
    #: renderer's name and its arguments, {"renderer": ..., "args": {...}} (body_text,
    #: body_html and attachments stay empty). See mail.messages.register_renderer.
    render_when_sent: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = _enum_column(OutboxStatus, default=OutboxStatus.queued)
    #: Tries that reached this message's own transaction (counted against MAIL_MAX_ATTEMPTS).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Times it was put back because the mail server or the session failed (refused,
    #: timeout, 421, 535, TLS): never counted against the limit, only sets the backoff.
    deferrals: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: A worker that claimed the message owns it until then.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    registration: Mapped[Registration | None] = relationship()
    event: Mapped[Event | None] = relationship()


class Organizer(Base):
    __tablename__ = "organizer"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = _enum_column(OrganizerRole, default=OrganizerRole.organizer)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Part of every login session's and remember cookie's identity; raised by logout, a
    #: password change, disabling and a role change, which ends all the other sessions.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def is_admin(self) -> bool:
        return self.role == OrganizerRole.admin


class LoginThrottle(Base):
    """Failed logins for one typed address from one network address, and until when
    the next try must wait. ``key`` is an HMAC of both, so the table holds neither."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Member(Base):
    """A company (corporate) or a person (individual) in the association's member list.
    A withdrawn member keeps its row, its people and its history."""

    __tablename__ = "member"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 会員番号, as the office writes it.
    number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = _enum_column(MemberKind)
    name: Mapped[str] = mapped_column(String(200))
    #: Stored in hiragana so the list sorts in 五十音順.
    name_kana: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = _enum_column(MemberStatus, default=MemberStatus.active)
    joined_on: Mapped[date | None] = mapped_column(Date)
    #: The office's private note; never shown to the member.
    note: Mapped[str] = mapped_column(Text, default="")
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    people: Mapped[list[MemberPerson]] = relationship(
        back_populates="member", order_by="MemberPerson.id"
    )

    @property
    def is_active(self) -> bool:
        return self.status == MemberStatus.active

    @property
    def current_people(self) -> list[MemberPerson]:
        return [person for person in self.people if person.removed_at is None]


class MemberPerson(Base):
    """A contact person of a member (an individual member has exactly one)."""

    __tablename__ = "member_person"
    __table_args__ = (
        # An address belongs to at most one person of the active members, so a sign-in
        # link is never ambiguous; enforced by the database too.
        Index(
            "uq_member_person_active_email",
            "email_normalized",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    #: Stored in hiragana, like every reading.
    name_kana: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    #: Lower-cased address for the one-person-per-address rule and for sign-in.
    email_normalized: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(30), default="")
    department: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str] = mapped_column(String(100), default="")
    #: Kept equal to "the member is active and this person was not removed" by
    #: members.services; the unique index above reads it.
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Part of a member session's identity; raised to end this person's sessions.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Private calendar feeds: a random salt from which the URL's token is derived with
    #: the secret key (so My page can show it again), and the token's SHA-256 for the
    #: lookup. Renewing draws a new salt. None until the feed is first shown.
    members_feed_salt: Mapped[str | None] = mapped_column(String(32))
    members_feed_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    my_feed_salt: Mapped[str | None] = mapped_column(String(32))
    my_feed_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    personal_data_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    member: Mapped[Member] = relationship(back_populates="people")


class MemberLoginToken(Base):
    """A single-use sign-in link sent by email; only the token's SHA-256 is kept."""

    __tablename__ = "member_login_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("member_person.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    person: Mapped[MemberPerson] = relationship()


class AuditLogEntry(Base):
    """Who changed what and when, with the values before and after."""

    __tablename__ = "audit_log_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    organizer_id: Mapped[int | None] = mapped_column(ForeignKey("organizer.id"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(Integer)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), index=True)
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organizer: Mapped[Organizer | None] = relationship()


class MemberImport(Base):
    """A member-list file uploaded for import, kept between its preview and the import
    (the console runs in several processes, so it cannot wait in one's memory). The
    bytes are emptied once imported; an upload never imported is deleted after a day."""

    __tablename__ = "member_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    organizer_id: Mapped[int] = mapped_column(ForeignKey("organizer.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    #: SHA-256 of ``content`` in hex: the preview page posts it back with the id.
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The counts of the import once applied (created, updated, unchanged).
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
