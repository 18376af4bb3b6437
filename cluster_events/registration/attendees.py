"""One event's attendee list as the office works on it: find, count, sort, correct
contact details, keep notes; and what the office knows of each registrant's membership
(signed in, matched by address, self-declared or none).

Seats and waiting positions are changed only by ``registration.services``
(register, cancel, promote); the functions here change what a registration says,
each in one audited transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from cluster_events.audit import record_change, snapshot
from cluster_events.errors import Conflict, NotFound
from cluster_events.extensions import db
from cluster_events.models import (
    MemberLink,
    MemberPerson,
    MemberType,
    Registration,
    RegistrationCompanion,
    RegistrationStatus,
)
from cluster_events.registration.labels import CONTACT_FIELDS
from cluster_events.registration.services import ContactDetails, checked_email, relink_by_address
from cluster_events.text import katakana_to_hiragana, normalise_input, reading_sort_key
from cluster_events.transactions import write_transaction


class RegistrationNotInEvent(NotFound):
    """A registration id taken from another event (or none at all)."""


class Membership(enum.StrEnum):
    """What the office knows of a registrant's membership."""

    #: Registered while signed in as a member (``MemberLink.verified``).
    verified = "verified"
    #: A public registration whose address is a member's person's (``MemberLink.matched``).
    matched = "matched"
    #: Ticked corporate or individual member on the form, not linked to the member list.
    declared = "declared"
    #: A non-member, not linked.
    general = "general"


def membership_of(registration: Registration) -> Membership:
    if registration.member_link == MemberLink.verified:
        return Membership.verified
    if registration.member_link == MemberLink.matched:
        return Membership.matched
    if registration.member_type != MemberType.general:
        return Membership.declared
    return Membership.general


def membership_labels() -> dict[str, str]:
    """The words for ``Membership``, in the current language (once per page or file)."""
    return {
        Membership.verified.value: _("Member (signed in)"),
        Membership.matched.value: _("Member (matched by email address)"),
        Membership.declared.value: _("Self-declared member (not checked)"),
        Membership.general.value: _("Non-member"),
    }


def _membership_clause(membership: Membership) -> Any:
    if membership == Membership.verified:
        return Registration.member_link == MemberLink.verified
    if membership == Membership.matched:
        return Registration.member_link == MemberLink.matched
    unlinked = Registration.member_link == MemberLink.none
    if membership == Membership.declared:
        return and_(unlinked, Registration.member_type != MemberType.general)
    return and_(unlinked, Registration.member_type == MemberType.general)


class SortOrder(enum.StrEnum):
    kana = "kana"
    registered = "registered"
    organization = "organization"


@dataclass(frozen=True)
class AttendeeFilter:
    """What the list shows: all of it comes from GET parameters (see the console's forms)."""

    query: str = ""
    status: RegistrationStatus | None = None
    member_type: MemberType | None = None
    membership: Membership | None = None
    #: Only this participation frame's registrations.
    frame_id: int | None = None
    sort: SortOrder = SortOrder.kana


@dataclass(frozen=True)
class AttendeeCounts:
    """People (registrants and their companions) per status, and who arrived."""

    confirmed: int = 0
    waiting: int = 0
    cancelled: int = 0
    checked_in: int = 0
    #: Waiting for the office's approval; declined by it.
    pending: int = 0
    declined: int = 0
    #: Lottery entries waiting for the draw.
    entered: int = 0


# Reading -------------------------------------------------------------------------------


def get_registration(event_id: int, registration_id: int) -> Registration:
    """A registration of this event only: an id taken from another event finds nothing."""
    registration = db.session.scalar(
        select(Registration).where(
            Registration.id == registration_id, Registration.event_id == event_id
        )
    )
    if registration is None:
        raise RegistrationNotInEvent(_("This registration does not belong to this event."))
    return registration


_COMPANIONS_ARRIVED = (
    select(func.count(RegistrationCompanion.checked_in_at))
    .where(RegistrationCompanion.registration_id == Registration.id)
    .correlate(Registration)
    .scalar_subquery()
)


def count_attendees(event_id: int) -> AttendeeCounts:
    """People per status (a registration counts its companions), in one query."""
    rows = db.session.execute(
        select(
            Registration.status,
            func.sum(Registration.party_size),
            func.count(Registration.checked_in_at),
            func.sum(_COMPANIONS_ARRIVED),
        )
        .where(Registration.event_id == event_id)
        .group_by(Registration.status)
    ).all()
    people = {status: int(total or 0) for status, total, _, _ in rows}
    arrived = {status: int(one or 0) + int(more or 0) for status, _, one, more in rows}
    return AttendeeCounts(
        confirmed=people.get(RegistrationStatus.confirmed, 0),
        waiting=people.get(RegistrationStatus.waiting, 0),
        cancelled=people.get(RegistrationStatus.cancelled, 0),
        checked_in=arrived.get(RegistrationStatus.confirmed, 0),
        pending=people.get(RegistrationStatus.pending, 0),
        declined=people.get(RegistrationStatus.declined, 0),
        entered=people.get(RegistrationStatus.entered, 0),
    )


def normalise_query(query: str) -> str:
    """What people type into the search box, in the form names are stored in."""
    return katakana_to_hiragana(normalise_input(query)).replace(" ", "").lower()


def list_attendees(event_id: int, attendee_filter: AttendeeFilter) -> list[Registration]:
    """The event's registrations, each with its frame, its member's person and member
    loaded in the same query (the list shows and links them), and its companions in
    one more. The search finds a registration by a companion's name too."""
    statement = (
        select(Registration)
        .options(
            joinedload(Registration.member_person).joinedload(MemberPerson.member),
            joinedload(Registration.frame, innerjoin=True),
            selectinload(Registration.companions),
        )
        .where(Registration.event_id == event_id)
    )
    if attendee_filter.frame_id is not None:
        statement = statement.where(Registration.frame_id == attendee_filter.frame_id)
    if attendee_filter.status is not None:
        statement = statement.where(Registration.status == attendee_filter.status)
    if attendee_filter.member_type is not None:
        statement = statement.where(Registration.member_type == attendee_filter.member_type)
    if attendee_filter.membership is not None:
        statement = statement.where(_membership_clause(attendee_filter.membership))
    if needle := normalise_query(attendee_filter.query):
        statement = statement.where(
            or_(
                *(
                    _compact(column).contains(needle, autoescape=True)
                    for column in (
                        Registration.name,
                        Registration.name_kana,
                        Registration.email_normalized,
                        Registration.organization,
                    )
                ),
                Registration.companions.any(
                    or_(
                        _compact(RegistrationCompanion.name).contains(needle, autoescape=True),
                        _compact(RegistrationCompanion.name_kana).contains(needle, autoescape=True),
                    )
                ),
            )
        )
    return sort_attendees(db.session.scalars(statement), attendee_filter.sort)


def _compact(column: Any) -> Any:
    return func.lower(func.replace(column, " ", ""))


def sort_attendees(
    registrations: Iterable[Registration], order: SortOrder = SortOrder.kana
) -> list[Registration]:
    """Sorted in Python, not SQL: hiragana in code point order is 五十音順 on every
    database, whatever collation PostgreSQL was installed with. People without a kana
    reading (a reading in Latin letters, or none: the English form lets it go) come
    after the kana ones, by their Latin name (``text.reading_sort_key``)."""
    if order == SortOrder.registered:
        key: Any = lambda r: (r.created_at, r.id)  # noqa: E731
    elif order == SortOrder.organization:
        key = lambda r: (  # noqa: E731
            r.organization == "",
            r.organization,
            reading_sort_key(r.name_kana, r.name),
            r.id,
        )
    else:
        key = lambda r: (reading_sort_key(r.name_kana, r.name), r.id)  # noqa: E731
    return sorted(registrations, key=key)


# Changing what a registration says --------------------------------------------------------


def update_contact(event_id: int, registration_id: int, details: ContactDetails) -> Registration:
    details = replace(details, email=checked_email(details.email))
    try:
        with write_transaction():
            registration = lock_registration(event_id, registration_id)
            refuse_purged(registration)
            before = snapshot(registration, CONTACT_FIELDS)
            for name in CONTACT_FIELDS:
                setattr(registration, name, getattr(details, name))
            if registration.email_normalized != details.email.lower():
                registration.email_normalized = details.email.lower()
                relink_by_address(registration)
            db.session.flush()
            record_change(
                "registration.edit",
                "registration",
                registration.id,
                event_id=event_id,
                before=before,
                after=snapshot(registration, CONTACT_FIELDS),
                changed_only=True,
            )
    except IntegrityError as error:
        raise Conflict(
            field_errors={
                "email": _("Another registration for this event already uses this email address.")
            }
        ) from error
    return registration


def update_note(event_id: int, registration_id: int, note: str) -> Registration:
    with write_transaction():
        registration = lock_registration(event_id, registration_id)
        refuse_purged(registration)
        record_change(
            "registration.note",
            "registration",
            registration.id,
            event_id=event_id,
            before={"organizer_note": registration.organizer_note},
            after={"organizer_note": note},
            changed_only=True,
        )
        registration.organizer_note = note
    return registration


def lock_registration(event_id: int, registration_id: int) -> Registration:
    """Inside a write transaction: this event's registration, locked and read afresh."""
    registration = db.session.scalar(
        select(Registration)
        .where(Registration.id == registration_id, Registration.event_id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if registration is None:
        raise RegistrationNotInEvent(_("This registration does not belong to this event."))
    return registration


def refuse_purged(registration: Registration) -> None:
    if registration.personal_data_purged_at is not None:
        raise Conflict(_("The personal data of this registration has been deleted."))
