"""What a reader sees of an event's registration state: the badge and the seats line;
and the same for each of its participation frames.

The rules (which state an event or a frame is in) live in registration/status.py; this
module only turns them into words, so every page says 受付中 / 満席 / 締切 the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext, ngettext

from cluster_events.database import utcnow
from cluster_events.i18n import current_locale, ngettext_showing
from cluster_events.models import Event, Frame
from cluster_events.page_cache import LiveValues, live_value
from cluster_events.registration.status import (
    FrameState,
    RegistrationState,
    frame_state,
    registration_state,
)

_STATE_LABELS = {
    RegistrationState.draft: _l("Draft"),
    RegistrationState.not_accepting: _l("No public registration"),
    RegistrationState.not_yet_open: _l("Registration not open yet"),
    RegistrationState.open: _l("Open for registration"),
    RegistrationState.full: _l("Full – waiting list open"),
    RegistrationState.closed: _l("Registration closed"),
    # "Cancelled" alone also names a cancelled registration (取消し) in the console.
    RegistrationState.cancelled: lazy_pgettext("event", "Cancelled"),
}

#: CSS modifier of the badge (badge--open, ...): colour follows the state.
_STATE_MODIFIERS = {
    RegistrationState.draft: "closed",
    RegistrationState.not_accepting: "closed",
    RegistrationState.not_yet_open: "soon",
    RegistrationState.open: "open",
    RegistrationState.full: "full",
    RegistrationState.closed: "closed",
    RegistrationState.cancelled: "cancelled",
}


#: The names of an event page's live values (``live_counts``).
EVENT_SEATS_LEFT = "event_seats_left"
EVENT_WAITING = "event_waiting"


def frame_seats_left(frame: Frame) -> str:
    return f"frame{frame.id}_seats_left"


def frame_waiting(frame: Frame) -> str:
    return f"frame{frame.id}_waiting"


def live_waiting(event_or_frame: Event | Frame) -> object:
    """People waiting, for an event page (a live value)."""
    if isinstance(event_or_frame, Frame):
        return live_value(frame_waiting(event_or_frame), event_or_frame.waiting_count)
    return live_value(EVENT_WAITING, event_or_frame.waiting_count)


def live_seats_left(event: Event) -> object:
    """Seats left of the event, for an event page (a live value)."""
    return live_value(EVENT_SEATS_LEFT, event.seats_left or 0)


def _number_shape(number: int | None) -> tuple[bool, bool, bool]:
    """What a template may decide from a number: whether it is there, 0 or 1 (the
    English singular)."""
    return (number is None, number == 0, number == 1)


def live_counts(event: Event, now: datetime | None = None) -> LiveValues:
    """The numbers of an event's page that every sign-up changes (seats left, people
    waiting; the event's and each frame's), and what its templates decide from them:
    the event's and each frame's state and each number's ``_number_shape``. Kept
    pages are keyed by the shape, so one is rendered again when a frame fills or its
    first person waits, and not at every sign-up."""
    now = now or utcnow()
    values = {
        EVENT_SEATS_LEFT: event.seats_left or 0,
        EVENT_WAITING: event.waiting_count,
    }
    shape: list[object] = [
        registration_state(event, now),
        event.is_full,
        _number_shape(event.seats_left),
        _number_shape(event.waiting_count),
    ]
    for frame in event.frames:
        values[frame_seats_left(frame)] = frame.seats_left or 0
        values[frame_waiting(frame)] = frame.waiting_count
        shape.append(
            (
                frame.id,
                frame_state(event, frame, now),
                frame.is_full,
                frame.waiting_parties == 0,
                _number_shape(frame.seats_left),
                _number_shape(frame.waiting_count),
            )
        )
    return LiveValues(
        shape=tuple(shape), values={name: str(value) for name, value in values.items()}
    )


@dataclass(frozen=True)
class Availability:
    state: RegistrationState
    label: str
    modifier: str
    #: 残り3席 / 定員なし while seats matter (before and during registration), else "".
    seats: str


def seats_text(event: Event) -> str:
    if event.capacity is None:
        return _("No seat limit")
    left = event.seats_left or 0
    return ngettext_showing("%(num)s seat left", "%(num)s seats left", left, live_seats_left(event))


def availability(event: Event, now: datetime | None = None) -> Availability:
    now = now or utcnow()
    state = registration_state(event, now)
    label = str(_STATE_LABELS[state])
    if state == RegistrationState.closed and event.ends_at < now:
        label = _("Ended")  # the archive: 終了 says more than 締切
    seats = ""
    if state in (RegistrationState.open, RegistrationState.not_yet_open):
        seats = seats_text(event)
    return Availability(state=state, label=label, modifier=_STATE_MODIFIERS[state], seats=seats)


_FRAME_STATE_LABELS = {
    FrameState.not_yet_open: lazy_pgettext("frame", "Registration not open yet"),
    FrameState.open: _l("Open for registration"),
    FrameState.few_left: _l("Few seats left"),
    FrameState.full: _l("Full – waiting list open"),
    FrameState.lottery: _l("Lottery – entries open"),
    FrameState.closed: _l("Registration closed"),
}
_FRAME_STATE_MODIFIERS = {
    FrameState.not_yet_open: "soon",
    FrameState.open: "open",
    FrameState.few_left: "few",
    FrameState.full: "full",
    FrameState.lottery: "open",
    FrameState.closed: "closed",
}


@dataclass(frozen=True)
class FrameAvailability:
    state: FrameState
    label: str
    modifier: str
    #: 残り3席 / 定員なし.
    seats: str
    #: The fee in the reader's language, or Free.
    fee: str
    #: Who may take it, when not anyone: 会員限定 / 招待コードが必要.
    who: str
    #: 同伴者2名まで, or "" when it takes no companions.
    companions: str = ""
    #: 承認制, or "".
    approval: str = ""


def frame_availability(frame: Frame, now: datetime | None = None) -> FrameAvailability:
    """A frame's badge, seats line, fee and who may take it, for the event page and the
    sign-up form."""
    state = frame_state(frame.event, frame, now)
    if frame.capacity is None:
        seats = _("No seat limit")
    elif frame.takes_entries:
        seats = ngettext(
            "%(num)s seat, drawn by lot", "%(num)s seats, drawn by lot", frame.capacity
        )
    else:
        left = frame.seats_left or 0
        shown = live_value(frame_seats_left(frame), left)
        seats = ngettext_showing("%(num)s seat left", "%(num)s seats left", left, shown)
    who = ""
    if frame.is_for_members:
        who = _("Members only")
    elif frame.needs_invitation:
        who = _("Invitation code needed")
    return FrameAvailability(
        state=state,
        label=str(_FRAME_STATE_LABELS[state]),
        modifier=_FRAME_STATE_MODIFIERS[state],
        seats=seats,
        fee=frame.fee(current_locale()) or _("Free"),
        who=who,
        companions=companions_text(frame),
        approval=_("The office approves each registration") if frame.requires_approval else "",
    )


def companions_text(frame: Frame) -> str:
    """同伴者2名まで: how many people a registrant may bring, or ""."""
    if not frame.max_companions:
        return ""
    return ngettext("Up to %(num)s companion", "Up to %(num)s companions", frame.max_companions)
