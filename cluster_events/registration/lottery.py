"""Lotteries (抽選): drawing a frame's entries at its deadline, exactly once, and
recomputing a draw from its record, so that the office can show anyone it was fair.

A frame drawn by lot (``Frame.selection`` = lottery) takes entries (応募,
``RegistrationStatus.entered``, no seat) until its deadline, ``Frame.draw_at`` (when
registration for the frame closes: its own deadline or the event's). One entry per
address and per member's person (``registration.services.register``). After the
deadline, ``draw_frame`` (the console's 「抽選する」, or ``draw-lotteries`` from cron)
draws it in one transaction under the event lock: the entries become confirmed or
waiting, everybody's email is queued, the frame is marked drawn (``Frame.drawn_at``),
the draw is recorded (``LotteryDraw``, one per frame) and audited. A second draw at
the same moment waits for the lock, then finds the frame drawn and does nothing.

The draw, exactly (``drawn_order``), so that it can be recomputed anywhere:

1. The seed: 32 bytes (256 bits) from ``secrets.token_bytes``, written as 64 lower-case
   hex digits.
2. The entries: the frame's registrations whose status is ``entered`` when the lock is
   held, their ids in ascending order.
3. ``random.Random(int(seed, 16)).shuffle(ids)``: CPython's Mersenne Twister seeded
   with the seed as one integer, and its Fisher-Yates shuffle (for i from the last
   index down to 1, swap ids[i] with ids[j], j = ``randbelow(i + 1)``).
4. The first ``seats`` ids of the result win (``seats``: the frame's free seats, its
   capacity minus its confirmed registrations); the others go to the frame's waiting
   list at positions 1, 2, ... in that order.

The entry list's canonical form (``canonical_entry_list``): one line per entry, ids
ascending, each the registration id in decimal, a tab, the normalised address
(``Registration.email_normalized``: NFKC, then lower case; addresses are ASCII, so
this is also their case fold), and a line feed, the last line included; its digest is
the SHA-256 of that text in UTF-8, in hex. The audit entry ``frame.draw_lottery``
records the seed and the digest; ``verify_draw`` recomputes both and the order.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import click
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from cluster_events import timefmt
from cluster_events.audit import record_change
from cluster_events.database import utcnow
from cluster_events.errors import Conflict, NotFound, ServiceError
from cluster_events.extensions import db
from cluster_events.i18n import current_locale
from cluster_events.mail import outbox
from cluster_events.models import (
    AuditLogEntry,
    Event,
    EventStatus,
    Frame,
    FrameSelection,
    LotteryDraw,
    LotteryResult,
    Registration,
    RegistrationStatus,
)
from cluster_events.registration import notifications
from cluster_events.registration.services import _confirm, _join_waiting_list
from cluster_events.transactions import end_read_transaction, write_transaction

SEED_BYTES = 32
AUDIT_ACTION = "frame.draw_lottery"


class LotteryNotFound(NotFound):
    default_message = _l("This participation frame could not be found.")


class NotALottery(Conflict):
    default_message = _l("This participation frame is not drawn by lot.")


class AlreadyDrawn(Conflict):
    def __init__(self, frame: Frame) -> None:
        assert frame.drawn_at is not None
        when = timefmt.format_datetime(frame.drawn_at, current_locale())
        super().__init__(_l("This lottery was already drawn on %(when)s.", when=when))


class DrawTooEarly(Conflict):
    def __init__(self, frame: Frame) -> None:
        deadline = timefmt.format_datetime(frame.draw_at, current_locale())
        super().__init__(
            _l(
                "The lottery is drawn after its deadline, %(deadline)s. Until then it takes "
                "entries.",
                deadline=deadline,
            )
        )


class EventNotDrawn(Conflict):
    default_message = _l(
        "The lottery of an event that is not published (a draft, or cancelled) is not drawn."
    )


# The algorithm ----------------------------------------------------------------------------


def new_seed() -> str:
    """A fresh seed of 256 bits, in hex."""
    return secrets.token_bytes(SEED_BYTES).hex()


def canonical_entry_list(entries: Iterable[tuple[int, str]]) -> str:
    """The entry list as it is digested: ``id<TAB>address<LF>`` per entry, ids ascending."""
    return "".join(f"{entry_id}\t{address}\n" for entry_id, address in sorted(entries))


def entries_digest(entry_list: str) -> str:
    return hashlib.sha256(entry_list.encode("utf-8")).hexdigest()


def drawn_order(entry_ids: Sequence[int], seed: str) -> list[int]:
    """The ids in drawn order: the ids ascending, shuffled by a generator seeded with
    the seed (see the module's docstring)."""
    ids = sorted(entry_ids)
    random.Random(int(seed, 16)).shuffle(ids)
    return ids


# Drawing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawOutcome:
    frame_id: int
    event_id: int
    entries: int
    winners: int
    waiting: int
    seed: str
    entries_sha256: str
    #: The emails queued (the command sends them at once with MAIL_DELIVERY=inline).
    message_ids: tuple[int, ...] = field(default=())


def is_due(frame: Frame, now: datetime | None = None) -> bool:
    """A lottery not drawn yet whose deadline has passed, of a published event."""
    now = now or utcnow()
    return (
        frame.takes_entries and frame.event.status == EventStatus.published and frame.draw_at <= now
    )


def _ensure_drawable(event: Event, frame: Frame, now: datetime) -> None:
    if not frame.is_lottery:
        raise NotALottery()
    if frame.drawn_at is not None:
        raise AlreadyDrawn(frame)
    if event.status != EventStatus.published:
        raise EventNotDrawn()
    if now < frame.draw_at:
        raise DrawTooEarly(frame)


def draw_frame(
    frame_id: int,
    *,
    event_id: int | None = None,
    organizer_id: int | None = None,
    now: datetime | None = None,
) -> DrawOutcome:
    """Draw a lottery frame whose deadline has passed, in one transaction under the
    event lock (see the module's docstring). ``event_id``, when given, must be the
    frame's event. Refused (nothing written) before the deadline (``DrawTooEarly``),
    for a frame already drawn (``AlreadyDrawn``: the frame is read afresh under the
    lock, so of two draws at once the second finds the first's), for a frame that is
    not a lottery and for an event that is not published."""
    now = now or utcnow()
    with write_transaction():
        found = db.session.scalar(select(Frame.event_id).where(Frame.id == frame_id))
        if found is None or (event_id is not None and found != event_id):
            raise LotteryNotFound()
        with write_transaction(lock_event=found) as event:
            assert event is not None
            frame = event.frame_by_id(frame_id)
        if frame is None:
            raise LotteryNotFound()
        _ensure_drawable(event, frame, now)
        entries = list(
            db.session.scalars(
                select(Registration)
                .where(
                    Registration.frame_id == frame.id,
                    Registration.status == RegistrationStatus.entered,
                )
                .order_by(Registration.id)
            )
        )
        seed = new_seed()
        entry_list = canonical_entry_list((entry.id, entry.email_normalized) for entry in entries)
        digest = entries_digest(entry_list)
        order = drawn_order([entry.id for entry in entries], seed)
        seats = (
            len(entries)
            if frame.capacity is None
            else max(frame.capacity - frame.confirmed_count, 0)
        )
        by_id = {entry.id: entry for entry in entries}
        winners = [by_id[entry_id] for entry_id in order[:seats]]
        others = [by_id[entry_id] for entry_id in order[seats:]]
        for registration in winners:
            _confirm(registration, frame, now)
            registration.lottery_result = LotteryResult.won
        for registration in others:
            _join_waiting_list(registration, frame)
            registration.lottery_result = LotteryResult.lost
        frame.drawn_at = now
        draw = LotteryDraw(
            frame_id=frame.id,
            event_id=event.id,
            drawn_at=now,
            organizer_id=organizer_id,
            seed=seed,
            entries_sha256=digest,
            entry_list=entry_list,
            entry_ids=sorted(by_id),
            drawn_ids=order,
            seats=seats,
        )
        db.session.add(draw)
        db.session.flush()
        record_change(
            AUDIT_ACTION,
            "frame",
            frame.id,
            event_id=event.id,
            after={
                "frame": frame.name_ja,
                "seed": seed,
                "entries_sha256": digest,
                "entries": len(entries),
                "seats": seats,
                "winners": len(winners),
                "waiting": len(others),
                "draw": draw.id,
            },
            organizer_id=organizer_id,
        )
        messages = []
        for registration in winners:
            messages += notifications.queue_lottery_won(registration)
        for registration in others:
            messages += notifications.queue_lottery_not_drawn(registration)
        db.session.flush()
        outcome = DrawOutcome(
            frame.id,
            event.id,
            len(entries),
            len(winners),
            len(others),
            seed,
            digest,
            tuple(message.id for message in messages),
        )
    return outcome


def due_frames(now: datetime | None = None) -> list[int]:
    """The ids of the lottery frames to draw now (``is_due``)."""
    now = now or utcnow()
    frames = db.session.scalars(
        select(Frame)
        .join(Frame.event)
        .options(contains_eager(Frame.event))
        .where(
            Frame.selection == FrameSelection.lottery,
            Frame.drawn_at.is_(None),
            Event.status == EventStatus.published,
            Event.ends_at > now,
        )
        .order_by(Frame.id)
    )
    return [frame.id for frame in frames if is_due(frame, now)]


def draw_due(now: datetime | None = None) -> list[DrawOutcome]:
    """Draw every lottery that is due, each in its own transaction. One that another
    process drew meanwhile (or that changed meanwhile) is skipped."""
    now = now or utcnow()
    frame_ids = due_frames(now)
    end_read_transaction()
    outcomes = []
    for frame_id in frame_ids:
        try:
            outcomes.append(draw_frame(frame_id, now=now))
        except ServiceError as refusal:
            current_app.logger.info("lottery of frame %s not drawn: %s", frame_id, refusal)
    return outcomes


def entry_counts(frame_ids: Sequence[int]) -> dict[int, int]:
    """Entries waiting for the draw, per frame."""
    if not frame_ids:
        return {}
    rows = db.session.execute(
        select(Registration.frame_id, func.count())
        .where(
            Registration.frame_id.in_(frame_ids),
            Registration.status == RegistrationStatus.entered,
        )
        .group_by(Registration.frame_id)
    )
    return {frame_id: count for frame_id, count in rows}


def draw_of(frame_id: int) -> LotteryDraw | None:
    return db.session.scalar(select(LotteryDraw).where(LotteryDraw.frame_id == frame_id))


def entry_names(draw: LotteryDraw) -> dict[int, Registration]:
    """The draw's entries as registrations now, by id (the console lists them)."""
    rows = db.session.scalars(select(Registration).where(Registration.id.in_(draw.entry_ids)))
    return {registration.id: registration for registration in rows}


# Verifying --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """A draw recomputed from its record. ``None`` for a check that cannot be made."""

    draw: LotteryDraw
    #: The digest of the recorded entry list; None once the purge emptied the list.
    digest: str | None
    #: The recorded list names exactly the recorded entry ids (None: list purged).
    list_names_the_entries: bool | None
    #: The audit log's entry for the draw holds the same seed and digest.
    audit_matches: bool
    #: The order recomputed from the seed and the entry ids.
    order: list[int]
    #: Each entry's recorded result (won or lost) is the recomputed one.
    results_match: bool
    #: Entries whose address now differs from the recorded list (corrected later by the
    #: office): information, not a mismatch.
    changed_since: list[int]

    @property
    def digest_matches(self) -> bool | None:
        return None if self.digest is None else self.digest == self.draw.entries_sha256

    @property
    def order_matches(self) -> bool:
        return self.order == list(self.draw.drawn_ids)

    @property
    def matches(self) -> bool:
        return (
            self.digest_matches is not False
            and self.list_names_the_entries is not False
            and self.audit_matches
            and self.order_matches
            and self.results_match
        )


def _parse_entry_list(entry_list: str) -> list[tuple[int, str]]:
    entries = []
    for line in entry_list.splitlines():
        entry_id, _tab, address = line.partition("\t")
        entries.append((int(entry_id), address))
    return entries


def verify_draw(frame_id: int) -> Verification:
    """Recompute a frame's draw from its record (LotteryNotFound when it was not drawn)."""
    draw = draw_of(frame_id)
    if draw is None:
        raise LotteryNotFound(_l("This lottery has not been drawn."))
    entry_ids = list(draw.entry_ids)
    digest = listed = None
    changed: list[int] = []
    if draw.entry_list:
        digest = entries_digest(draw.entry_list)
        recorded = _parse_entry_list(draw.entry_list)
        listed = [entry_id for entry_id, _address in recorded] == sorted(entry_ids)
        now = dict(
            db.session.execute(
                select(Registration.id, Registration.email_normalized).where(
                    Registration.id.in_(entry_ids)
                )
            ).all()
        )
        changed = [entry_id for entry_id, address in recorded if now.get(entry_id) != address]
    audit = db.session.scalar(
        select(AuditLogEntry)
        .where(
            AuditLogEntry.action == AUDIT_ACTION,
            AuditLogEntry.target_type == "frame",
            AuditLogEntry.target_id == frame_id,
        )
        .order_by(AuditLogEntry.id)
        .limit(1)
    )
    audit_matches = (
        audit is not None
        and (audit.after or {}).get("seed") == draw.seed
        and (audit.after or {}).get("entries_sha256") == draw.entries_sha256
    )
    order = drawn_order(entry_ids, draw.seed)
    expected = {entry_id: LotteryResult.won.value for entry_id in order[: draw.seats]}
    results = dict(
        db.session.execute(
            select(Registration.id, Registration.lottery_result).where(
                Registration.id.in_(entry_ids)
            )
        ).all()
    )
    results_match = len(results) == len(entry_ids) and all(
        results[entry_id] == expected.get(entry_id, LotteryResult.lost.value)
        for entry_id in entry_ids
    )
    return Verification(draw, digest, listed, audit_matches, order, results_match, changed)


# Commands ---------------------------------------------------------------------------------


@click.command("draw-lotteries")
def draw_lotteries_command() -> None:
    """Draw every lottery whose deadline has passed and that is not drawn yet (safe to
    run from cron every few minutes, and twice at once: each frame is drawn once).

    With MAIL_DELIVERY=inline the results are emailed at once; otherwise the worker
    sends them."""
    outcomes = draw_due()
    for outcome in outcomes:
        click.echo(
            f"Drew frame {outcome.frame_id} of event {outcome.event_id}: "
            f"{outcome.entries} entries, {outcome.winners} won, "
            f"{outcome.waiting} on the waiting list; seed {outcome.seed}, "
            f"entries SHA-256 {outcome.entries_sha256}."
        )
    click.echo(f"Drew {len(outcomes)} lotteries.", err=True)
    message_ids = [message_id for outcome in outcomes for message_id in outcome.message_ids]
    if message_ids and current_app.config["MAIL_DELIVERY"] == "inline":
        report = outbox.deliver(ids=message_ids, limit=len(message_ids))
        click.echo(f"Sent {report.sent}, to retry {report.retrying + report.deferred}.", err=True)


def _verdict(value: bool | None) -> str:
    return {True: "matches", False: "DOES NOT MATCH", None: "cannot be checked"}[value]


@click.command("verify-lottery")
@click.argument("frame_id", type=int)
def verify_lottery_command(frame_id: int) -> None:
    """Recompute the draw of lottery frame FRAME_ID from its recorded seed and entries,
    and say whether it matches (exit status 1 when it does not)."""
    try:
        result = verify_draw(frame_id)
    except LotteryNotFound as error:
        raise click.ClickException(str(error.message)) from error
    draw = result.draw
    echo = click.echo
    echo(f"Frame {frame_id} of event {draw.event_id}, drawn {draw.drawn_at.isoformat()}.")
    echo(f"Seed: {draw.seed} ({len(draw.seed) * 4} bits)")
    echo(f"Entries: {len(draw.entry_ids)}; seats: {draw.seats}")
    echo(f"Recorded SHA-256 of the entry list: {draw.entries_sha256}")
    if result.digest is None:
        echo("Entry list: emptied by the personal-data purge; the digest cannot be recomputed.")
    else:
        echo(f"Recomputed SHA-256 of the recorded list: {result.digest}")
        echo(f"  digest: {_verdict(result.digest_matches)}")
        echo(f"  the list names the recorded entries: {_verdict(result.list_names_the_entries)}")
    echo(f"Audit log's seed and digest: {_verdict(result.audit_matches)}")
    echo(f"Drawn order recomputed: {', '.join(map(str, result.order)) or '(no entries)'}")
    echo(f"  order: {_verdict(result.order_matches)}")
    echo(f"  each entry's result (won / waiting list): {_verdict(result.results_match)}")
    if result.changed_since:
        changed = ", ".join(map(str, result.changed_since))
        echo(f"Addresses corrected since the draw (not part of the check): {changed}")
    if not result.matches:
        echo("Result: the draw DOES NOT MATCH its record.")
        raise SystemExit(1)
    echo("Result: the draw matches its record.")
