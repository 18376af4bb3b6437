"""Where an event stands for someone who wants to sign up: the one place that
decides 準備中 / 受付中 / 満席 / 締切 / 中止, for pages, forms and services alike."""

from __future__ import annotations

import enum
from datetime import datetime

from cluster_events.database import utcnow
from cluster_events.models import Event, EventStatus


class RegistrationState(enum.StrEnum):
    #: The event takes no sign-ups on this site (school visits, invitation only).
    not_accepting = "not_accepting"
    #: 準備中: registration opens later.
    not_yet_open = "not_yet_open"
    #: 受付中.
    open = "open"
    #: 満席・キャンセル待ち受付中: every seat is taken; new sign-ups join the waiting list.
    full = "full"
    #: 締切: the deadline has passed or the event has started.
    closed = "closed"
    #: 中止.
    cancelled = "cancelled"
    draft = "draft"


def registration_state(event: Event, now: datetime | None = None) -> RegistrationState:
    """The state of registration for the public at ``now`` (default: the current time).

    The order matters: a cancelled event is 中止 even after its deadline, and a
    full event whose deadline has passed is 締切, not 満席.
    """
    now = now or utcnow()
    if event.status == EventStatus.draft:
        return RegistrationState.draft
    if event.status == EventStatus.cancelled:
        return RegistrationState.cancelled
    # A members-only event has the same states; who may sign up for it (a signed-in
    # member) is registration.services' rule, and only members see its page.
    if not event.accepts_registrations:
        return RegistrationState.not_accepting
    if event.starts_at <= now or (
        event.registration_closes_at is not None and event.registration_closes_at <= now
    ):
        return RegistrationState.closed
    if event.registration_opens_at is not None and now < event.registration_opens_at:
        return RegistrationState.not_yet_open
    if event.is_full:
        return RegistrationState.full
    return RegistrationState.open


def can_register(state: RegistrationState) -> bool:
    """True when a sign-up is taken now, as a seat (open) or on the waiting list (full)."""
    return state in (RegistrationState.open, RegistrationState.full)
