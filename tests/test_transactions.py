"""The one transaction helper and the one domain error: blocks nest and commit once,
any error undoes the whole change, and every domain error is a ServiceError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy import event as sa_event
from sqlalchemy.exc import DBAPIError

import cluster_events
from cluster_events.errors import NotFound, ServiceError
from cluster_events.extensions import db
from cluster_events.models import Event, Registration
from cluster_events.registration import services
from cluster_events.registration.services import RegistrationDetails
from cluster_events.transactions import EventNotFound, in_write_transaction, write_transaction
from tests.factories import make_event
from tests.records import outbox_kinds

PACKAGE_DIR = Path(cluster_events.__file__).parent


def committed_event(**values) -> Event:
    event = make_event(**values)
    db.session.commit()
    return event


def seen_from_elsewhere(app, statement: str) -> int:
    """What another connection (another worker) sees: only committed data."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            return connection.execute(text(statement)).scalar_one()
    finally:
        engine.dispose()


def person(number: int) -> RegistrationDetails:
    return RegistrationDetails(
        name=f"参加者{number}", name_kana="さんかしゃ", email=f"p{number}@example.org"
    )


def test_a_service_inside_another_transaction_joins_it_and_commits_once(app):
    event = committed_event(capacity=1)
    with write_transaction(lock_event=event.id) as locked:
        assert locked is not None and locked.id == event.id
        first = services.register(event.id, person(1)).registration
        second = services.register(event.id, person(2)).registration
        assert in_write_transaction()
        assert seen_from_elsewhere(app, "SELECT count(*) FROM registration") == 0
        services.cancel_registration(first.id)
    assert not in_write_transaction()
    assert seen_from_elsewhere(app, "SELECT count(*) FROM registration") == 2
    db.session.expire_all()
    assert db.session.get(Registration, second.id).status == "confirmed"
    assert outbox_kinds(second.id) == ["waitlisted", "promoted"]


def test_an_error_anywhere_undoes_the_whole_change(app):
    event = committed_event(capacity=5)
    with pytest.raises(RuntimeError), write_transaction():
        services.register(event.id, person(1))
        services.register(event.id, person(2))
        raise RuntimeError("the next step failed")
    assert not in_write_transaction()
    assert db.session.scalar(select(func.count(Registration.id))) == 0
    db.session.expire_all()
    assert db.session.get(Event, event.id).confirmed_count == 0
    assert seen_from_elsewhere(app, "SELECT count(*) FROM outbox_message") == 0


def test_a_refusal_inside_a_joined_service_undoes_the_outer_change_too(app):
    event = committed_event(capacity=5)
    with pytest.raises(services.AlreadyCancelled), write_transaction():
        first = services.register(event.id, person(1)).registration
        services.cancel_registration(first.id)
        services.cancel_registration(first.id)
    assert db.session.scalar(select(func.count(Registration.id))) == 0


def test_locking_an_unknown_event_is_not_found_and_leaves_no_transaction(app):
    with pytest.raises(EventNotFound) as missing, write_transaction(lock_event=2**31 - 1):
        pytest.fail("the block must not run")
    assert isinstance(missing.value, NotFound) and missing.value.http_status == 404
    assert not in_write_transaction()
    assert not db.session().in_transaction()  # the write lock was given back


def test_unsaved_changes_before_a_write_transaction_are_a_bug_not_lost_silently(app):
    event = committed_event()
    db.session.get(Event, event.id).title = "未保存"
    with pytest.raises(RuntimeError, match="unsaved changes"), write_transaction():
        pass
    db.session.rollback()  # the test's own cleanup, outside the app


def _checkouts(app) -> list[int]:
    taken: list[int] = []
    sa_event.listen(db.engine.pool, "checkout", lambda *args: taken.append(1))
    return taken


def test_a_write_after_reads_goes_on_in_the_same_postgresql_transaction(app, database_url):
    """On PostgreSQL (READ COMMITTED) the request's read transaction becomes the write
    transaction: no rollback, no second checkout and ping, no second BEGIN. SQLite
    must end it to take its write lock with BEGIN IMMEDIATE."""
    event_id = committed_event(capacity=5).id
    db.session.remove()
    taken = _checkouts(app)
    assert db.session.get(Event, event_id).capacity == 5  # the request reads first
    with write_transaction(lock_event=event_id) as locked:
        locked.capacity = 6
    assert len(taken) == (1 if database_url.startswith("postgresql") else 2)
    assert seen_from_elsewhere(app, f"SELECT capacity FROM event WHERE id = {event_id}") == 6


def test_the_write_sees_what_another_worker_committed_after_the_read(app):
    event = committed_event(capacity=5, title="旧題")
    event_id, venue_id = event.id, event.venue_id
    db.session.remove()
    read = db.session.get(Event, event_id)
    assert (read.title, read.venue.name) == ("旧題", "YRP事務所")
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as elsewhere:
        elsewhere.execute(text(f"UPDATE event SET title = '新題' WHERE id = {event_id}"))
        elsewhere.execute(text(f"UPDATE venue SET name = '新会場' WHERE id = {venue_id}"))
    engine.dispose()
    with write_transaction(lock_event=event_id) as locked:
        assert locked.title == "新題"
        assert locked.venue.name == "新会場"  # objects read before are read afresh


def test_a_failed_statement_before_the_write_does_not_spoil_it(app):
    event_id = committed_event(capacity=5).id
    db.session.remove()
    db.session.get(Event, event_id)
    with pytest.raises(DBAPIError):
        db.session.execute(text("SELECT CAST('x' AS INTEGER) + 1 FROM nowhere_at_all"))
    with write_transaction(lock_event=event_id) as locked:
        locked.capacity = 7
    assert seen_from_elsewhere(app, f"SELECT capacity FROM event WHERE id = {event_id}") == 7


def test_only_the_transaction_helper_rolls_back():
    offenders = [
        f"{path.relative_to(PACKAGE_DIR.parent)}:{number}"
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if path.name != "transactions.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\.rollback\(\)", line)
    ]
    assert offenders == []


def _domain_exceptions() -> list[type[BaseException]]:
    found = []
    for module_info in pkgutil.walk_packages(cluster_events.__path__, "cluster_events."):
        module = importlib.import_module(module_info.name)
        for _name, member in inspect.getmembers(module, inspect.isclass):
            if issubclass(member, Exception) and member.__module__ == module.__name__:
                found.append(member)
    return found


def test_every_error_the_app_defines_is_a_service_error():
    exceptions = _domain_exceptions()
    assert len(exceptions) >= 10  # the walk found the domain packages
    assert [e.__qualname__ for e in exceptions if not issubclass(e, ServiceError)] == []


def test_an_unhandled_refusal_is_the_error_page_with_its_status_and_message(app, client):
    @app.get("/_refuse")
    def refuse():
        raise ServiceError("予約の受付は終了しました。", http_status=409)

    response = client.get("/_refuse")
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "予約の受付は終了しました。" in page
    assert '<main id="main"' in page or "<main" in page
