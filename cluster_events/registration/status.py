"""Where an event stands for someone who wants to sign up: the one place that
decides 準備中 / 受付中 / 満席 / 締切 / 中止, for pages, forms and services alike; and
where each of its participation frames stands (受付中 / 残りわずか / 満席・キャンセル待ち /
抽選受付中 / 受付前 / 締切)."""

from __future__ import annotations

import enum
from datetime import datetime

from cluster_events.database import utcnow
from cluster_events.models import Event, EventStatus, Frame


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


class FrameState(enum.StrEnum):
    #: 受付前: the frame's registration opens later.
    not_yet_open = "not_yet_open"
    #: 受付中.
    open = "open"
    #: 残りわずか: open, with few seats left (``few_seats_left``).
    few_left = "few_left"
    #: 満席・キャンセル待ち: new sign-ups join the frame's waiting list.
    full = "full"
    #: 抽選受付中: a lottery frame not drawn yet takes entries until its deadline.
    lottery = "lottery"
    #: 締切: the frame's or the event's deadline has passed, or registration is not
    #: open for the event at all (cancelled, not taken on this site).
    closed = "closed"


#: At most this many seats left, and no more than a fifth of the frame's, is 残りわずか.
FEW_SEATS = 5


def few_seats_left(frame: Frame) -> bool:
    left = frame.seats_left
    if left is None or left == 0 or frame.capacity is None:
        return False
    return left <= min(FEW_SEATS, max(1, frame.capacity // 5))


def frame_state(event: Event, frame: Frame, now: datetime | None = None) -> FrameState:
    """Where ``frame`` of ``event`` stands at ``now``: the event's state first (a frame
    of a closed or cancelled event is closed), then the frame's own period, which only
    narrows the event's (``Frame.opens_at``, ``Frame.closes_at``), then its seats (a
    lottery taking entries has no seats to count yet)."""
    now = now or utcnow()
    state = registration_state(event, now)
    if state not in (RegistrationState.open, RegistrationState.full):
        if state == RegistrationState.not_yet_open:
            return FrameState.not_yet_open
        return FrameState.closed
    closes_at = frame.closes_at
    if closes_at is not None and closes_at <= now:
        return FrameState.closed
    opens_at = frame.opens_at
    if opens_at is not None and now < opens_at:
        return FrameState.not_yet_open
    if frame.takes_entries:
        return FrameState.lottery
    if frame.is_full:
        return FrameState.full
    return FrameState.few_left if few_seats_left(frame) else FrameState.open


def can_take(state: FrameState) -> bool:
    """True when the frame takes a sign-up now: a seat, a place on its waiting list, or
    an entry for its lottery."""
    return state in (FrameState.open, FrameState.few_left, FrameState.full, FrameState.lottery)
