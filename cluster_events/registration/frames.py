"""Which participation frames a visitor may take, and invitation codes: the rules a
sign-up's chosen frame is held to (by ``registration.services.register``, under the
event row lock), and what the form offers (``registration.routes``).

- A frame for members is taken only by a signed-in member (as a members-only event).
- An invitation frame is taken with one of its codes, each good for ``max_uses``
  active registrations of the frame (counted under the lock, so two people never take
  a code's last use).
- A frame takes sign-ups while it is open (``status.frame_state``); full, it takes them
  on its own waiting list.

Refusals are field errors of the form (``frame``, ``invitation_code``), 400.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select

from cluster_events.errors import ServiceError
from cluster_events.extensions import db
from cluster_events.models import ENDED_STATUSES, Event, Frame, InvitationCode, Registration
from cluster_events.registration.status import FrameState, can_take, frame_state

#: Letters and digits that cannot be mistaken for one another when read out or typed.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
NEW_CODE_LENGTH = 8
CODE_PATTERN = re.compile(r"^[A-Z0-9]{4,32}$")
_CODE_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ー_]")

FRAME_FIELD = "frame"
CODE_FIELD = "invitation_code"

CHOOSE_A_FRAME = _l("Please choose a participation frame.")
NOT_OFFERED = _l("Please choose one of the participation frames shown.")
FOR_MEMBERS = _l(
    "This participation frame is for members only. Members, please sign in to take it."
)
NOT_YET_OPEN = _l("Registration for this participation frame has not opened yet.")
CLOSED = _l("Registration for this participation frame has closed.")
CODE_NEEDED = _l("Please enter the invitation code you received.")
CODE_WRONG = _l(
    "This invitation code is not valid for this participation frame. Please check it and "
    "type it again."
)
CODE_USED_UP = _l(
    "This invitation code has already been used as many times as it allows. "
    "Please contact the office."
)


class FrameRefused(ServiceError):
    """The chosen frame may not be taken (by this visitor, now, with this code)."""

    def __init__(self, field: str, message: object) -> None:
        super().__init__(field_errors={field: message})  # type: ignore[dict-item]


def normalise_code(value: str | None) -> str:
    """A code as stored and compared: full-width characters, lower case, spaces and
    hyphens as people type them do not matter."""
    text = unicodedata.normalize("NFKC", value or "")
    return _CODE_SEPARATORS.sub("", text).upper()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(NEW_CODE_LENGTH))


def formatted_code(code: str) -> str:
    """A code as shown to read out: ABCD-EFGH."""
    if len(code) == NEW_CODE_LENGTH:
        return f"{code[:4]}-{code[4:]}"
    return code


@dataclass(frozen=True)
class FrameOption:
    """A frame as the sign-up form shows it to one visitor."""

    frame: Frame
    state: FrameState
    #: The visitor may choose it now (with a code, for an invitation frame).
    can_choose: bool

    @property
    def needs_code(self) -> bool:
        return self.frame.needs_invitation


def may_take(frame: Frame, signed_in_member: bool) -> bool:
    """Who may take the frame at all (an invitation frame: whoever has a code)."""
    return signed_in_member or not frame.is_for_members


def frame_options(
    event: Event, signed_in_member: bool, now: datetime | None = None
) -> list[FrameOption]:
    """The event's frames this visitor may take, in order, each with its state: the
    ones they may choose now, and those not open now (shown, not chosen)."""
    options = []
    for frame in event.frames:
        if not may_take(frame, signed_in_member):
            continue
        state = frame_state(event, frame, now)
        options.append(FrameOption(frame, state, can_take(state)))
    return options


def chosen_frame(event: Event, frame_id: int | None) -> Frame:
    """The frame a sign-up names; an event with one frame needs no choice."""
    if frame_id is None:
        if len(event.frames) == 1:
            return event.frames[0]
        raise FrameRefused(FRAME_FIELD, CHOOSE_A_FRAME)
    frame = event.frame_by_id(frame_id)
    if frame is None:
        raise FrameRefused(FRAME_FIELD, NOT_OFFERED)
    return frame


def check_frame(
    event: Event,
    frame: Frame,
    *,
    signed_in_member: bool,
    code: str,
    now: datetime,
) -> InvitationCode | None:
    """Inside the transaction that locked ``event``: refuse (FrameRefused) unless this
    visitor may take ``frame`` now; returns the invitation code that admits them, if
    the frame needs one."""
    if not may_take(frame, signed_in_member):
        raise FrameRefused(FRAME_FIELD, FOR_MEMBERS)
    state = frame_state(event, frame, now)
    if not can_take(state):
        raise FrameRefused(
            FRAME_FIELD, NOT_YET_OPEN if state == FrameState.not_yet_open else CLOSED
        )
    if not frame.needs_invitation:
        return None
    return _admitting_code(frame, normalise_code(code))


_USES = (
    select(func.count(Registration.id))
    .where(
        Registration.invitation_code_id == InvitationCode.id,
        Registration.frame_id == InvitationCode.frame_id,
        Registration.status.not_in(ENDED_STATUSES),
    )
    .correlate(InvitationCode)
    .scalar_subquery()
)
_CODE_WITH_USES = select(InvitationCode, _USES).where(
    InvitationCode.frame_id == bindparam("frame_id"), InvitationCode.code == bindparam("code")
)


def code_uses(frame_ids: list[int]) -> dict[int, int]:
    """Active registrations made with each code of these frames, by code id."""
    if not frame_ids:
        return {}
    rows = db.session.execute(
        select(InvitationCode.id, _USES).where(InvitationCode.frame_id.in_(frame_ids))
    )
    return {code_id: uses for code_id, uses in rows}


def _admitting_code(frame: Frame, code: str) -> InvitationCode:
    if not code:
        raise FrameRefused(CODE_FIELD, CODE_NEEDED)
    if not CODE_PATTERN.match(code):
        raise FrameRefused(CODE_FIELD, CODE_WRONG)
    row = db.session.execute(_CODE_WITH_USES, {"frame_id": frame.id, "code": code}).first()
    if row is None:
        raise FrameRefused(CODE_FIELD, CODE_WRONG)
    invitation, uses = row
    if invitation.max_uses is not None and uses >= invitation.max_uses:
        raise FrameRefused(CODE_FIELD, CODE_USED_UP)
    return invitation
