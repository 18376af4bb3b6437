"""Database plumbing shared by every domain: the declarative base, a UTC datetime
type that behaves the same on SQLite and PostgreSQL, and SQLite's transaction
handling (``BEGIN IMMEDIATE`` for writes; see cluster_events.transactions)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, event

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes, stored in UTC.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so values are
    stored as naive UTC and given their zone back on load. Naive values are
    refused: they are always a bug in the caller.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give it a time zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


SQLITE_BEGIN_OPTION = "sqlite_begin"


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy, not the driver, decide when transactions begin (see _begin_sqlite).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_sqlite(connection: Any) -> None:
    if connection.dialect.name != "sqlite":
        return
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return  # each statement on its own (calendar.polls): a BEGIN would pin a snapshot
    mode = options.get(SQLITE_BEGIN_OPTION, "")
    connection.exec_driver_sql(f"BEGIN {mode}".strip())


#: How long a writer waits in the queue before it goes on to SQLite's own lock (whose
#: busy timeout then applies): as long as that timeout.
WRITER_QUEUE_TIMEOUT_SECONDS = 30.0
#: The queue is polled at most this far apart (SQLite's own busy handler sleeps 1, 2,
#: 5, 10 ... ms between tries).
_WRITER_QUEUE_MAX_SLEEP = 0.0005


class SQLiteWriterQueue:
    """Writers of one SQLite file wait for each other on a file lock, not in SQLite.

    SQLite's busy handler sleeps 1 ms, then 2, then 5, then 10 ... between tries for the
    write lock, so two gunicorn workers signing people up at once spend much of their
    time asleep while the lock is free. Before ``BEGIN IMMEDIATE`` a write transaction
    takes an exclusive ``flock`` on ``<database>-writers`` and keeps it until its commit
    or rollback has returned; the next writer is let in within half a millisecond.

    SQLite's lock still decides correctness: the queue only orders the processes and
    threads of this app (one open file per thread, so threads exclude each other too),
    and whatever does not queue (a migration, ``sqlite3`` by hand) waits in SQLite as
    before. A thread that already holds the queue does not queue again (a second session
    in the same thread would wait for itself), and a writer that has waited
    ``WRITER_QUEUE_TIMEOUT_SECONDS`` goes on without it. The kernel drops the lock of a
    process that dies.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def enter(self, database_path: str) -> bool:
        """Wait for the turn of this thread; False when it did not queue."""
        local = self._local
        if getattr(local, "held", None) is not None:
            return False
        files: dict[str, int] = local.__dict__.setdefault("files", {})
        descriptor = files.get(database_path)
        if descriptor is None:
            try:
                descriptor = os.open(f"{database_path}-writers", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                return False
            files[database_path] = descriptor
        deadline = time.monotonic() + WRITER_QUEUE_TIMEOUT_SECONDS
        pause = 0.00005
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, _WRITER_QUEUE_MAX_SLEEP)
                continue
            local.held = descriptor
            return True

    def leave(self) -> None:
        descriptor = getattr(self._local, "held", None)
        if descriptor is None:
            return
        self._local.held = None
        fcntl.flock(descriptor, fcntl.LOCK_UN)


sqlite_writer_queue = SQLiteWriterQueue()


def sqlite_database_path(engine: Engine) -> str | None:
    """The file of a SQLite engine, or None (another database, memory, a URI)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or fcntl is None:
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return os.path.abspath(database)


#: PostgreSQL error classes that mean the connection is gone: connection exceptions,
#: and the server shutting this session down (pg_terminate_backend, a restart, a
#: crash of another backend) or not yet accepting connections.
DISCONNECT_SQLSTATES = ("08", "57P01", "57P02", "57P03")


@event.listens_for(Engine, "handle_error")
def _detect_server_shutdown(context: Any) -> None:
    """psycopg reports a terminated session as an error of the statement while its
    socket still looks open, so SQLAlchemy would keep the dead connection and fail
    again on the ROLLBACK that ends the request. Marked as a disconnect, the
    connection (and the rest of the pool) is thrown away and replaced."""
    sqlstate = getattr(context.original_exception, "sqlstate", None) or ""
    if sqlstate.startswith(DISCONNECT_SQLSTATES):
        context.is_disconnect = True


def render_migration_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write UTCDateTime into migrations as a plain timestamptz, so that migration
    files do not import application code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False
