"""The public pages read without a transaction on PostgreSQL (no BEGIN and ROLLBACK
around a page answered from memory); a write in the same session still gets one."""

from __future__ import annotations

import pytest
from sqlalchemy import event as sa_event

from cluster_events.extensions import db
from cluster_events.models import Event
from cluster_events.transactions import read_without_transaction, write_transaction
from tests.factories import make_category, make_event


@pytest.fixture
def postgresql_only(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite keeps its read transaction (a snapshot, in-process)")


def autocommit_of_each_statement(app, send) -> list[tuple[str, bool]]:
    seen: list[tuple[str, bool]] = []

    def note(connection, cursor, statement, parameters, context, executemany):
        seen.append((statement.split()[0], connection.connection.dbapi_connection.autocommit))

    engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", note)
    try:
        send()
    finally:
        sa_event.remove(engine, "before_cursor_execute", note)
    return seen


@pytest.mark.parametrize(
    "path", ["/", "/events/past", "/events/open-seminar", "/categories/reading-category"]
)
def test_public_pages_read_each_statement_on_its_own(app, client, postgresql_only, path):
    make_event(slug="open-seminar", category=make_category(slug="reading-category"))
    db.session.commit()
    db.session.remove()
    response = None

    def send():
        nonlocal response
        response = client.get(path)

    seen = autocommit_of_each_statement(app, send)
    assert response.status_code in (200, 404)
    assert seen and all(autocommit for _, autocommit in seen), seen


def test_a_write_after_reading_without_a_transaction_has_its_own(app, postgresql_only):
    event_id = make_event(slug="write-after-read").id
    db.session.commit()
    db.session.remove()
    with app.test_request_context("/"):
        read_without_transaction()
        assert db.session.get(Event, event_id).title
        assert db.session.connection().connection.dbapi_connection.autocommit

        def write():
            with write_transaction(lock_event=event_id) as event:
                assert not db.session.connection().connection.dbapi_connection.autocommit
                event.title = "書き込みは取引の中で"

        seen = autocommit_of_each_statement(app, write)
        assert seen and not any(autocommit for _, autocommit in seen), seen
        db.session.remove()
    assert db.session.get(Event, event_id).title == "書き込みは取引の中で"


def test_the_sign_up_post_is_one_transaction_as_before(app, client, postgresql_only):
    from tests.test_registration_http import form

    make_event(slug="post-in-transaction")
    db.session.commit()
    db.session.remove()
    response = None

    def send():
        nonlocal response
        response = client.post("/events/post-in-transaction/register", data=form())

    seen = autocommit_of_each_statement(app, send)
    assert response.status_code == 303
    assert seen and not any(autocommit for _, autocommit in seen), seen
