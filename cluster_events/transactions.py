"""The one way to change data: ``with write_transaction(): ...``.

A write transaction starts by taking SQLite's write lock up front (``BEGIN
IMMEDIATE``; PostgreSQL needs nothing at this point), optionally locks one event
row (``SELECT ... FOR UPDATE``), commits when the block ends and rolls back when
anything is raised out of it. Blocks nest: a service called inside another
service's transaction joins it, so one change and everything it causes (a
promotion, its email, the audit entry) commit together or not at all.

Every change to an event's registrations, seat counters or capacity locks the
event row first (``lock_event=``), so two gunicorn workers never count the same
seat. This is the only module that rolls a session back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask_babel import lazy_gettext as _l
from psycopg.pq import TransactionStatus
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from cluster_events.database import SQLITE_BEGIN_OPTION
from cluster_events.errors import NotFound
from cluster_events.extensions import db
from cluster_events.models import Event

_DEPTH_KEY = "write_transaction_depth"


class EventNotFound(NotFound):
    default_message = _l("This event could not be found.")


@contextmanager
def write_transaction(*, lock_event: int | None = None) -> Iterator[Event | None]:
    """Run the block in one write transaction; yields the locked event, if one was asked for.

    ``lock_event`` (an event id) locks that event's row for the rest of the
    transaction, read afresh with its participation frames (``Event.frames``, whose
    rows are locked too); an unknown id raises EventNotFound. Inside an outer
    ``write_transaction`` the block joins it: only the outermost block commits,
    and an error raised out of an inner block rolls back the whole transaction
    when it leaves the outermost one.
    """
    session = db.session()
    depth = session.info.get(_DEPTH_KEY, 0)
    if depth == 0:
        _begin(session)
    session.info[_DEPTH_KEY] = depth + 1
    try:
        event = _lock_event(session, lock_event) if lock_event is not None else None
        yield event
        if depth == 0:
            session.commit()
    except BaseException:
        if depth == 0:
            session.rollback()
        raise
    finally:
        if depth == 0:
            session.info.pop(_DEPTH_KEY, None)
        else:
            session.info[_DEPTH_KEY] = depth


def in_write_transaction() -> bool:
    return db.session().info.get(_DEPTH_KEY, 0) > 0


def end_read_transaction() -> None:
    """End the read-only transaction a request or worker has open (it holds no changes),
    so that nothing is held open while waiting on something slow, such as a mail server,
    and the next read sees the latest committed data."""
    session = db.session()
    if in_write_transaction():
        raise RuntimeError("end_read_transaction() inside write_transaction()")
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("end_read_transaction() with unsaved changes")
    session.rollback()


def _begin(session: Session) -> None:
    """Start a transaction that may write, taking SQLite's write lock up front.

    On SQLite a deferred transaction that reads and later writes can fail with
    "database is locked" when another process wrote in between; ``BEGIN
    IMMEDIATE`` waits for the lock (busy_timeout) instead. Any read-only
    transaction already open is ended first; it must not hold unsaved changes.

    On PostgreSQL at READ COMMITTED every statement sees what is committed when it
    runs, so a read-only transaction in good order goes on as the write transaction,
    with every object read afresh: ending it would give the connection back to the
    pool and take it out again (a rollback, a ping and a BEGIN: three round trips).
    """
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("write_transaction() started with unsaved changes")
        if _reads_in_read_committed(session):
            session.expire_all()
            return
        session.rollback()
    session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})


def _reads_in_read_committed(session: Session) -> bool:
    """A PostgreSQL transaction at READ COMMITTED that has read and not failed."""
    if session.get_bind().dialect.name != "postgresql" or not session.is_active:
        return False
    connection = session.connection()
    if connection.invalidated:
        return False
    level = connection.get_execution_options().get("isolation_level")
    if (level or connection.default_isolation_level) != "READ COMMITTED":
        return False
    status = connection.connection.dbapi_connection.info.transaction_status
    return status == TransactionStatus.INTRANS  # not INERROR: a statement failed


#: Built once: the lock is taken by every change to an event's registrations. The
#: frames come in the same statement (every event has one at least), and are locked
#: with the event: on PostgreSQL at READ COMMITTED a statement that waited for a lock
#: sees the newest version of the rows it locked, and only of those, so frames read
#: without their lock could hold counters from before the wait. The event row is
#: locked first (it comes first in FROM), so two of these never deadlock. A frame
#: added meanwhile by the office is not among them: the console's frame services read
#: the frames again (events/frames.py).
_LOCK_EVENT = (
    select(Event)
    .options(joinedload(Event.frames, innerjoin=True))
    .where(Event.id == bindparam("event_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


def _lock_event(session: Session, event_id: int) -> Event:
    event = session.execute(_LOCK_EVENT, {"event_id": event_id}).unique().scalar_one_or_none()
    if event is None:
        raise EventNotFound()
    return event
