"""The office edits an event's participation frames (参加枠): add, change, reorder and
remove frames, and give out invitation codes. Each function runs in one
``write_transaction`` under the event row lock (the same lock as every sign-up), is
audited, and changes nothing when it refuses.

- A frame's capacity may not drop below its confirmed count; raised, its new seats go
  to its waiting list in order (``registration.services.fill_seats``).
- Only a frame without registrations (cancelled ones included: they name it) and
  without questions of its own on the form can be removed, and never an event's last
  one. Questions of the frame taken off the form earlier (kept for their answers) are
  then kept as questions for everyone.
- The event's ``capacity``, counters and ``frame_count`` are kept equal to its frames'
  (``_sync_event``): its capacity is the sum of theirs, None when one has no limit.
- A frame's period only narrows the event's (``Frame.opens_at``, ``Frame.closes_at``).
- A frame drawn by lot (``FrameSelection.lottery``) needs a capacity (its winners) and
  a deadline (its own or the event's: the draw is made then); how a frame gives its
  seats changes only while it has no registration (cancelled ones aside) and is not
  drawn. The draw itself is ``registration.lottery``.

The lock reads the event's frames with it, but a frame another organizer added while
this one waited for the lock is not among them: every function here reads them again.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from cluster_events.audit import record_change
from cluster_events.errors import Conflict, NotFound, ServiceError
from cluster_events.extensions import db
from cluster_events.models import (
    Event,
    EventQuestion,
    Frame,
    FrameEligibility,
    FrameSelection,
    InvitationCode,
    Registration,
    RegistrationStatus,
)
from cluster_events.registration import frames as frame_rules
from cluster_events.registration.services import MAX_COMPANIONS, fill_seats
from cluster_events.timefmt import to_tokyo
from cluster_events.transactions import write_transaction

MAX_CAPACITY = 100_000


class FrameNotFound(NotFound):
    pass


@dataclass
class FrameData:
    """A frame's editable fields, already parsed by the form (datetimes aware)."""

    name_ja: str
    name_en: str = ""
    capacity: int | None = None
    #: None: the event's fee.
    fee_text: str | None = None
    #: None: the Japanese fee.
    fee_text_en: str | None = None
    eligibility: str = FrameEligibility.anyone.value
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    #: Companions a registration may bring (each takes a seat); 0: none.
    max_companions: int = 0
    #: Sign-ups on the web wait for the office's approval.
    requires_approval: bool = False
    #: First come, or drawn by lot at the deadline.
    selection: str = FrameSelection.first_come.value

    @classmethod
    def from_frame(cls, frame: Frame) -> FrameData:
        return cls(**{field.name: getattr(frame, field.name) for field in fields(cls)})


FRAME_FIELDS = tuple(field.name for field in fields(FrameData))


@dataclass(frozen=True)
class FrameUpdate:
    frame: Frame
    promoted: int


def _snapshot(frame: Frame) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(frame, name) for name in FRAME_FIELDS}
    for name, value in values.items():
        if isinstance(value, datetime):
            values[name] = to_tokyo(value).isoformat(timespec="minutes")
    values["sort_order"] = frame.sort_order
    return values


def _audit(action: str, frame: Frame, before: dict, after: dict) -> None:
    record_change(
        action,
        "frame",
        frame.id,
        event_id=frame.event_id,
        before=before,
        after=after,
        changed_only=True,
    )


def _validate(data: FrameData, event: Event, frame: Frame | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not data.name_ja.strip():
        errors["name_ja"] = _("Enter the name of the frame, for example 会員枠.")
    if data.capacity is not None and not 0 <= data.capacity <= MAX_CAPACITY:
        errors["capacity"] = _("Enter a number from 0 to 100,000, or leave it empty for no limit.")
    elif frame is not None and data.capacity is not None and data.capacity < frame.confirmed_count:
        errors["capacity"] = _(
            "Confirmed seats already taken in this frame: %(confirmed)d. The capacity cannot "
            "be lower than that. To reduce it, cancel registrations or move them to another "
            "frame first.",
            confirmed=frame.confirmed_count,
        )
    if not 0 <= data.max_companions <= MAX_COMPANIONS:
        errors["max_companions"] = _(
            "Enter a number from 0 to %(max)d (0: no companions).", max=MAX_COMPANIONS
        )
    if data.eligibility not in {member.value for member in FrameEligibility}:
        errors["eligibility"] = _("Choose who may take this frame.")
    opens, closes = data.registration_opens_at, data.registration_closes_at
    if opens is not None and closes is not None and closes <= opens:
        errors["registration_closes_at"] = _("Registration must close after it opens.")
    elif closes is not None and closes > event.starts_at:
        errors["registration_closes_at"] = _("Registration must close before the event starts.")
    if opens is not None and opens >= event.starts_at:
        errors["registration_opens_at"] = _("Registration must open before the event starts.")
    errors.update(_selection_errors(data, event, frame))
    return errors


def _selection_errors(data: FrameData, event: Event, frame: Frame | None) -> dict[str, str]:
    if data.selection not in {member.value for member in FrameSelection}:
        return {"selection": _("Choose how the seats are given.")}
    errors: dict[str, str] = {}
    changed = frame is not None and data.selection != frame.selection
    if changed and (frame.drawn_at is not None or _active_registrations(frame)):
        errors["selection"] = _(
            "This frame has registrations (or its lottery was drawn), so how it gives "
            "its seats can no longer be changed. Add another frame instead."
        )
    if data.selection != FrameSelection.lottery:
        return errors
    if not data.capacity:
        errors.setdefault(
            "capacity", _("A frame drawn by lot needs a capacity: the number of people drawn.")
        )
    if data.max_companions:
        errors.setdefault(
            "max_companions",
            _(
                "A frame drawn by lot takes no companions: each person enters the lottery "
                "on their own. Enter 0."
            ),
        )
    if data.requires_approval:
        errors.setdefault(
            "requires_approval",
            _(
                "A frame drawn by lot does not wait for approval: the draw decides. Untick "
                "this, or choose first come."
            ),
        )
    if data.registration_closes_at is None and event.registration_closes_at is None:
        errors.setdefault(
            "registration_closes_at",
            _(
                "A frame drawn by lot needs a deadline: the lottery is drawn then. Enter it "
                "here, or as the event's registration deadline."
            ),
        )
    return errors


def _active_registrations(frame: Frame) -> int:
    return (
        db.session.scalar(
            select(func.count(Registration.id)).where(
                Registration.frame_id == frame.id,
                Registration.status != RegistrationStatus.cancelled,
            )
        )
        or 0
    )


def _locked_event(event_id: int) -> Event:
    """Inside a write transaction: the event, locked, with every frame it has now."""
    with write_transaction(lock_event=event_id) as event:
        assert event is not None
        db.session.refresh(event, attribute_names=["frames"])
    return event


def _frame_of(event: Event, frame_id: int) -> Frame:
    frame = event.frame_by_id(frame_id)
    if frame is None:
        raise FrameNotFound(_("This participation frame could not be found."))
    return frame


def _sync_event(event: Event) -> None:
    """The event's capacity, counters and frame count from its frames."""
    frames = event.frames
    capacities = [frame.capacity for frame in frames]
    event.capacity = None if None in capacities else sum(c for c in capacities if c is not None)
    event.confirmed_count = sum(frame.confirmed_count for frame in frames)
    event.waiting_count = sum(frame.waiting_count for frame in frames)
    event.frame_count = len(frames)


def _renumber(event: Event) -> None:
    for order, frame in enumerate(event.frames):
        frame.sort_order = order


def add_frame(event_id: int, data: FrameData) -> Frame:
    """A new frame at the end of the event's."""
    with write_transaction():
        event = _locked_event(event_id)
        if errors := _validate(data, event, None):
            raise ServiceError(field_errors=errors)
        frame = Frame(
            **{name: getattr(data, name) for name in FRAME_FIELDS},
            sort_order=len(event.frames),
            confirmed_count=0,
            waiting_count=0,
            waiting_parties=0,
        )
        event.frames.append(frame)
        _sync_event(event)
        db.session.flush()
        _audit("frame.add", frame, {}, _snapshot(frame))
    return frame


def update_frame(event_id: int, frame_id: int, data: FrameData) -> FrameUpdate:
    """Save a frame's changes; raised capacity goes to its waiting list in order."""
    with write_transaction():
        event = _locked_event(event_id)
        frame = _frame_of(event, frame_id)
        if errors := _validate(data, event, frame):
            raise ServiceError(field_errors=errors)
        before = _snapshot(frame)
        for name in FRAME_FIELDS:
            setattr(frame, name, getattr(data, name))
        _sync_event(event)
        db.session.flush()
        promoted = fill_seats(event)
        _audit("frame.update", frame, before, _snapshot(frame))
        if promoted:
            record_change(
                "event.fill_from_waiting_list",
                "event",
                event.id,
                event_id=event.id,
                after={
                    "frame": frame.name_ja,
                    "promoted": ", ".join(str(p.id) for p in promoted),
                },
            )
    return FrameUpdate(frame, len(promoted))


def move_frame(event_id: int, frame_id: int, step: int) -> None:
    """Move a frame one place up (``step=-1``) or down (``step=1``) in the order."""
    with write_transaction():
        event = _locked_event(event_id)
        frame = _frame_of(event, frame_id)
        order = list(event.frames)
        index = order.index(frame)
        target = index + (1 if step > 0 else -1)
        if not 0 <= target < len(order):
            return
        before = [f.name_ja for f in order]
        order[index], order[target] = order[target], order[index]
        for position, each in enumerate(order):
            each.sort_order = position
        db.session.flush()
        db.session.expire(event, ["frames"])
        record_change(
            "frame.reorder",
            "event",
            event.id,
            event_id=event.id,
            before={"order": " / ".join(before)},
            after={"order": " / ".join(f.name_ja for f in order)},
        )


def remove_frame(event_id: int, frame_id: int) -> None:
    """Remove a frame no registration and no question on the form names (and not the
    event's last one). The office decides what becomes of a frame's questions: making
    them questions for everyone here would ask every other frame's registrants, and
    could make them required."""
    with write_transaction():
        event = _locked_event(event_id)
        frame = _frame_of(event, frame_id)
        if len(event.frames) == 1:
            raise Conflict(_("An event has at least one participation frame."))
        registrations = db.session.scalar(
            select(func.count(Registration.id)).where(Registration.frame_id == frame.id)
        )
        if registrations:
            raise Conflict(
                _(
                    "This frame has registrations (%(count)d, cancelled ones included), so it "
                    "cannot be removed. Move them to another frame first, or set its capacity "
                    "to 0 so that nobody else takes it.",
                    count=registrations,
                )
            )
        questions = db.session.scalar(
            select(func.count(EventQuestion.id)).where(
                EventQuestion.frame_id == frame.id, EventQuestion.removed_at.is_(None)
            )
        )
        if questions:
            raise Conflict(
                _(
                    "The registration form asks %(count)d questions only of this frame, so "
                    "it cannot be removed. On the questions page, remove them or change them "
                    "to be asked of every frame first.",
                    count=questions,
                )
            )
        before = _snapshot(frame)
        _forget_kept_questions(frame.id)
        _forget_codes(select(InvitationCode.id).where(InvitationCode.frame_id == frame.id))
        event.frames.remove(frame)
        _renumber(event)
        _sync_event(event)
        db.session.flush()
        record_change(
            "frame.remove",
            "frame",
            frame_id,
            event_id=event.id,
            before=before,
            after={},
        )


def _forget_kept_questions(frame_id: int) -> None:
    """Questions of the frame that were taken off the form, kept for their answers, no
    longer name it (the answers keep their own wording)."""
    db.session.execute(
        update(EventQuestion)
        .where(EventQuestion.frame_id == frame_id, EventQuestion.removed_at.is_not(None))
        .values(frame_id=None)
        .execution_options(synchronize_session=False)
    )


def _forget_codes(code_ids: Any) -> None:
    """Registrations made with these codes keep their frame and no longer name them."""
    db.session.execute(
        update(Registration)
        .where(Registration.invitation_code_id.in_(code_ids))
        .values(invitation_code_id=None, updated_at=Registration.updated_at)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class CodeData:
    """An invitation code as the office gives it: ``code`` empty for a new random one."""

    code: str = ""
    max_uses: int | None = None
    note: str = ""


def add_invitation_code(event_id: int, frame_id: int, data: CodeData) -> InvitationCode:
    """A code for an invitation frame, good for ``max_uses`` registrations (None: any)."""
    try:
        with write_transaction():
            event = _locked_event(event_id)
            frame = _frame_of(event, frame_id)
            if not frame.needs_invitation:
                raise Conflict(
                    _(
                        "Codes are for frames taken with an invitation code. Change who may "
                        "take this frame first."
                    )
                )
            code = frame_rules.normalise_code(data.code) or _free_code(frame)
            errors = {}
            if not frame_rules.CODE_PATTERN.match(code):
                errors["code"] = _(
                    "Use 4 to 32 letters A-Z and digits (spaces and hyphens are left out), "
                    "or leave it empty for a new code."
                )
            elif _code_taken(frame, code):
                errors["code"] = _("This frame already has this code.")
            if data.max_uses is not None and not 1 <= data.max_uses <= MAX_CAPACITY:
                errors["max_uses"] = _(
                    "Enter a number from 1 to 100,000, or leave it empty for no limit."
                )
            if errors:
                raise ServiceError(field_errors=errors)
            invitation = InvitationCode(code=code, max_uses=data.max_uses, note=data.note)
            frame.invitation_codes.append(invitation)
            db.session.flush()
            record_change(
                "frame.add_code",
                "frame",
                frame.id,
                event_id=event.id,
                after={"code": code, "max_uses": data.max_uses, "note": data.note},
            )
    except IntegrityError as error:  # the same code added at the same moment
        raise ServiceError(field_errors={"code": _("This frame already has this code.")}) from error
    return invitation


def remove_invitation_code(event_id: int, frame_id: int, code_id: int) -> None:
    """The code no longer admits anyone; those who registered with it keep their place."""
    with write_transaction():
        event = _locked_event(event_id)
        frame = _frame_of(event, frame_id)
        invitation = next((c for c in frame.invitation_codes if c.id == code_id), None)
        if invitation is None:
            raise FrameNotFound(_("This invitation code could not be found."))
        _forget_codes([invitation.id])
        frame.invitation_codes.remove(invitation)
        db.session.flush()
        record_change(
            "frame.remove_code",
            "frame",
            frame.id,
            event_id=event.id,
            before={"code": invitation.code, "max_uses": invitation.max_uses},
            after={},
        )


def _code_taken(frame: Frame, code: str) -> bool:
    return any(existing.code == code for existing in frame.invitation_codes)


def _free_code(frame: Frame) -> str:
    while True:
        code = frame_rules.new_code()
        if not _code_taken(frame, code):
            return code
