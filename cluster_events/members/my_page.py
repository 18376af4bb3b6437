"""My page: the signed-in person's registrations (upcoming and past), and cancelling one
of them with the personal link's rules (registration.services)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from cluster_events.database import utcnow
from cluster_events.errors import NotFound, ServiceError
from cluster_events.extensions import db
from cluster_events.models import Event, EventStatus, Registration, RegistrationStatus
from cluster_events.registration import services as registration_services
from cluster_events.transactions import write_transaction


class NotYourRegistration(NotFound):
    """Another person's registration, or none: the same answer for both."""

    default_message = _l("This registration could not be found.")


@dataclass(frozen=True)
class MyRegistration:
    registration: Registration
    can_cancel: bool

    @property
    def event(self) -> Event:
        return self.registration.event


@dataclass(frozen=True)
class MyRegistrations:
    #: Events not yet over, the soonest first.
    upcoming: list[MyRegistration]
    #: Events that are over, the latest first.
    past: list[MyRegistration]


def _statement():
    # Drafts are left out: an event taken off the site is not shown to its registrants
    # either (its page answers 404), as in the feeds.
    return (
        select(Registration)
        .join(Registration.event)
        .join(Event.category)
        .outerjoin(Event.venue)
        .options(
            contains_eager(Registration.event).contains_eager(Event.category),
            contains_eager(Registration.event).contains_eager(Event.venue),
        )
        .where(Event.status != EventStatus.draft)
    )


def my_registrations(person_id: int, now: datetime | None = None) -> MyRegistrations:
    """Every registration linked to the person (signed in or matched by address), with
    its event, category and venue, in one query."""
    now = now or utcnow()
    rows = db.session.scalars(
        _statement()
        .where(Registration.member_person_id == person_id)
        .order_by(Event.starts_at, Event.id, Registration.id)
    )
    upcoming: list[MyRegistration] = []
    past: list[MyRegistration] = []
    for registration in rows:
        entry = MyRegistration(
            registration, registration_services.can_cancel_online(registration, now)
        )
        (upcoming if registration.event.ends_at > now else past).append(entry)
    past.reverse()
    return MyRegistrations(upcoming, past)


def my_registration(person_id: int, registration_id: int) -> Registration:
    """One of the person's registrations; another person's is not found."""
    registration = db.session.scalar(
        _statement()
        .where(Registration.id == registration_id)
        .where(Registration.member_person_id == person_id)
    )
    if registration is None:
        raise NotYourRegistration()
    return registration


def can_cancel(registration: Registration) -> bool:
    return registration_services.can_cancel_online(registration)


def cancel_refusal(registration: Registration) -> ServiceError | None:
    """Why cancelling this registration here would be refused now, or None: the
    confirmation step says so before the person presses anything."""
    if registration.status == RegistrationStatus.declined:
        return registration_services.AlreadyDeclined()
    if not registration.is_active:
        return registration_services.AlreadyCancelled()
    if not can_cancel(registration):
        return registration_services.EventAlreadyStarted()
    return None


def cancel_my_registration(person_id: int, registration_id: int) -> Registration:
    """Cancel one of the person's registrations as the personal link does: until the
    event starts, a receipt by email, the freed seat to the first person waiting."""
    with write_transaction():
        my_registration(person_id, registration_id)
        return registration_services.cancel_registration(registration_id, by_registrant=True)
