"""SQLite's writers wait for each other on a file lock (``database.SQLiteWriterQueue``),
held from before ``BEGIN IMMEDIATE`` until the commit or rollback has returned."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest

from cluster_events import database
from cluster_events.database import SQLiteWriterQueue, sqlite_database_path
from cluster_events.extensions import db
from cluster_events.models import Event
from cluster_events.transactions import write_transaction
from tests.factories import make_event


@pytest.fixture
def queue_file(app) -> Path:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's writers only; PostgreSQL locks rows")
    path = sqlite_database_path(db.engine)
    assert path is not None
    return Path(f"{path}-writers")


def held_elsewhere(queue_file: Path) -> bool:
    """Whether another open file (another worker) would have to wait for the queue."""
    descriptor = os.open(queue_file, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # closing drops a lock we took
    return False


def test_a_write_transaction_holds_the_queue_until_its_commit_has_returned(app, queue_file):
    event_id = make_event(slug="queued").id
    db.session.commit()
    with write_transaction(lock_event=event_id) as event:
        assert held_elsewhere(queue_file)
        event.title = "順番待ちの後で"
        with write_transaction():  # a nested block joins and does not queue again
            assert held_elsewhere(queue_file)
        assert held_elsewhere(queue_file)
    assert not held_elsewhere(queue_file)
    assert db.session.get(Event, event_id).title == "順番待ちの後で"


def test_a_rolled_back_transaction_leaves_the_queue(app, queue_file):
    make_event(slug="rolled-back")
    db.session.commit()
    with pytest.raises(RuntimeError), write_transaction():
        assert held_elsewhere(queue_file)
        raise RuntimeError("undo")
    assert not held_elsewhere(queue_file)


def test_the_next_writer_begins_only_after_the_first_has_committed(app, queue_file):
    """Two threads (two workers) write the same event: the second, queued while the
    first is inside, reads the first one's committed change when its turn comes."""
    event_id = make_event(slug="two-writers", title="前").id
    db.session.commit()
    seen: list[str] = []
    first_inside = threading.Event()
    second_started = threading.Event()

    def first() -> None:
        with app.app_context():
            with write_transaction(lock_event=event_id) as event:
                first_inside.set()
                assert second_started.wait(5)
                event.title = "一人目"
            db.session.remove()

    def second() -> None:
        with app.app_context():
            assert first_inside.wait(5)
            second_started.set()
            with write_transaction(lock_event=event_id) as event:
                seen.append(event.title)
                event.title = "二人目"
            db.session.remove()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert seen == ["一人目"]
    db.session.expire_all()
    assert db.session.get(Event, event_id).title == "二人目"


def test_one_thread_never_waits_for_itself(tmp_path):
    queue = SQLiteWriterQueue()
    path = str(tmp_path / "x.sqlite3")
    assert queue.enter(path)
    assert not queue.enter(path)  # a second session in the same thread: SQLite decides
    queue.leave()
    assert queue.enter(path)
    queue.leave()


def test_a_writer_that_waited_too_long_goes_on_to_sqlite(tmp_path, monkeypatch):
    monkeypatch.setattr(database, "WRITER_QUEUE_TIMEOUT_SECONDS", 0.05)
    path = str(tmp_path / "x.sqlite3")
    other_worker = os.open(f"{path}-writers", os.O_RDWR | os.O_CREAT)
    fcntl.flock(other_worker, fcntl.LOCK_EX)
    try:
        assert not SQLiteWriterQueue().enter(path)
    finally:
        os.close(other_worker)
    assert SQLiteWriterQueue().enter(path)


def test_only_sqlite_files_queue():
    from sqlalchemy import create_engine

    assert sqlite_database_path(create_engine("sqlite://")) is None
    assert sqlite_database_path(create_engine("sqlite:///:memory:")) is None
    assert sqlite_database_path(create_engine("postgresql+psycopg://x@h/db")) is None
    assert sqlite_database_path(create_engine("sqlite:///relative.sqlite3")) == os.path.abspath(
        "relative.sqlite3"
    )
