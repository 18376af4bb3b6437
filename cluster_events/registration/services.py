"""Registering, cancelling, promoting, moving between frames and the office's
approval: every rule about seats and the waiting lists.

An event's seats are in its participation frames (``Frame``): each frame has its own
capacity, counters and waiting list, and a registration holds a seat or a place in
line in one frame. Each public function runs in ``write_transaction()``: on its own it
commits, inside another service's transaction it joins it. Seats are counted and given
out under a lock on the event row (``write_transaction(lock_event=...)``, which reads
the frames with it): ``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on
PostgreSQL. Every change to an event's registrations takes that lock first, so each
frame's ``confirmed_count`` and ``waiting_count`` always equal its rows, the event's
equal their sums, and each frame's waiting positions run 1..waiting_parties without
gaps, whichever gunicorn worker or host does the work. Emails are queued in the same
transaction (the outbox) and sent after commit.

A registration is a party: the registrant and their companions (``party_size``
people, up to the frame's ``max_companions`` more). Counters count people; a party
takes all its seats or none (then it waits whole), and the waiting list is served
strictly in order: a party at its head that does not fit the seats left holds them,
and nobody behind it passes it (as in Indico and pretix; the office may give seats
out of turn, ``promote_registration``).

In a frame that needs approval a sign-up on the web waits as ``pending`` and holds
nothing until the office decides (``approve_registrations``, which seats it, or puts
it on the waiting list when the frame filled up meanwhile; ``decline_registrations``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import CTE, Table, Update, bindparam, or_, select, update
from sqlalchemy import insert as sa_insert
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
    RegistrationCompanion,
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


class AlreadyDeclined(Conflict):
    default_message = _l(
        "The office has declined this registration, so there is nothing to cancel or change."
    )


class EventAlreadyStarted(Conflict):
    default_message = _l(
        "The event has already started, so the registration can no longer be "
        "cancelled here. Please contact the office."
    )


class NotWaiting(Conflict):
    default_message = _l("Only a person on the waiting list can be given a seat.")


class NoSeatAvailable(Conflict):
    default_message = _l("No seat is free. Raise the capacity or cancel a seat first.")

    def __init__(self, people: int = 1) -> None:
        if people == 1:
            super().__init__()
        else:
            super().__init__(
                _l(
                    "This registration is for %(people)s people, and fewer seats are free. "
                    "Raise the capacity or cancel seats first.",
                    people=people,
                )
            )


class TooManyCompanions(ServiceError):
    """More companions than the chosen frame allows: the error stands beside the first
    companion too many."""

    def __init__(self, frame: Frame, companions: tuple[Companion, ...]) -> None:
        allowed = frame.max_companions
        if allowed == 0:
            message = _l(
                "Companions cannot be registered for this participation frame. Please leave "
                "them out, or ask each person to register separately."
            )
        else:
            message = _l(
                "You can bring at most %(count)s companions with this participation frame. "
                "Please leave out the others, or ask them to register separately.",
                count=allowed,
            )
        first_too_many = companions[allowed].row or allowed + 1
        super().__init__(field_errors={companion_field(first_too_many, "name"): message})


class NotPending(Conflict):
    """A decision for a registration that is not waiting for one."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(
            _l(
                "These registrations are not waiting for approval (cancelled, or already "
                "approved or declined), so nothing was changed: %(names)s. Please look at "
                "the list again.",
                names="、".join(names),
            )
        )


class NothingChosen(ServiceError):
    default_message = _l("Please tick at least one registration waiting for approval.")


LOTTERY_NOT_MOVED = _l(
    "Lottery entries stay in their frame until the draw, and nobody is moved into a lottery "
    "frame before it is drawn."
)


class TargetFrameFull(ServiceError):
    """A move to a frame with no free seat, without asking for its waiting list."""

    def __init__(self, frame: Frame, people: int = 1) -> None:
        if people == 1 and not frame.fits(1):
            message = _l(
                "%(frame)s has no free seat (%(confirmed)s of %(capacity)s taken). "
                "Raise its capacity first, or tick the box to put the person at the "
                "end of its waiting list.",
                frame=frame.name_ja,
                confirmed=frame.confirmed_count,
                capacity=frame.capacity,
            )
        else:
            message = _l(
                "%(frame)s cannot seat %(people)s people now (%(confirmed)s of %(capacity)s "
                "seats taken, %(waiting)s people waiting). Raise its capacity first, or tick "
                "the box to put the party at the end of its waiting list.",
                frame=frame.name_ja,
                people=people,
                confirmed=frame.confirmed_count,
                capacity=frame.capacity,
                waiting=frame.waiting_count,
            )
        super().__init__(field_errors={"frame": message})


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


#: Where the sign-up forms ask companions: fields companion_<n>_name and _kana.
MAX_COMPANIONS = 10


def companion_field(number: int, part: str) -> str:
    """The form field of companion ``number`` (1-based): ``part`` is name or kana."""
    return f"companion_{number}_{part}"


@dataclass(frozen=True)
class Companion:
    """同伴者 as the form gives them: name and reading (in hiragana)."""

    name: str
    name_kana: str
    #: The form's row it was typed in (1-based; 0: not from a form), for errors.
    row: int = 0


@dataclass(frozen=True)
class RegistrationDetails(ContactDetails):
    """What a person gives when registering, already normalised by the form."""

    remarks: str = ""
    locale: str = "ja"
    #: The people they bring, each taking a seat of the same frame.
    companions: tuple[Companion, ...] = ()

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
    party_size: int = 1

    @classmethod
    def of(cls, registration: Registration, created: bool) -> RegistrationOutcome:
        return cls(
            registration,
            created,
            tokens.personal_token(registration),
            registration.id,
            registration.status,
            registration.waiting_position,
            registration.party_size,
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
    """A registrant may cancel with the personal link until the event starts (a
    pending one: withdraw it)."""
    return registration.is_active and (now or utcnow()) < registration.event.starts_at


def _refuse_ended(registration: Registration) -> None:
    if registration.status == RegistrationStatus.declined:
        raise AlreadyDeclined()
    if registration.status == RegistrationStatus.cancelled:
        raise AlreadyCancelled()


def check_companions(frame: Frame, companions: tuple[Companion, ...]) -> None:
    """Refuse (TooManyCompanions) more companions than ``frame`` allows."""
    if len(companions) > frame.max_companions:
        raise TooManyCompanions(frame, companions)


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
    """Register one person and their companions in the frame of ``choice``: a seat for
    each while the frame has them and nobody waits, otherwise its waiting list, the
    party whole; in a frame that needs approval, a sign-up on the web is ``pending``
    (no seat, no place in line; the office's own sign-ups are its decision already).
    More companions than the frame allows are refused (``TooManyCompanions``, 400).

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
    written with one statement each (``insert_now``, ``_insert_counted``; on
    PostgreSQL the registration and the counts in one), not by the session's flush:
    this is the one write every visitor makes."""
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
        check_companions(frame, details.companions)
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
        _insert_counted(event, frame, registration, now)
        set_committed_value(registration, "event", event)
        set_committed_value(registration, "frame", frame)
        _insert_companions(registration, details.companions, now)
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
    registration.party_size = 1 + len(details.companions)
    if frame.takes_entries:
        registration.status = RegistrationStatus.entered
    elif frame.requires_approval and source == "web":
        registration.status = RegistrationStatus.pending
    elif frame.can_seat(registration.party_size):
        registration.status = RegistrationStatus.confirmed
        registration.confirmed_at = now
    else:
        registration.status = RegistrationStatus.waiting
        registration.waiting_position = frame.waiting_parties + 1
    return registration


def _insert_companions(
    registration: Registration, companions: tuple[Companion, ...], now: datetime
) -> None:
    """The companions of a registration just written: one INSERT for all, none without."""
    if not companions:
        return
    db.session.execute(
        sa_insert(RegistrationCompanion),
        [
            {
                "registration_id": registration.id,
                "position": position,
                "name": companion.name,
                "name_kana": companion.name_kana,
                "created_at": now,
            }
            for position, companion in enumerate(companions, start=1)
        ],
    )


def _counting(table: Table, key: str, columns: dict[str, str]) -> Update:
    """Add to ``columns`` of one row: {column: the parameter holding how much}."""
    values: dict[str, object] = {
        column: table.c[column] + bindparam(amount) for column, amount in columns.items()
    }
    return (
        update(table)
        .where(table.c.id == bindparam(key))
        .values({**values, "updated_at": bindparam("now")})
    )


@dataclass(frozen=True)
class _Counting:
    """What a new registration of one status adds to its frame's and its event's rows:
    the UPDATE of each, and its columns with the amount each adds; on PostgreSQL the
    two UPDATEs go with the registration's INSERT as data-modifying CTEs (``ctes``)."""

    frame_update: Update
    frame_columns: dict[str, str]
    event_update: Update
    event_columns: dict[str, str]
    ctes: tuple[CTE, ...]

    @classmethod
    def of(cls, frame_columns: dict[str, str], event_columns: dict[str, str]) -> _Counting:
        frame_update = _counting(Frame.__table__, "counted_frame_id", frame_columns)
        event_update = _counting(Event.__table__, "counted_event_id", event_columns)
        return cls(
            frame_update,
            frame_columns,
            event_update,
            event_columns,
            (frame_update.cte("counted_frame"), event_update.cte("counted_event")),
        )


_SEATS = {"confirmed_count": "people"}
_COUNTS = {
    RegistrationStatus.confirmed: _Counting.of(_SEATS, _SEATS),
    RegistrationStatus.waiting: _Counting.of(
        {"waiting_count": "people", "waiting_parties": "parties"}, {"waiting_count": "people"}
    ),
}


def _insert_counted(event: Event, frame: Frame, registration: Registration, now: datetime) -> None:
    """Write a new registration and count its people in its frame's and its event's
    locked rows, and in the loaded objects as if read again (``_confirm`` and
    ``_join_waiting_list`` do the same through the session for the other changes).
    On PostgreSQL the counting UPDATEs run in the INSERT's own statement (two round
    trips fewer for every sign-up); elsewhere one UPDATE each follows it. A pending
    registration and a lottery entry hold no seat and no place: no UPDATE. Not a
    change the calendars see: the flush hooks that note one are not needed."""
    counting = _COUNTS.get(RegistrationStatus(registration.status))
    if counting is None:
        insert_now(registration)
        return
    amounts = {
        "people": registration.party_size,
        "parties": 1,
        "now": now,
        "counted_frame_id": frame.id,
        "counted_event_id": event.id,
    }
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        insert_now(registration, counting.ctes, amounts)
    else:
        insert_now(registration)
        connection.execute(counting.frame_update, amounts)
        connection.execute(counting.event_update, amounts)
    for row, columns in ((frame, counting.frame_columns), (event, counting.event_columns)):
        for column, amount in columns.items():
            set_committed_value(row, column, getattr(row, column) + amounts[amount])
        set_committed_value(row, "updated_at", now)


def cancel_registration(
    registration_id: int,
    *,
    event_id: int | None = None,
    notify: bool = True,
    organizer_id: int | None = None,
    by_registrant: bool = False,
) -> Registration:
    """Cancel a registration (never delete it); a pending one is withdrawn. Freed seats
    go to the first parties waiting in its frame, in the same transaction, and they are
    told by email.

    ``notify`` concerns the receipt to the person cancelled (an organizer may
    cancel quietly); whoever is promoted is always told, or they would not come.
    With ``by_registrant`` (the personal link) cancelling stops when the event starts.
    ``event_id``, when given, must be the registration's event.
    """
    with write_transaction():
        registration = _locked_registration(registration_id, event_id)
        event = registration.event
        _refuse_ended(registration)
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
    """An organizer gives free seats of its frame to one party on the frame's waiting
    list, out of turn (all its people, or refused)."""
    with write_transaction():
        registration = _locked_registration(registration_id, event_id)
        event = registration.event
        if registration.status != RegistrationStatus.waiting:
            raise NotWaiting()
        if not registration.frame.fits(registration.party_size):
            raise NoSeatAvailable(registration.party_size)
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
    waiting parties in order while the first of them fits the free seats, close up the
    positions of those still waiting, and queue the email that tells each promoted
    person. Returns who was promoted. A seat is only ever given within its frame.

    The line is served strictly in order: a party that does not fit the seats left
    stops the promotions in its frame, and nobody behind it passes it.

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
    if frame.waiting_parties == 0:
        return []
    free = None if frame.capacity is None else frame.capacity - frame.confirmed_count
    if free is not None and free <= 0:
        return []
    session = db.session
    waiting = (
        select(Registration)
        .where(
            Registration.frame_id == frame.id,
            Registration.status == RegistrationStatus.waiting,
        )
        .order_by(Registration.waiting_position)
    )
    if free is not None:
        waiting = waiting.limit(free)  # each party is one person at least
    promoted: list[Registration] = []
    for registration in session.scalars(waiting):
        if free is not None:
            if registration.party_size > free:
                break
            free -= registration.party_size
        promoted.append(registration)
    if not promoted:
        return []
    people = sum(registration.party_size for registration in promoted)
    for registration in promoted:
        registration.waiting_position = None
        _confirm(registration, frame, now)
    frame.waiting_count -= people
    frame.waiting_parties -= len(promoted)
    frame.event.waiting_count -= people
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

    It takes seats in the target frame for its whole party when they are free and
    nobody waits there (someone who was waiting is told by email, as when promoted); a
    frame that cannot seat it refuses the move (``TargetFrameFull``, nothing changed)
    unless ``to_waiting_list``, which puts the party at the end of its waiting list.
    The seats or place it leaves go to the next party waiting in the old frame, as
    with a cancellation. A pending registration moves as it is, still waiting for the
    office's decision. A move to another frame skips that frame's own rules (members,
    codes, period, companions, approval), as the office's sign-ups do.
    """
    with write_transaction():
        registration = _locked_registration(registration_id, event_id)
        event = registration.event
        _refuse_ended(registration)
        target = event.frame_by_id(frame_id)
        if target is None:
            raise ServiceError(field_errors={"frame": frames.NOT_OFFERED})
        source = registration.frame
        if target.id == source.id:
            raise SameFrame()
        if registration.status == RegistrationStatus.entered or target.takes_entries:
            raise ServiceError(field_errors={"frame": LOTTERY_NOT_MOVED})
        people = registration.party_size
        was_waiting = registration.status == RegistrationStatus.waiting
        pending = registration.status == RegistrationStatus.pending
        seated = target.can_seat(people)
        if not pending and not seated and not to_waiting_list:
            raise TargetFrameFull(target, people)
        before = _frame_place(registration)
        now = utcnow()
        if was_waiting:
            _leave_waiting_list(registration)
        elif not pending:
            _give_up_seat(registration)
        registration.frame = target
        if not pending and seated:
            if was_waiting:
                _confirm(registration, target, now)
            else:
                target.confirmed_count += people
                event.confirmed_count += people
        elif not pending:
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


# The office's decision (承認制) -----------------------------------------------------------


def approve_registrations(
    event_id: int,
    registration_ids: list[int],
    *,
    organizer_id: int | None,
    now: datetime | None = None,
) -> list[Registration]:
    """Approve pending registrations of the event, all or none, under the event lock:
    each takes its party's seats in its frame if they are free and nobody waits there,
    otherwise (the frame filled up meanwhile) it goes to the end of the frame's waiting
    list. Earlier sign-ups are seated first. Each person is told by email, and each
    decision is audited.

    A registration that is not pending (cancelled, withdrawn, already decided) refuses
    the whole batch (``NotPending``, 409); an id of another event is not found."""
    now = now or utcnow()
    with write_transaction(lock_event=event_id) as event:
        assert event is not None
        registrations = pending_for_decision(event_id, registration_ids)
        for registration in registrations:
            registration.decided_at = now
            if registration.frame.can_seat(registration.party_size):
                _confirm(registration, registration.frame, now)
            else:
                _join_waiting_list(registration, registration.frame)
            _audit_decision("registration.approve", registration, organizer_id)
            notifications.queue_approved(registration)
        db.session.flush()
    return registrations


def decline_registrations(
    event_id: int,
    registration_ids: list[int],
    *,
    organizer_id: int | None,
    now: datetime | None = None,
) -> list[Registration]:
    """Decline pending registrations of the event, all or none (the same refusals as
    ``approve_registrations``): each is told by email, and audited. A declined
    registration holds nothing, and keeps its address for the event."""
    now = now or utcnow()
    with write_transaction(lock_event=event_id):
        registrations = pending_for_decision(event_id, registration_ids)
        for registration in registrations:
            registration.status = RegistrationStatus.declined
            registration.decided_at = now
            _audit_decision("registration.decline", registration, organizer_id)
            notifications.queue_declined(registration)
        db.session.flush()
    return registrations


def pending_for_decision(event_id: int, registration_ids: list[int]) -> list[Registration]:
    """These registrations of the event, read afresh, in the order they were made;
    refused unless every one is pending (``NothingChosen``, ``NotPending``; an id of
    another event: ``RegistrationNotFound``). The decisions call it under the event
    lock; the console's confirmation step before declining, to show whom."""
    wanted = set(registration_ids)
    if not wanted:
        raise NothingChosen()
    registrations = list(
        db.session.scalars(
            select(Registration)
            .where(Registration.id.in_(wanted), Registration.event_id == event_id)
            .order_by(Registration.created_at, Registration.id)
            .execution_options(populate_existing=True)
        )
    )
    if len(registrations) != len(wanted):
        raise RegistrationNotFound()
    undecidable = [r.name for r in registrations if r.status != RegistrationStatus.pending]
    if undecidable:
        raise NotPending(undecidable)
    return registrations


def _audit_decision(action: str, registration: Registration, organizer_id: int | None) -> None:
    audit.record_change(
        action,
        "registration",
        registration.id,
        event_id=registration.event_id,
        before={"status": RegistrationStatus.pending},
        after={
            "status": registration.status,
            "waiting_position": registration.waiting_position,
            "party_size": registration.party_size,
        },
        organizer_id=organizer_id,
    )


def _confirm(registration: Registration, frame: Frame, now: datetime) -> None:
    registration.status = RegistrationStatus.confirmed
    registration.confirmed_at = now
    frame.confirmed_count += registration.party_size
    frame.event.confirmed_count += registration.party_size


def _give_up_seat(registration: Registration) -> None:
    registration.frame.confirmed_count -= registration.party_size
    registration.event.confirmed_count -= registration.party_size


def _join_waiting_list(registration: Registration, frame: Frame) -> None:
    registration.status = RegistrationStatus.waiting
    frame.waiting_count += registration.party_size
    frame.waiting_parties += 1
    frame.event.waiting_count += registration.party_size
    registration.waiting_position = frame.waiting_parties


def _leave_waiting_list(registration: Registration) -> None:
    """Take a waiting party off their frame's list and move everyone behind them up."""
    frame = registration.frame
    position = registration.waiting_position
    registration.waiting_position = None
    frame.waiting_count -= registration.party_size
    frame.waiting_parties -= 1
    registration.event.waiting_count -= registration.party_size
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
