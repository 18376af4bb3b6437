"""Delivering the outbox: after the request (MAIL_DELIVERY = "inline") or by
`flask mail-worker` (MAIL_DELIVERY = "worker"), with retries and backoff.

How a message is sent at most once, even with several workers on several hosts:
a worker *claims* due rows in a short write transaction (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, SQLite's ``BEGIN IMMEDIATE`` write lock otherwise),
marking them ``sending`` with a lease (``locked_until``, MAIL_LEASE_SECONDS) and
counting the attempt, and commits before it talks to the mail server. Only the
holder of the lease marks the row ``sent``, and only after the server accepted
the message's DATA.

The at-least-once window: between the server's "250 OK" to DATA and the commit
of the ``sent`` mark, the server has the message and the outbox does not know it.
If the worker dies there (killed, the database gone), or the connection drops
after the server took the message but before its answer arrived, the row goes
back to the queue (at once, or when its lease expires) and the message is sent
again, with the same Message-ID, so the copies are recognisable as one message.
Outside that window a message is never sent twice and never lost.

What a failure leads to is decided by ``classify``: a failure of the server or
the session puts the messages back uncounted, with a backoff that grows with
each such failure (``deferrals``) and no limit; a message's own temporary
failure is retried with backoff up to MAIL_MAX_ATTEMPTS tries; a permanent one
fails it at once. ``requeue`` (the console, `flask mail-retry`) puts failed
messages back.
"""

from __future__ import annotations

import enum
import logging
import signal
import smtplib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context
from flask_mail import BadHeaderError
from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from cluster_events.audit import record_change
from cluster_events.database import utcnow
from cluster_events.errors import Conflict, NotFound
from cluster_events.extensions import db
from cluster_events.mail.messages import OutboxMail, TimedConnection
from cluster_events.models import OutboxMessage, OutboxStatus
from cluster_events.transactions import end_read_transaction, write_transaction

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 20
#: First retry after a minute, then 2, 4, 8 ... minutes, never more than six hours apart.
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 6 * 3600
_PENDING_KEY = "outbox_flushed_ids"


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    #: Messages whose own try failed for now (4xx, could not be built): counted, retried.
    retrying: int = 0
    #: Messages put back because the server or the session failed: not counted.
    deferred: int = 0
    failed: int = 0

    def add(self, other: DeliveryReport) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retrying += other.retrying
        self.deferred += other.deferred
        self.failed += other.failed


class MessageNotFound(NotFound, LookupError):
    """retry_message() was given an unknown id."""


class MessageNotRetryable(Conflict):
    """retry_message() was given a message that is not failed."""


# --- remembering what a request queued --------------------------------------------


@event.listens_for(Session, "after_flush")
def _collect_new_messages(session: Session, flush_context: Any) -> None:
    ids = [obj.id for obj in session.new if isinstance(obj, OutboxMessage)]
    if ids:
        session.info.setdefault(_PENDING_KEY, []).extend(ids)


@event.listens_for(Session, "after_attach")
def _collect_messages_written_now(session: Session, instance: object) -> None:
    """A message written by ``transactions.insert_now`` (no flush) is attached with its
    id already: the only way a stored message comes into a session without a query."""
    if isinstance(instance, OutboxMessage) and instance.id is not None:
        session.info.setdefault(_PENDING_KEY, []).append(instance.id)


@event.listens_for(Session, "after_commit")
def _remember_committed_messages(session: Session) -> None:
    ids = session.info.pop(_PENDING_KEY, None)
    if ids and has_request_context():
        g.setdefault("outbox_committed_ids", []).extend(ids)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back_messages(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def _deliver_after_response(response: Response) -> Response:
    ids = g.pop("outbox_committed_ids", None)
    if ids and current_app.config["MAIL_DELIVERY"] == "inline":
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        response.call_on_close(lambda: _deliver_inline(app, ids))
    return response


def _deliver_inline(app: Flask, ids: list[int]) -> None:
    """Runs once the response has gone out; must never raise into the server."""
    try:
        with app.app_context():
            deliver(ids=ids, limit=len(ids), timeout=_inline_timeout())
    except Exception:
        log.exception("inline delivery of outbox messages %s failed; the worker will retry", ids)


def init_app(app: Flask) -> None:
    app.after_request(_deliver_after_response)


# --- claiming and sending ----------------------------------------------------------


def deliver_due(limit: int = DEFAULT_BATCH_SIZE, now: datetime | None = None) -> DeliveryReport:
    """Claim up to ``limit`` due messages and send them."""
    return deliver(limit=limit, now=now)


def deliver(
    *,
    ids: Iterable[int] | None = None,
    limit: int = DEFAULT_BATCH_SIZE,
    now: datetime | None = None,
    timeout: float | None = None,
) -> DeliveryReport:
    """Claim due messages (only those in ``ids`` if given) and send them, waiting at
    most ``timeout`` seconds (default MAIL_TIMEOUT) for each answer of the server."""
    timeout = _mail_timeout() if timeout is None else timeout
    started = time.monotonic()
    claimed = claim(ids=ids, limit=limit, now=now)
    report = DeliveryReport(claimed=len(claimed))
    if claimed:
        # Stop short of the lease: past it, another worker may be sending the same rows.
        deadline = started + _lease_seconds(limit) - timeout
        report.add(_send_claimed(claimed, timeout, deadline, now))
    return report


def claim(
    *,
    ids: Iterable[int] | None = None,
    limit: int = DEFAULT_BATCH_SIZE,
    now: datetime | None = None,
) -> list[tuple[int, datetime]]:
    """Mark due messages as ``sending`` under a lease and commit; returns (id, lease)."""
    now = now or utcnow()
    lease = now + timedelta(seconds=_lease_seconds(limit))
    due = or_(
        and_(OutboxMessage.status == OutboxStatus.queued, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == OutboxStatus.sending, OutboxMessage.locked_until < now),
    )
    query = select(OutboxMessage).where(due)
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(list(ids)))
    query = (
        query.order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = []
    with write_transaction():
        for row in db.session.scalars(query).all():
            if row.status == OutboxStatus.sending:
                log.warning("outbox message %s: its last try did not finish", row.id)
                if row.attempts >= _max_attempts():
                    _give_up(row, "the last attempt did not finish (worker stopped?)")
                    continue
            row.status = OutboxStatus.sending
            row.locked_until = lease
            row.attempts += 1
            claimed.append((row.id, lease))
    return claimed


class Fault(enum.Enum):
    """Whose failure an error of delivery is, which decides what happens next."""

    #: The mail server or the session: every message waits, none is charged with it.
    session = "session"
    #: This message, for now (4xx, or it could not be built): retried, counted.
    temporary = "temporary"
    #: This message, for good (5xx about its recipient or its content): failed.
    permanent = "permanent"


#: Answers about the session whichever command they follow: the server is closing
#: (421), TLS or authentication is unavailable (454) or refused (530, 534, 535, 538).
SESSION_CODES = frozenset({421, 454, 530, 534, 535, 538})


def classify(error: BaseException) -> Fault:
    """Decide whether ``error`` is the session's fault or this message's.

    - Connecting, EHLO, STARTTLS and AUTH (refused, timeout, TLS errors, 421, 454,
      535 and every other authentication failure), a dropped connection, and any
      answer not tied to one message: **session**. The message goes back to the
      queue with backoff and nothing is counted against it, so a rotated password
      or a certificate problem never fails the queue.
    - MAIL FROM refused (``SMTPSenderRefused``): our sender or session is wrong, the
      same for every message: **session**; except 552 (the SIZE we declared is over
      the server's limit), which is about this message: **permanent**.
    - RCPT refused (``SMTPRecipientsRefused``): an answer about this message's one
      recipient. 5xx (550, 551, 553: no such user, not here, bad address):
      **permanent**; 4xx (mailbox busy, greylisting): **temporary**.
    - DATA refused (``SMTPDataError``): the server read this message and refused it.
      A 5xx (552 too big, 554 or 550 refused as spam or by policy) will not change
      on a retry: **permanent**, shown in the console, where the office can send it
      again once the cause is fixed; a 4xx: **temporary**. 503 (commands out of
      sequence) is the session's.
    - A header with a line break in it (``BadHeaderError``): **permanent**.
    - Anything else (for example a message that cannot be built): **temporary**, so
      that it goes once the cause is fixed, up to MAIL_MAX_ATTEMPTS tries.
    """
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in error.recipients.values()]
        if not codes or any(code in SESSION_CODES for code in codes):
            return Fault.session
        return Fault.permanent if all(500 <= code < 600 for code in codes) else Fault.temporary
    if isinstance(error, smtplib.SMTPResponseException) and error.smtp_code in SESSION_CODES:
        return Fault.session
    if isinstance(error, smtplib.SMTPSenderRefused):
        return Fault.permanent if error.smtp_code == 552 else Fault.session
    if isinstance(error, smtplib.SMTPDataError):
        if error.smtp_code == 503:
            return Fault.session
        return Fault.permanent if 500 <= error.smtp_code < 600 else Fault.temporary
    if isinstance(error, smtplib.SMTPException | OSError):
        return Fault.session
    if isinstance(error, BadHeaderError):  # a line break in a header: never sendable
        return Fault.permanent
    return Fault.temporary


def _send_claimed(
    claimed: list[tuple[int, datetime]], timeout: float, deadline: float, now: datetime | None
) -> DeliveryReport:
    """Send the claimed messages over one connection.

    A message is marked sent only after the server accepted its DATA. A failure of
    the server or the session (see ``classify``) puts the message being sent back in
    the queue uncounted; the connection is opened once more, and when that fails
    too, every message not yet tried goes back as well. A message's own failure is
    recorded against it and the batch goes on.
    """
    report = DeliveryReport()
    pending = list(claimed)
    connection: TimedConnection | None = None
    reconnects_left = 1
    try:
        while pending:
            if connection is not None and connection.is_full:
                _close(connection)
                connection = None
            if connection is None:
                try:
                    connection = _connect(timeout)
                except Exception as error:
                    report.deferred += _defer(pending, error, now, connecting=True)
                    break
            message_id, lease = pending.pop(0)
            try:
                outcome = _send_one(connection, message_id, lease, deadline)
            except Exception as error:
                fault = classify(error)
                if fault is Fault.session:
                    report.deferred += _defer([(message_id, lease)], error, now)
                    _close(connection)
                    connection = None
                    if not reconnects_left:
                        report.deferred += _defer(pending, error, now)
                        break
                    reconnects_left -= 1
                    continue
                if not isinstance(error, smtplib.SMTPException):
                    log.exception("outbox message %s could not be sent", message_id)
                    _close(connection)  # the session may be mid-command: start afresh
                    connection = None
                report.add(_record_failure(message_id, lease, error, fault, now))
            else:
                if outcome == "sent":
                    report.sent += 1
                elif outcome == "failed":
                    report.failed += 1
                elif outcome == "skipped":  # out of time: back to the queue, due now
                    _release([(message_id, lease), *pending])
                    break
                elif outcome == "unrecorded":  # the database is failing: stop here
                    _release_quietly(pending)
                    break
    finally:
        if connection is not None:
            _close(connection)
    return report


def _send_one(
    connection: TimedConnection, message_id: int, lease: datetime, deadline: float
) -> str:
    """Send one claimed message; "sent", "failed" (no address to send to), "skipped"
    (the batch ran out of time), "lost" (another worker holds it now) or "unrecorded"
    (sent, but the database would not take the mark)."""
    row = db.session.get(OutboxMessage, message_id)
    if row is None or row.locked_until != lease:
        end_read_transaction()
        return "lost"
    if time.monotonic() > deadline:
        end_read_transaction()
        return "skipped"
    if _is_reserved_address(row.recipient):  # e.g. personal data deleted meanwhile
        with write_transaction():
            _give_up(db.session.get(OutboxMessage, message_id), "no deliverable address")
        return "failed"
    mail = OutboxMail(row)
    end_read_transaction()  # no transaction open while talking to the server
    mail.as_bytes()  # a message that cannot be built fails here, before the server sees it
    connection.send(mail)
    # Until the commit below, the server has the message and the outbox does not
    # know it: a crash here sends it again later (the at-least-once window).
    try:
        _record_sent(message_id, lease)
    except Exception:
        log.exception(
            "outbox message %s was accepted by the mail server but could not be marked "
            "sent; it will be sent again (same Message-ID) once its lease expires",
            message_id,
        )
        return "unrecorded"
    log.info("outbox message %s sent", message_id)
    return "sent"


def _connect(timeout: float) -> TimedConnection:
    connection = TimedConnection(timeout)
    connection.__enter__()
    return connection


def _close(connection: TimedConnection) -> None:
    connection.__exit__(None, None, None)


def _record_sent(message_id: int, lease: datetime) -> None:
    now = utcnow()
    with write_transaction():
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.locked_until == lease)
            .values(
                status=OutboxStatus.sent,
                sent_at=now,
                last_attempt_at=now,
                locked_until=None,
                last_error="",
            )
        )


def _claimed_rows(claims: list[tuple[int, datetime]]) -> list[OutboxMessage]:
    """The rows of ``claims`` still held under their lease, locked."""
    leases = dict(claims)
    rows = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(list(leases)))
        .order_by(OutboxMessage.id)
        .with_for_update()
    )
    return [row for row in rows if row.locked_until == leases[row.id]]


def _uncount(row: OutboxMessage) -> None:
    """Give a claimed row back, undoing the attempt ``claim`` counted for it."""
    row.attempts = max(row.attempts - 1, 0)
    row.status = OutboxStatus.queued
    row.locked_until = None


def _defer(
    claims: list[tuple[int, datetime]],
    error: BaseException,
    now: datetime | None,
    *,
    connecting: bool = False,
) -> int:
    """Put messages back after a failure of the server or the session, uncounted, with
    a backoff that grows with each such failure, and say so loudly. Returns how many."""
    if not claims:
        return 0
    now = now or utcnow()
    description = _describe(error)
    with write_transaction():
        rows = _claimed_rows(claims)
        for row in rows:
            _uncount(row)
            row.deferrals += 1
            row.last_error = description
            row.last_attempt_at = now
            row.next_attempt_at = now + retry_delay(row.deferrals)
        next_try = min((row.next_attempt_at for row in rows), default=now)
    if rows:
        log.error(
            "%s (%s): %d messages put back in the queue, not counted as attempts; next try in %s",
            "no session with the mail server" if connecting else "mail session failed",
            description,
            len(rows),
            next_try - now,
        )
    return len(rows)


def _release(claims: list[tuple[int, datetime]]) -> None:
    """Give claimed messages back untried: due at once, not counted, no backoff."""
    if claims:
        with write_transaction():
            for row in _claimed_rows(claims):
                _uncount(row)


def _release_quietly(claims: list[tuple[int, datetime]]) -> None:
    try:
        _release(claims)
    except Exception:
        log.exception("could not give back claimed outbox messages; their lease will expire")


def _record_failure(
    message_id: int, lease: datetime, error: Exception, fault: Fault, now: datetime | None
) -> DeliveryReport:
    """Record a failure of this message itself (``Fault.temporary`` or ``permanent``)."""
    report = DeliveryReport()
    now = now or utcnow()
    description = _describe(error)
    with write_transaction():
        rows = _claimed_rows([(message_id, lease)])
        if not rows:
            return report
        (row,) = rows
        row.last_attempt_at = now
        if fault is Fault.permanent or row.attempts >= _max_attempts():
            _give_up(row, description)
            report.failed += 1
            log.warning("outbox message %s failed for good: %s", message_id, description)
        else:
            row.status = OutboxStatus.queued
            row.locked_until = None
            row.last_error = description
            row.next_attempt_at = now + retry_delay(row.attempts)
            report.retrying += 1
            log.warning("outbox message %s not sent (%s); retrying later", message_id, description)
    return report


def _give_up(row: OutboxMessage, description: str) -> None:
    row.status = OutboxStatus.failed
    row.locked_until = None
    row.last_error = description


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed try (or deferral)."""
    config = current_app.config
    base = float(config.get("MAIL_RETRY_BASE_SECONDS", RETRY_BASE_SECONDS))
    cap = float(config.get("MAIL_RETRY_MAX_SECONDS", RETRY_MAX_SECONDS))
    return timedelta(seconds=min(base * 2 ** min(max(attempts - 1, 0), 32), cap))


def _is_reserved_address(address: str) -> bool:
    domain = address.rpartition("@")[2].lower()
    return domain == "invalid" or domain.endswith(".invalid")


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        code, reply = next(iter(error.recipients.values()))
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        return f"{code} {text}"[:1000]
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        return f"{error.smtp_code} {text}"[:1000]
    return f"{type(error).__name__}: {error}"[:1000]


def _max_attempts() -> int:
    return int(current_app.config.get("MAIL_MAX_ATTEMPTS", 8))


def _lease_seconds(batch: int) -> float:
    """MAIL_LEASE_SECONDS, or long enough for the whole batch to time out once, message
    by message. A worker killed mid-batch holds its rows this long."""
    configured = current_app.config.get("MAIL_LEASE_SECONDS")
    if configured:
        return float(configured)
    return max(300.0, _mail_timeout() * (batch + 1) * 2)


def _mail_timeout() -> float:
    return float(current_app.config.get("MAIL_TIMEOUT", 10))


def _inline_timeout() -> float:
    """Inline delivery holds a web worker after the response: wait less for the server
    (MAIL_INLINE_TIMEOUT, by default MAIL_TIMEOUT but at most 5 seconds)."""
    return float(current_app.config.get("MAIL_INLINE_TIMEOUT") or min(_mail_timeout(), 5.0))


# --- for the console and the command line ---------------------------------------------


def failed_messages(
    *, event_id: int | None = None, kind: str | None = None, limit: int = 500
) -> list[OutboxMessage]:
    """Messages that failed for good, the most recent first, with their event."""
    query = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.failed)
    if event_id is not None:
        query = query.where(OutboxMessage.event_id == event_id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    return list(
        db.session.scalars(
            query.options(selectinload(OutboxMessage.event))
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def count_failed(*, event_id: int | None = None) -> int:
    query = select(func.count()).where(OutboxMessage.status == OutboxStatus.failed)
    if event_id is not None:
        query = query.where(OutboxMessage.event_id == event_id)
    return db.session.scalar(query) or 0


def failed_kinds() -> list[str]:
    """The kinds that have failed messages, for a filter."""
    return list(
        db.session.scalars(
            select(OutboxMessage.kind)
            .where(OutboxMessage.status == OutboxStatus.failed)
            .distinct()
            .order_by(OutboxMessage.kind)
        )
    )


def requeue(
    *,
    ids: Iterable[int] | None = None,
    event_id: int | None = None,
    kind: str | None = None,
    include_waiting: bool = False,
) -> list[int]:
    """Put failed messages back in the queue, due now, for a fresh series of attempts
    (their last error stays as history until the next try). With
    ``include_waiting``, messages waiting for a retry after a temporary failure are
    made due now too, keeping their attempts. Messages that were sent, or that a
    worker is sending, are never touched.

    Commits, with one audit entry per event (``event.message_retry``; ``mail.retry``
    for messages of no event). Returns the ids put back.
    """
    statuses = [OutboxStatus.failed]
    if include_waiting:
        statuses.append(OutboxStatus.queued)
    query = select(OutboxMessage).where(OutboxMessage.status.in_(statuses))
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(list(ids)))
    if event_id is not None:
        query = query.where(OutboxMessage.event_id == event_id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    now = utcnow()
    by_event: dict[int | None, list[int]] = {}
    with write_transaction():
        for row in db.session.scalars(query.order_by(OutboxMessage.id).with_for_update()):
            if row.status == OutboxStatus.queued and row.next_attempt_at <= now:
                continue  # already due
            if row.status == OutboxStatus.failed:
                row.attempts = 0
            row.status = OutboxStatus.queued
            row.deferrals = 0
            row.next_attempt_at = now
            row.locked_until = None
            by_event.setdefault(row.event_id, []).append(row.id)
        for message_event_id, message_ids in by_event.items():
            after = {"messages": ",".join(str(i) for i in message_ids)}
            if message_event_id is None:
                record_change("mail.retry", "outbox", None, after=after)
            else:
                record_change(
                    "event.message_retry",
                    "event",
                    message_event_id,
                    event_id=message_event_id,
                    after=after,
                )
    requeued = sorted(i for message_ids in by_event.values() for i in message_ids)
    if requeued and has_request_context():
        g.setdefault("outbox_committed_ids", []).extend(requeued)
    return requeued


def retry_message(message_id: int) -> OutboxMessage:
    """Put one failed message back in the queue (see ``requeue``).

    Raises MessageNotFound for an unknown id and MessageNotRetryable when the
    message is not failed (sent ones are never sent again).
    """
    if db.session.get(OutboxMessage, message_id) is None:
        raise MessageNotFound()
    end_read_transaction()
    if not requeue(ids=[message_id]):
        raise MessageNotRetryable()
    row = db.session.get(OutboxMessage, message_id)
    assert row is not None
    return row


def run_worker(
    *, once: bool = False, interval: float = 5.0, batch: int = DEFAULT_BATCH_SIZE
) -> DeliveryReport:
    """Deliver due messages until stopped (SIGTERM/SIGINT finish the current batch);
    with ``once``, until nothing is due or the mail server is unavailable.

    A round stops early when the server or the session fails (the messages went back
    with backoff); an unexpected error (the database away) is logged and the worker
    tries again after ``interval``.
    """
    total = DeliveryReport()
    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    try:
        while not stop.is_set():
            try:
                report = deliver_due(limit=batch)
            except Exception:
                if once:
                    raise
                log.exception("delivering the outbox failed; trying again in %ss", interval)
                report = DeliveryReport()
            finally:
                db.session.remove()
            total.add(report)
            if report.claimed and not report.deferred:
                continue
            if once:
                break
            stop.wait(interval)
    finally:
        _restore_handlers(previous)
    return total


def _install_stop_handlers(stop: threading.Event) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, lambda *_args: stop.set())
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
