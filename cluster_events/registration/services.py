"""Registering, cancelling, promoting and moving between frames: every rule about
seats and the waiting lists.

An event's seats are in its participation frames (``Frame``): each frame has its own
capacity, counters and waiting list, and a registration holds a seat or a place in
line in one frame. Each public function runs in ``write_transaction()``: on its own it
commits, inside another service's transaction it joins it. Seats are counted and given
out under a lock on the event row (``write_transaction(lock_event=...)``, which reads
the frames with it): ``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on
PostgreSQL. Every change to an event's registrations takes that lock first, so each
frame's ``confirmed_count`` and ``waiting_count`` always equal its rows, the event's
equal their sums, and each frame's waiting positions run 1..waiting_count without
gaps, whichever gunicorn worker or host does the work. Emails are queued in the same
transaction (the outbox) and sent after commit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import Table, Update, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from cluster_events import audit
from cluster_events.database import utcnow
from cluster_events.errors import Conflict, NotFound, ServiceError
from cluster_events.extensions import db
from cluster_events.models import (
    Event,
    Frame,
    InvitationCode,
    MemberLink,
    MemberPerson,
    MemberType,
    Registration,
    RegistrationStatus,
)
from cluster_events.registration import answers as answer_rules
from cluster_events.registration import frames, notifications, tokens
from cluster_events.registration.answers import AnswerSet, QuestionsChanged
from cluster_events.registration.labels import CONTACT_FIELDS
from cluster_events.registration.queries import ACTIVE_PERSON_ID_BY_EMAIL, active_person_by_email
from cluster_events.registration.status import (
    RegistrationState,
    can_register,
    registration_state,
)
from cluster_events.text import InvalidEmailAddress, normalise_email_address
from cluster_events.transactions import (
    EventNotFound,
    in_write_transaction,
    insert_now,
    lock_event_row,
    lock_event_statement,
    write_transaction,
)

__all__ = ["EventNotFound", "QuestionsChanged"]  # raised here too


class RegistrationNotFound(NotFound):
    default_message = _l("This registration could not be found.")


class RegistrationNotOpen(Conflict):
    def __init__(self, state: RegistrationState) -> None:
        self.state = state
        super().__init__(_not_open_message(state))


class AlreadyCancelled(Conflict):
    default_message = _l("This registration has already been cancelled.")


class EventAlreadyStarted(Conflict):
    default_message = _l(
        "The event has already started, so the registration can no longer be "
        "cancelled here. Please contact the office."
    )


class NotWaiting(Conflict):
    default_message = _l("Only a person on the waiting list can be given a seat.")


class NoSeatAvailable(Conflict):
    default_message = _l("No seat is free. Raise the capacity or cancel a seat first.")


LOTTERY_NOT_MOVED = _l(
    "Lottery entries stay in their frame until the draw, and nobody is moved into a lottery "
    "frame before it is drawn."
)


class TargetFrameFull(ServiceError):
    """A move to a frame with no free seat, without asking for its waiting list."""

    def __init__(self, frame: Frame) -> None:
        super().__init__(
            field_errors={
                "frame": _l(
                    "%(frame)s has no free seat (%(confirmed)s of %(capacity)s taken). "
                    "Raise its capacity first, or tick the box to put the person at the "
                    "end of its waiting list.",
                    frame=frame.name_ja,
                    confirmed=frame.confirmed_count,
                    capacity=frame.capacity,
                )
            }
        )


class SameFrame(ServiceError):
    default_message = _l("The registration is already in this participation frame.")

    def __init__(self) -> None:
        super().__init__(field_errors={"frame": self.default_message})


class AlreadyEntered(ServiceError):
    """A second entry for an event with a lottery: one per address and one per member's
    person. Shown beside the address (400, as every form error); the existing entry's
    personal link is emailed to its address again (``register``)."""

    def __init__(
        self, registration_id: int, *, same_person: bool = False, link_sent: bool = True
    ) -> None:
        self.registration_id = registration_id
        self.same_person = same_person
        first = (
            _l("You have already entered this event's lottery as a member.")
            if same_person
            else _l("This email address has already been used to enter this event's lottery.")
        )
        rest = (
            _l(
                "Only one entry per person is accepted, so this entry was not made. We have "
                "emailed the personal link of the first entry to its address again: with "
                "it, the entry can be checked or withdrawn."
            )
            if link_sent
            else _l("Only one entry per person is accepted, so this entry was not made.")
        )
        super().__init__(field_errors={"email": f"{first} {rest}"})


class MembersOnlyEvent(ServiceError):
    """A sign-up for a members-only event from someone not signed in as a member."""

    http_status = 403
    default_message = _l("This event is for members only. Members, please sign in to register.")


class MemberSignInEnded(ServiceError):
    """The member session named a person who is no longer a current member's."""

    http_status = 403
    default_message = _l(
        "Your member sign-in is no longer valid. Please sign in again, or contact the office."
    )


def _not_open_message(state: RegistrationState) -> LazyString:
    messages = {
        RegistrationState.not_yet_open: _l("Registration for this event has not opened yet."),
        RegistrationState.closed: _l("Registration for this event has closed."),
        RegistrationState.cancelled: _l("This event has been cancelled."),
        RegistrationState.not_accepting: _l(
            "This event does not take registrations on this site. "
            "Please contact the office for details."
        ),
        RegistrationState.draft: _l("This event could not be found."),
    }
    return messages.get(state, _l("Registration for this event is not open."))


@dataclass(frozen=True)
class ContactDetails:
    """Who a registrant is and how to reach them, already normalised by the form; the
    office may correct these later (``registration.attendees.update_contact``)."""

    name: str
    name_kana: str
    email: str
    organization: str = ""
    job_title: str = ""
    phone: str = ""
    member_type: str = MemberType.general.value


@dataclass(frozen=True)
class RegistrationDetails(ContactDetails):
    """What a person gives when registering, already normalised by the form."""

    remarks: str = ""
    locale: str = "ja"

    @property
    def email_normalized(self) -> str:
        return self.email.lower()


@dataclass
class RegistrationOutcome:
    registration: Registration
    #: False when the address already had an active registration (nothing was queued).
    created: bool
    #: The personal link's token (never stored; derived again from the salt when needed).
    token: str | None
    #: The registration as it was committed (``registration`` itself is expired by the
    #: commit: reading these from it would read the row again).
    registration_id: int = 0
    status: str = ""
    waiting_position: int | None = None

    @classmethod
    def of(cls, registration: Registration, created: bool) -> RegistrationOutcome:
        return cls(
            registration,
            created,
            tokens.personal_token(registration),
            registration.id,
            registration.status,
            registration.waiting_position,
        )


#: The public form and the services refuse an address with the same words.
INVALID_EMAIL_MESSAGE = _l("Please enter a valid email address, for example taro@example.jp.")


def checked_email(email: str) -> str:
    """The address in the form it is stored in (so the To header is always valid), or a
    refusal for the email field."""
    try:
        return normalise_email_address(email)
    except InvalidEmailAddress as error:
        raise ServiceError(field_errors={"email": INVALID_EMAIL_MESSAGE}) from error


def ensure_registration_open(event: Event, now: datetime | None = None) -> None:
    """Raise RegistrationNotOpen unless the public may sign up for ``event`` now."""
    state = registration_state(event, now)
    if not can_register(state):
        raise RegistrationNotOpen(state)


def ensure_may_sign_up(event: Event, signed_in_member: bool) -> None:
    """Raise MembersOnlyEvent unless this visitor may sign up for ``event`` on the web:
    a members-only event takes sign-ups from signed-in members only."""
    if event.is_members_only and not signed_in_member:
        raise MembersOnlyEvent()


def can_cancel_online(registration: Registration, now: datetime | None = None) -> bool:
    """A registrant may cancel with the personal link until the event starts."""
    return registration.is_active and (now or utcnow()) < registration.event.starts_at


@dataclass(frozen=True)
class FrameChoice:
    """Which frame a sign-up asks for (None: the event's only frame), and the
    invitation code typed for it."""

    frame_id: int | None = None
    invitation_code: str = ""


def register(
    event_id: int | None,
    details: RegistrationDetails,
    *,
    event_slug: str | None = None,
    member_person_id: int | None = None,
    source: str = "web",
    notify: bool = True,
    now: datetime | None = None,
    organizer_id: int | None = None,
    answers: AnswerSet | None = None,
    choice: FrameChoice | None = None,
) -> RegistrationOutcome:
    """Register one person in the frame of ``choice``: a seat while the frame has seats,
    otherwise its waiting list.

    On the web the frame must be one the visitor may take now (``registration.frames``:
    members' frames for signed-in members, invitation frames with a code that has a use
    left, and open): otherwise a field error (400) and nothing is written, unless the
    address already has a registration for the event, which is returned as below.

    The event is ``event_id``, or, from the public form, the published or cancelled
    event ``event_slug`` (found and locked in one query; a draft or an unknown slug is
    ``EventNotFound``).

    ``member_person_id`` is the signed-in member's person (the view passes it): the
    registration is linked to them (``MemberLink.verified``) with their address and
    their membership's type, whatever the form said. Otherwise an address of a person
    of an active member links the registration too (``MemberLink.matched``), also with
    the membership's type. Only a signed-in member may sign up for a members-only event
    on the web (``MembersOnlyEvent``, 403).

    ``organizer_id`` (a sign-up entered by the office) is written to the audit log in
    the same transaction.

    ``answers`` are the answers to the event's questions (``answers.checked_answers``),
    written in the same transaction by one statement after the registration.
    They must answer the questions as they are under the lock, as asked of the chosen
    frame (``QuestionsChanged``, 409, otherwise); a sign-up on the web for an event
    with questions must bring them.

    An address that already has an active registration for the event gets that
    registration back (``created=False``) and nothing is queued (a signed-in member's
    own registration is marked verified). Organizers (``source="organizer"``) may add
    people outside the public sign-up period and to members-only events, but not to a
    cancelled event.
    """
    now = now or utcnow()
    details = replace(details, email=checked_email(details.email))
    event = _EventKey(event_id, event_slug)
    choice = choice or FrameChoice()
    arguments = (
        event,
        details,
        member_person_id,
        source,
        notify,
        now,
        organizer_id,
        answers,
        choice,
    )
    try:
        return _register_once(arguments, event, details)
    except AlreadyEntered as refusal:
        if source != "web":
            raise AlreadyEntered(
                refusal.registration_id, same_person=refusal.same_person, link_sent=False
            ) from None
        if not in_write_transaction():
            resend_personal_link(refusal.registration_id)
        raise


def _register_once(
    arguments: tuple, event: _EventKey, details: RegistrationDetails
) -> RegistrationOutcome:
    if not in_write_transaction():
        try:
            # Most sign-ups are a new address: the partial unique index on active
            # addresses is the check, and saves a query. (Inside another service's
            # transaction a refusal would undo that one too: look first there.)
            return _register(*arguments, find_existing=False)
        except IntegrityError:
            pass  # the address has an active registration: look for it under the lock
    try:
        return _register(*arguments, find_existing=True)
    except IntegrityError:
        # Someone else's transaction made it meanwhile.
        existing = _active_registration(event.id(), details.email_normalized)
        if existing is None:
            raise
        if existing.status == RegistrationStatus.entered:
            raise AlreadyEntered(existing.id) from None
        return RegistrationOutcome.of(existing, False)


@dataclass(frozen=True)
class _EventKey:
    """An event by id, or the listed event with a slug (the public form)."""

    event_id: int | None
    slug: str | None

    def lock_for_sign_up(self, email_normalized: str) -> tuple[Event, int | None]:
        """Lock the event (the first statement of the transaction) and learn in the same
        query the id of the active member's person with this address, if any."""
        if self.event_id is not None:
            values = {"event_id": self.event_id, "email_normalized": email_normalized}
            row = lock_event_row(_LOCK_FOR_SIGN_UP_BY_ID, values)
        else:
            values = {"slug": self.slug, "email_normalized": email_normalized}
            row = lock_event_row(_LOCK_FOR_SIGN_UP_BY_SLUG, values)
        return row[0], row[1]

    def id(self) -> int:
        if self.event_id is not None:
            return self.event_id
        found = db.session.scalar(select(Event.id).where(Event.slug == self.slug))
        if found is None:
            raise EventNotFound()
        return found


_LOCK_FOR_SIGN_UP_BY_ID = lock_event_statement(ACTIVE_PERSON_ID_BY_EMAIL)
_LOCK_FOR_SIGN_UP_BY_SLUG = lock_event_statement(ACTIVE_PERSON_ID_BY_EMAIL, slug=True)


def _register(
    event_key: _EventKey,
    details: RegistrationDetails,
    member_person_id: int | None,
    source: str,
    notify: bool,
    now: datetime,
    organizer_id: int | None,
    answers: AnswerSet | None,
    choice: FrameChoice,
    *,
    find_existing: bool,
) -> RegistrationOutcome:
    """``register`` in one transaction. Without ``find_existing`` an address that has an
    active registration fails at the unique index (IntegrityError, nothing written).

    A new registration, its email and the seat counts (its frame's, its event's) are
    written with one statement each (``insert_now``, ``_count_in``), not by the
    session's flush: this is the one write every visitor makes."""
    with write_transaction():
        event, matched_person_id = event_key.lock_for_sign_up(details.email_normalized)
        person = _signed_in_person(member_person_id)
        code: InvitationCode | None = None
        if source == "web":
            ensure_may_sign_up(event, person is not None)
            ensure_registration_open(event, now)
            try:
                frame = frames.chosen_frame(event, choice.frame_id)
                code = frames.check_frame(
                    event,
                    frame,
                    signed_in_member=person is not None,
                    code=choice.invitation_code,
                    now=now,
                )
            except frames.FrameRefused:
                # A second submit (or a used code's owner) is shown their registration.
                existing = _active_registration(event.id, _address(details, person))
                if existing is None:
                    raise
                return RegistrationOutcome.of(existing, False)
        else:
            if event.is_cancelled:
                raise RegistrationNotOpen(RegistrationState.cancelled)
            frame = frames.chosen_frame(event, choice.frame_id)
        answer_rules.ensure_current(event, answers, frame, required=source == "web")
        link = MemberLink.verified
        if person is None:
            link = MemberLink.matched
            if matched_person_id is not None:
                person = active_person_by_email(details.email_normalized)
        if link == MemberLink.verified and person is not None:
            details = replace(details, email=person.email)
        existing = (
            _active_registration(event.id, details.email_normalized) if find_existing else None
        )
        if frame.takes_entries or (
            existing is not None and existing.status == RegistrationStatus.entered
        ):
            _ensure_first_entry(event, existing, person)
        if existing is not None:
            if link == MemberLink.verified and person is not None:
                _link(existing, person, link)
            return RegistrationOutcome.of(existing, False)
        registration = _new_registration(event, frame, details, source, now)
        if code is not None:
            registration.invitation_code_id = code.id
        if person is not None:
            _link(registration, person, link)
        insert_now(registration)
        set_committed_value(registration, "event", event)
        set_committed_value(registration, "frame", frame)
        _count_in(event, frame, registration, now)
        if notify:
            for message in notifications.queue_registration_received(registration):
                insert_now(message)
        if organizer_id is not None:
            _audit_added(registration, notify, organizer_id)
        answer_rules.insert(registration, answers)
        return RegistrationOutcome.of(registration, True)


#: The personal link is sent again at most this often per registration.
LINK_RESEND_INTERVAL = timedelta(hours=1)


def resend_personal_link(registration_id: int, now: datetime | None = None) -> bool:
    """Queue the personal link again for an active registration, at most once per
    LINK_RESEND_INTERVAL; True when an email was queued.

    For a second sign-up with the same address from another browser: whoever typed
    the address learns nothing, and the real owner, who may have lost the first email,
    gets back in. The time is claimed by one conditional UPDATE, so two requests at
    once (any worker) queue one email."""
    now = now or utcnow()
    with write_transaction():
        claimed = db.session.execute(
            update(Registration)
            .where(
                Registration.id == registration_id,
                Registration.status != RegistrationStatus.cancelled,
                Registration.personal_data_purged_at.is_(None),
                or_(
                    Registration.link_resent_at.is_(None),
                    Registration.link_resent_at <= now - LINK_RESEND_INTERVAL,
                ),
            )
            .values(link_resent_at=now, updated_at=Registration.updated_at)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            return False
        registration = db.session.get(Registration, registration_id, populate_existing=True)
        assert registration is not None
        notifications.queue_personal_link(registration)
    return True


def _audit_added(registration: Registration, notified: bool, organizer_id: int) -> None:
    if registration.id is None:
        db.session.flush()
    audit.record_change(
        "registration.add",
        "registration",
        registration.id,
        event_id=registration.event_id,
        after={
            **audit.snapshot(registration, CONTACT_FIELDS),
            "status": registration.status,
            "notify": notified,
        },
        organizer_id=organizer_id,
    )


def _ensure_first_entry(
    event: Event, existing: Registration | None, person: MemberPerson | None
) -> None:
    """A lottery takes one entry per address (``existing``: the address's active
    registration for the event, compared normalised, so letter case and full-width
    characters do not make another address) and one per member's person (whichever
    address their earlier registration has)."""
    if existing is not None:
        raise AlreadyEntered(existing.id)
    if person is None:
        return
    same_person = db.session.scalar(
        select(Registration.id)
        .where(
            Registration.event_id == event.id,
            Registration.member_person_id == person.id,
            Registration.status != RegistrationStatus.cancelled,
        )
        .limit(1)
    )
    if same_person is not None:
        raise AlreadyEntered(same_person, same_person=True)


def _address(details: RegistrationDetails, person: MemberPerson | None) -> str:
    """The address a sign-up is made with: a signed-in member's own."""
    return person.email_normalized if person is not None else details.email_normalized


def _signed_in_person(person_id: int | None) -> MemberPerson | None:
    """The signed-in member's person, read again inside the transaction: one withdrawn
    or removed since the session was checked signs up as nobody (refused)."""
    if person_id is None:
        return None
    person = db.session.scalars(
        select(MemberPerson)
        .options(joinedload(MemberPerson.member))
        .where(MemberPerson.id == person_id)
        .execution_options(populate_existing=True)
    ).first()
    if (
        person is None
        or not person.is_active
        or person.removed_at is not None
        or not person.member.is_active
    ):
        raise MemberSignInEnded()
    return person


def _link(registration: Registration, person: MemberPerson, link: MemberLink) -> None:
    registration.member_person_id = person.id
    registration.member_link = link
    registration.member_type = person.member.kind


def relink_by_address(registration: Registration) -> None:
    """After the office changed an address: a registration that no signed-in member made
    is linked to the person with the new address, or to nobody. The member type stays
    what the office chose."""
    if registration.member_link == MemberLink.verified:
        return
    person = active_person_by_email(registration.email_normalized)
    registration.member_person_id = person.id if person is not None else None
    registration.member_link = MemberLink.matched if person is not None else MemberLink.none


def _active_registration(event_id: int, email_normalized: str) -> Registration | None:
    return db.session.scalar(
        select(Registration).where(
            Registration.event_id == event_id,
            Registration.email_normalized == email_normalized,
            Registration.status != RegistrationStatus.cancelled,
        )
    )


def _new_registration(
    event: Event, frame: Frame, details: RegistrationDetails, source: str, now: datetime
) -> Registration:
    salt = tokens.new_token_salt()
    registration = Registration(
        event_id=event.id,
        frame_id=frame.id,
        name=details.name,
        name_kana=details.name_kana,
        email=details.email,
        email_normalized=details.email_normalized,
        organization=details.organization,
        job_title=details.job_title,
        phone=details.phone,
        member_type=details.member_type,
        remarks=details.remarks,
        locale=details.locale,
        source=source,
        token_salt=salt,
        created_at=now,
    )
    registration.token_hash = tokens.hash_token(tokens.personal_token(registration))
    if frame.takes_entries:
        registration.status = RegistrationStatus.entered
    elif frame.has_free_seat:
        registration.status = RegistrationStatus.confirmed
        registration.confirmed_at = now
    else:
        registration.status = RegistrationStatus.waiting
        registration.waiting_position = frame.waiting_count + 1
    return registration


def _counting(table: Table, column: str, key: str) -> Update:
    return (
        update(table)
        .where(table.c.id == bindparam(key))
        .values({column: table.c[column] + 1, "updated_at": bindparam("now")})
    )


_COUNTS = {
    RegistrationStatus.confirmed: (
        _counting(Frame.__table__, "confirmed_count", "frame_id"),
        _counting(Event.__table__, "confirmed_count", "event_id"),
        "confirmed_count",
    ),
    RegistrationStatus.waiting: (
        _counting(Frame.__table__, "waiting_count", "frame_id"),
        _counting(Event.__table__, "waiting_count", "event_id"),
        "waiting_count",
    ),
}


def _count_in(event: Event, frame: Frame, registration: Registration, now: datetime) -> None:
    """Count a new registration in its frame's and its event's locked rows, one UPDATE
    each, and in the loaded objects as if read again (``_confirm`` and
    ``_join_waiting_list`` do the same through the session for the other changes). Not
    a change the calendars see: the flush hooks that note one are not needed. A lottery
    entry holds no seat and no place: nothing is counted."""
    if registration.status == RegistrationStatus.entered:
        return
    frame_update, event_update, column = _COUNTS[RegistrationStatus(registration.status)]
    connection = db.session.connection()
    connection.execute(frame_update, {"frame_id": frame.id, "now": now})
    connection.execute(event_update, {"event_id": event.id, "now": now})
    for row in (frame, event):
        set_committed_value(row, column, getattr(row, column) + 1)
        set_committed_value(row, "updated_at", now)


def cancel_registration(
    registration_id: int,
    *,
    event_id: int | None = None,
    notify: bool = True,
    organizer_id: int | None = None,
    by_registrant: bool = False,
) -> Registration:
    """Cancel a registration (never delete it). A freed seat goes to the first
    person waiting in its frame, in the same transaction, and they are told by email.

    ``notify`` concerns the receipt to the person cancelled (an organizer may
    cancel quietly); whoever is promoted is always told, or they would not come.
    With ``by_registrant`` (the personal link) cancelling stops when the event starts.
    ``event_id``, when given, must be the registration's event.
    """
    with write_transaction():
        registration = _locked_registration(registration_id, event_id)
        event = registration.event
        if registration.status == RegistrationStatus.cancelled:
            raise AlreadyCancelled()
        if by_registrant and not can_cancel_online(registration):
            raise EventAlreadyStarted()
        before = registration.status
        now = utcnow()
        if before == RegistrationStatus.confirmed:
            _give_up_seat(registration)
        elif before == RegistrationStatus.waiting:
            _leave_waiting_list(registration)
        registration.status = RegistrationStatus.cancelled
        registration.cancelled_at = now
        if organizer_id is not None:
            audit.record_change(
                "registration.cancel",
                "registration",
                registration.id,
                event_id=event.id,
                before={"status": before},
                after={"status": registration.status},
                organizer_id=organizer_id,
            )
        if notify:
            notifications.queue_cancellation_receipt(registration)
        fill_seats(event, now=now)
    return registration


def promote_registration(
    registration_id: int,
    *,
    event_id: int | None = None,
    notify: bool = True,
    organizer_id: int | None = None,
) -> Registration:
    """An organizer gives a free seat of its frame to one person on the frame's waiting
    list, out of turn."""
    with write_transaction():
        registration = _locked_registration(registration_id, event_id)
        event = registration.event
        if registration.status != RegistrationStatus.waiting:
            raise NotWaiting()
        if not registration.frame.has_free_seat:
            raise NoSeatAvailable()
        position = registration.waiting_position
        _leave_waiting_list(registration)
        _confirm(registration, registration.frame, utcnow())
        if organizer_id is not None:
            audit.record_change(
                "registration.promote",
                "registration",
                registration.id,
                event_id=event.id,
                before={"status": RegistrationStatus.waiting, "waiting_position": position},
                after={"status": registration.status},
                organizer_id=organizer_id,
            )
        if notify:
            notifications.queue_promoted(registration)
    return registration


def fill_seats(event: Event, *, now: datetime | None = None) -> list[Registration]:
    """Inside a transaction that locked ``event``: in each of its frames, promote
    waiting people in order while the frame has free seats, close up the positions of
    those still waiting, and queue the email that tells each promoted person. Returns
    who was promoted. A seat is only ever given within its frame.

    Nobody is promoted for a cancelled event or once it has started: a seat that
    frees up at the door is the organizer's to give (``promote_registration``).
    """
    now = now or utcnow()
    if event.waiting_count == 0 or event.is_cancelled or event.starts_at <= now:
        return []
    promoted: list[Registration] = []
    for frame in event.frames:
        promoted += _fill_frame(frame, now)
    return promoted


def _fill_frame(frame: Frame, now: datetime) -> list[Registration]:
    if frame.waiting_count == 0:
        return []
    free = frame.waiting_count if frame.capacity is None else frame.capacity - frame.confirmed_count
    if free <= 0:
        return []
    session = db.session
    promoted = list(
        session.scalars(
            select(Registration)
            .where(
                Registration.frame_id == frame.id,
                Registration.status == RegistrationStatus.waiting,
            )
            .order_by(Registration.waiting_position)
            .limit(free)
        )
    )
    for registration in promoted:
        registration.waiting_position = None
        _confirm(registration, frame, now)
    frame.waiting_count -= len(promoted)
    frame.event.waiting_count -= len(promoted)
    session.flush()
    session.execute(
        update(Registration)
        .where(
            Registration.frame_id == frame.id,
            Registration.status == RegistrationStatus.waiting,
        )
        .values(waiting_position=Registration.waiting_position - len(promoted))
        .execution_options(synchronize_session="fetch")
    )
    for registration in promoted:
        notifications.queue_promoted(registration)
    return promoted


def move_to_frame(
    registration_id: int,
    frame_id: int,
    *,
    event_id: int,
    organizer_id: int,
    to_waiting_list: bool = False,
    notify: bool = True,
) -> Registration:
    """The office moves an active registration to another frame of its event, under
    the event lock, audited.

    It takes a seat in the target frame when one is free (someone who was waiting is
    told by email, as when promoted); a frame with no free seat refuses the move
    (``TargetFrameFull``, nothing changed) unless ``to_waiting_list``, which puts them
    at the end of its waiting list. The seat or place it leaves goes to the next
    person waiting in the old frame, as with a cancellation. A move to another frame
    skips that frame's own rules (members, codes, period), as the office's sign-ups do.
    """
    with write_transaction():
        registration = _locked_registration(registration_id, event_id)
        event = registration.event
        if registration.status == RegistrationStatus.cancelled:
            raise AlreadyCancelled()
        target = event.frame_by_id(frame_id)
        if target is None:
            raise ServiceError(field_errors={"frame": frames.NOT_OFFERED})
        source = registration.frame
        if target.id == source.id:
            raise SameFrame()
        if registration.status == RegistrationStatus.entered or target.takes_entries:
            raise ServiceError(field_errors={"frame": LOTTERY_NOT_MOVED})
        was_waiting = registration.status == RegistrationStatus.waiting
        if not target.has_free_seat and not to_waiting_list:
            raise TargetFrameFull(target)
        before = _frame_place(registration)
        now = utcnow()
        if was_waiting:
            _leave_waiting_list(registration)
        else:
            _give_up_seat(registration)
        registration.frame = target
        if target.has_free_seat:
            if was_waiting:
                _confirm(registration, target, now)
            else:
                target.confirmed_count += 1
                event.confirmed_count += 1
        else:
            registration.status = RegistrationStatus.waiting
            registration.confirmed_at = None
            _join_waiting_list(registration, target)
        db.session.flush()
        audit.record_change(
            "registration.move_frame",
            "registration",
            registration.id,
            event_id=event.id,
            before=before,
            after=_frame_place(registration),
            organizer_id=organizer_id,
        )
        if notify and was_waiting and registration.status == RegistrationStatus.confirmed:
            notifications.queue_promoted(registration)
        fill_seats(event, now=now)
    return registration


def _frame_place(registration: Registration) -> dict[str, object]:
    return {
        "frame": registration.frame.name_ja,
        "status": registration.status,
        "waiting_position": registration.waiting_position,
    }


def _confirm(registration: Registration, frame: Frame, now: datetime) -> None:
    registration.status = RegistrationStatus.confirmed
    registration.confirmed_at = now
    frame.confirmed_count += 1
    frame.event.confirmed_count += 1


def _give_up_seat(registration: Registration) -> None:
    registration.frame.confirmed_count -= 1
    registration.event.confirmed_count -= 1


def _join_waiting_list(registration: Registration, frame: Frame) -> None:
    registration.status = RegistrationStatus.waiting
    frame.waiting_count += 1
    frame.event.waiting_count += 1
    registration.waiting_position = frame.waiting_count


def _leave_waiting_list(registration: Registration) -> None:
    """Take a waiting person off their frame's list and move everyone behind them up."""
    frame = registration.frame
    position = registration.waiting_position
    registration.waiting_position = None
    frame.waiting_count -= 1
    registration.event.waiting_count -= 1
    db.session.flush()
    db.session.execute(
        update(Registration)
        .where(
            Registration.frame_id == frame.id,
            Registration.status == RegistrationStatus.waiting,
            Registration.waiting_position > position,
        )
        .values(waiting_position=Registration.waiting_position - 1)
        .execution_options(synchronize_session="fetch")
    )


def _locked_registration(registration_id: int, event_id: int | None) -> Registration:
    """Lock the registration's event, then read the registration afresh under that lock.
    With ``event_id``, a registration of another event is not found."""
    found_event_id = db.session.scalar(
        select(Registration.event_id).where(Registration.id == registration_id)
    )
    if found_event_id is None or (event_id is not None and found_event_id != event_id):
        raise RegistrationNotFound()
    with write_transaction(lock_event=found_event_id):
        registration = db.session.scalar(
            select(Registration)
            .where(Registration.id == registration_id)
            .execution_options(populate_existing=True)
        )
    if registration is None:
        raise RegistrationNotFound()
    return registration
