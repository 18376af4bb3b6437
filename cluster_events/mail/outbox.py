"""Delivering the outbox: after the request (MAIL_DELIVERY = "inline") or by
`flask mail-worker` (MAIL_DELIVERY = "worker"), with retries and backoff.

How a message is sent at most once, even with several workers on several hosts:
a worker *claims* due rows in a short write transaction (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, SQLite's ``BEGIN IMMEDIATE`` write lock otherwise),
marking them ``sending`` with a lease (``locked_until``) and counting the
attempt, and commits before it talks to the mail server. Only the holder of the
lease marks the row ``sent``. A worker that dies mid-send leaves its rows
``sending``; they become claimable again once the lease has expired, so a crash
can at worst send a message twice (with the same Message-ID), never lose it.
"""

from __future__ import annotations

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
from sqlalchemy import and_, event, or_, select, update
from sqlalchemy.orm import Session

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
    retrying: int = 0
    failed: int = 0

    def add(self, other: DeliveryReport) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retrying += other.retrying
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
            if row.status == OutboxStatus.sending and row.attempts >= _max_attempts():
                _give_up(row, "the last attempt did not finish (worker stopped?)")
                continue
            row.status = OutboxStatus.sending
            row.locked_until = lease
            row.attempts += 1
            claimed.append((row.id, lease))
    return claimed


def _send_claimed(
    claimed: list[tuple[int, datetime]], timeout: float, deadline: float, now: datetime | None
) -> DeliveryReport:
    """Send the claimed messages over one connection, reconnecting once it drops.

    A message is marked sent only when the server accepted it. When the connection
    cannot be opened (or opened again after it dropped), every message not yet
    tried is released for a later attempt rather than "sent" on a dead connection.
    """
    report = DeliveryReport()
    connection, connect_error = _connect(timeout)
    pending = list(claimed)
    try:
        while pending:
            if connection is None:
                log.warning(
                    "mail server unreachable (%s); %d messages wait", connect_error, len(pending)
                )
                for message_id, lease in pending:
                    report.add(_record_failure(message_id, lease, connect_error, now))
                break
            message_id, lease = pending.pop(0)
            try:
                outcome = _send_one(connection, message_id, lease, deadline)
            except (smtplib.SMTPServerDisconnected, OSError) as error:
                report.add(_record_failure(message_id, lease, error, now))
                _close(connection)
                connection, connect_error = _connect(timeout)
            except smtplib.SMTPException as error:
                report.add(_record_failure(message_id, lease, error, now))
            except Exception as error:  # a message that cannot even be built
                log.exception("outbox message %s could not be sent", message_id)
                report.add(_record_failure(message_id, lease, error, now))
            else:
                if outcome == "sent":
                    report.sent += 1
                elif outcome == "failed":
                    report.failed += 1
    finally:
        if connection is not None:
            _close(connection)
    return report


def _send_one(
    connection: TimedConnection, message_id: int, lease: datetime, deadline: float
) -> str:
    """Send one claimed message; "sent", "failed" (no address to send to) or "skipped"
    (the claim was lost, or the batch ran out of time)."""
    row = db.session.get(OutboxMessage, message_id)
    if row is None or row.locked_until != lease or time.monotonic() > deadline:
        end_read_transaction()
        return "skipped"
    if _is_reserved_address(row.recipient):  # e.g. personal data deleted meanwhile
        with write_transaction():
            _give_up(db.session.get(OutboxMessage, message_id), "no deliverable address")
        return "failed"
    mail = OutboxMail(row)
    end_read_transaction()  # no transaction open while talking to the server
    connection.send(mail)
    _record_sent(message_id, lease)
    log.info("outbox message %s sent", message_id)
    return "sent"


def _connect(timeout: float) -> tuple[TimedConnection | None, Exception | None]:
    connection = TimedConnection(timeout)
    try:
        connection.__enter__()
    except (smtplib.SMTPException, OSError) as error:
        return None, error
    return connection, None


def _close(connection: TimedConnection) -> None:
    connection.__exit__(None, None, None)


def _record_sent(message_id: int, lease: datetime) -> None:
    with write_transaction():
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.locked_until == lease)
            .values(status=OutboxStatus.sent, sent_at=utcnow(), locked_until=None, last_error="")
        )


def _record_failure(
    message_id: int, lease: datetime, error: Exception, now: datetime | None
) -> DeliveryReport:
    report = DeliveryReport()
    with write_transaction():
        row = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.locked_until == lease)
            .with_for_update()
        ).first()
        if row is None:
            return report
        description = _describe(error)
        if _is_permanent(error) or row.attempts >= _max_attempts():
            _give_up(row, description)
            report.failed += 1
            log.warning("outbox message %s failed for good: %s", message_id, description)
        else:
            row.status = OutboxStatus.queued
            row.locked_until = None
            row.last_error = description
            row.next_attempt_at = (now or utcnow()) + retry_delay(row.attempts)
            report.retrying += 1
            log.info("outbox message %s not sent (%s); retrying later", message_id, description)
    return report


def _give_up(row: OutboxMessage, description: str) -> None:
    row.status = OutboxStatus.failed
    row.locked_until = None
    row.last_error = description


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed try."""
    config = current_app.config
    base = config.get("MAIL_RETRY_BASE_SECONDS", RETRY_BASE_SECONDS)
    cap = config.get("MAIL_RETRY_MAX_SECONDS", RETRY_MAX_SECONDS)
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


def _is_permanent(error: Exception) -> bool:
    """A 5xx answer (bad address, message refused) will not get better by retrying."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in error.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(error, smtplib.SMTPResponseException):
        return 500 <= error.smtp_code < 600
    return False


def _is_reserved_address(address: str) -> bool:
    domain = address.rpartition("@")[2].lower()
    return domain == "invalid" or domain.endswith(".invalid")


def _describe(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        return f"{error.smtp_code} {text}"[:1000]
    return f"{type(error).__name__}: {error}"[:1000]


def _max_attempts() -> int:
    return int(current_app.config.get("MAIL_MAX_ATTEMPTS", 8))


def _lease_seconds(batch: int) -> float:
    """Long enough for the whole batch to time out once, message by message."""
    return max(300.0, _mail_timeout() * (batch + 1) * 2)


def _mail_timeout() -> float:
    return float(current_app.config.get("MAIL_TIMEOUT", 10))


def _inline_timeout() -> float:
    """Inline delivery holds a web worker after the response: wait less for the server
    (MAIL_INLINE_TIMEOUT, by default MAIL_TIMEOUT but at most 5 seconds)."""
    return float(current_app.config.get("MAIL_INLINE_TIMEOUT") or min(_mail_timeout(), 5.0))


# --- for the console and the worker ----------------------------------------------------


def retry_message(message_id: int) -> OutboxMessage:
    """Put a failed message back in the queue for a fresh series of attempts.

    Commits. Raises MessageNotFound for an unknown id and MessageNotRetryable when
    the message is not failed (sent ones are never sent again).
    """
    with write_transaction():
        row = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update()
        ).first()
        if row is None:
            raise MessageNotFound()
        if row.status != OutboxStatus.failed:
            raise MessageNotRetryable()
        row.status = OutboxStatus.queued
        row.attempts = 0
        row.next_attempt_at = utcnow()
        row.locked_until = None
    if has_request_context():
        g.setdefault("outbox_committed_ids", []).append(message_id)
    return row


def run_worker(
    *, once: bool = False, interval: float = 5.0, batch: int = DEFAULT_BATCH_SIZE
) -> DeliveryReport:
    """Deliver due messages until stopped (SIGTERM/SIGINT finish the current batch);
    with ``once``, until nothing is due."""
    total = DeliveryReport()
    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    try:
        while not stop.is_set():
            report = deliver_due(limit=batch)
            total.add(report)
            db.session.remove()
            if report.claimed:
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
