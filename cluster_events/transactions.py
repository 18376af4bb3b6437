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

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask_babel import lazy_gettext as _l
from psycopg.pq import TransactionStatus
from sqlalchemy import CTE, Insert, Row, Select, Table, bindparam, insert, inspect, select
from sqlalchemy.orm import Session, joinedload, make_transient_to_detached

from cluster_events.database import (
    SQLITE_BEGIN_OPTION,
    Base,
    sqlite_database_path,
    sqlite_writer_queue,
)
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
    rows are locked too); an unknown id raises EventNotFound (``lock_event_row`` for a
    service that reads more in the same query). Inside an outer
    ``write_transaction`` the block joins it: only the outermost block commits,
    and an error raised out of an inner block rolls back the whole transaction
    when it leaves the outermost one.
    """
    session = db.session()
    depth = session.info.get(_DEPTH_KEY, 0)
    queued = False
    if depth == 0:
        queued = _enter_writer_queue(session)
        try:
            _begin(session)
        except BaseException:
            if queued:
                sqlite_writer_queue.leave()
            raise
    session.info[_DEPTH_KEY] = depth + 1
    try:
        event = None
        if lock_event is not None:
            event = lock_event_row(_LOCK_EVENT, {"event_id": lock_event})[0]
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
            if queued:
                sqlite_writer_queue.leave()
        else:
            session.info[_DEPTH_KEY] = depth


def _enter_writer_queue(session: Session) -> bool:
    """On a SQLite file, wait for this writer's turn (``database.SQLiteWriterQueue``)."""
    path = sqlite_database_path(session.get_bind())
    return path is not None and sqlite_writer_queue.enter(path)


def read_without_transaction() -> None:
    """For a request that only reads (the public pages): on PostgreSQL each of its
    statements runs on its own (autocommit), without the BEGIN and the ROLLBACK around
    them, two of the four round trips of a page answered from memory. At READ COMMITTED
    every statement sees what was committed when it ran, in a transaction or not, so
    nothing read differs; a ``write_transaction`` afterwards starts a transaction of its
    own as always. SQLite keeps its read transaction (one snapshot; in-process, so it
    costs next to nothing)."""
    session = db.session()
    if session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


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


def lock_event_row(statement: Select[Any], values: dict[str, Any]) -> Row[Any]:
    """The event lock, for a service that reads something more in the same query: run
    ``statement`` (from ``lock_event_statement``: the event with its frames, locked and
    read afresh, then the columns asked for) as the first statement of a
    ``write_transaction()`` and return its row; EventNotFound when there is none."""
    rows = db.session.execute(statement, values).unique().all()
    if not rows:
        raise EventNotFound()
    return rows[0]


def lock_event_statement(*columns: Any, slug: bool = False) -> Select[Any]:
    """The event lock's query with ``columns`` after the event, by ``:event_id`` or, with
    ``slug``, by the ``:slug`` of a published or cancelled event (for ``lock_event_row``).

    The frames come in the same statement (every event has one at least), and are
    locked with the event: on PostgreSQL at READ COMMITTED a statement that waited for
    a lock sees the newest version of the rows it locked, and only of those, so frames
    read without their lock could hold counters from before the wait. The event row is
    locked first (it comes first in FROM), so two of these never deadlock. A frame
    added meanwhile by the office is not among them: the console's frame services read
    the frames again (events/frames.py). ``columns`` may be scalar subqueries (not in
    FROM, so not locked)."""
    where = (
        (Event.slug == bindparam("slug"), Event.visible_where(viewer_is_member=True))
        if slug
        else (Event.id == bindparam("event_id"),)
    )
    return (
        select(Event, *columns)
        .options(joinedload(Event.frames, innerjoin=True))
        .where(*where)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


#: Built once: the lock is taken by every change to an event's registrations.
_LOCK_EVENT = lock_event_statement()


def insert_now(
    instance: Base, along: tuple[CTE, ...] = (), parameters: Mapping[str, Any] | None = None
) -> None:
    """Write a new (transient or pending) object with one INSERT now, and keep it in
    the session as if it had been read: the row the session's flush would write, the
    columns' Python defaults included, without the unit of work's cost.

    For the rows every visitor makes (a sign-up and its email). Relationships are not
    written: set the foreign keys. Afterwards every column attribute is loaded, nothing
    is pending, and a later change is an UPDATE as for any object read.

    ``along``: data-modifying CTEs (PostgreSQL only) run in the same statement, with
    their ``parameters`` (named apart from the table's columns): one round trip for
    several writes.
    """
    session = db.session()
    if instance in session:
        session.expunge(instance)
    table = instance.__table__
    statement, columns = _inserts.get((table, along)) or _insert_for(table, along)
    loaded = inspect(instance).dict
    for key, default in columns:
        if key not in loaded:
            loaded[key] = _python_default(default)
    if along:
        values = {_ROW_PARAMETER + key: loaded[key] for key, _ in columns}
        values.update(parameters or {})
    else:
        values = {key: loaded[key] for key, _ in columns}
    result = session.connection().execute(statement, values)
    # With CTEs SQLAlchemy does not add its RETURNING of the key: the statement asks.
    primary_key = result.one() if along else result.inserted_primary_key
    for column, key in zip(table.primary_key.columns, primary_key, strict=True):
        loaded[column.key] = key
    make_transient_to_detached(instance)
    session.add(instance)


#: Per table and CTEs along: its INSERT and (column key, Python default) of every
#: column it writes.
_inserts: dict[tuple[Table, tuple[CTE, ...]], tuple[Insert, list[tuple[str, Any]]]] = {}


#: With CTEs, the row's values are bound under other names than its columns': a
#: parameter named like a column of a CTE's table would join that UPDATE's SET.
_ROW_PARAMETER = "row_"


def _insert_for(table: Table, along: tuple[CTE, ...]) -> tuple[Insert, list[tuple[str, Any]]]:
    written = [column for column in table.columns if not column.primary_key]
    columns = [(column.key, column.default) for column in written]
    statement = insert(table)
    if along:
        statement = statement.values(
            {
                column.key: bindparam(_ROW_PARAMETER + column.key, type_=column.type)
                for column in written
            }
        )
        statement = statement.returning(*table.primary_key.columns).add_cte(*along)
    _inserts[table, along] = (statement, columns)
    return _inserts[table, along]


def _python_default(default: Any) -> Any:
    if default is None:
        return None
    if default.is_callable:
        return default.arg(None)
    return default.arg
