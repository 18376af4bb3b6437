"""The Alembic chain builds, from an empty database, exactly the schema the models
describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from cluster_events.extensions import db
from cluster_events.models import Base


def _pending_changes() -> list:
    options = {"compare_type": True, "compare_server_default": False}
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=options)
        return compare_metadata(context, Base.metadata)


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_upgrade_from_empty_builds_the_models_schema(app):
    downgrade(revision="base")
    db.engine.dispose()
    assert _tables() <= {"alembic_version"}

    upgrade()
    db.engine.dispose()
    assert {table.name for table in Base.metadata.sorted_tables} <= _tables()
    assert _pending_changes() == []


def test_the_comparison_notices_a_difference(app):
    with db.engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_event_status_starts_at"))
    try:
        changes = _pending_changes()
        assert [change[0] for change in changes] == ["add_index"]
        assert changes[0][1].name == "ix_event_status_starts_at"
    finally:
        with db.engine.begin() as connection:
            connection.execute(
                text("CREATE INDEX ix_event_status_starts_at ON event (status, starts_at)")
            )


def test_indexes_for_the_catalogue_queries_exist(app):
    indexes = {
        index["name"]: index["column_names"] for index in inspect(db.engine).get_indexes("event")
    }
    assert indexes["ix_event_status_starts_at"] == ["status", "starts_at"]
    assert indexes["ix_event_category_starts_at"] == ["category_id", "starts_at"]
    assert indexes["ix_event_ends_at"] == ["ends_at"]  # upcoming vs past
    # Upcoming vs past with the visibility rule (SQLite's plan), the archive's order
    # (PostgreSQL's): `python -m bench --scale --explain` shows the plans.
    assert indexes["ix_event_status_ends_at"] == ["status", "ends_at", "is_members_only"]
    assert indexes["ix_event_starts_at_id"] == ["starts_at", "id"]
    # A category's upcoming events, read by their end like the catalogue's (0015).
    assert indexes["ix_event_category_ends_at"] == ["category_id", "ends_at"]
    unique = {tuple(c["column_names"]) for c in inspect(db.engine).get_unique_constraints("event")}
    unique |= {tuple(v) for k, v in indexes.items() if k.startswith("uq_")}
    assert ("slug",) in unique


def _stamp(day: int, hour: int = 5):
    from datetime import UTC, datetime

    value = datetime(2026, 12, day, hour, 0, tzinfo=UTC)
    return value.replace(tzinfo=None) if db.engine.dialect.name == "sqlite" else value


def _insert_before_frames(connection) -> None:
    """Two events as revision 0010 kept them: one full with a waiting list, one without
    a seat limit; registrations of each status, and emails that name them."""
    from sqlalchemy import MetaData, Table

    tables = MetaData()
    table = {
        name: Table(name, tables, autoload_with=connection)
        for name in ("category", "event", "registration", "outbox_message")
    }
    connection.execute(
        table["category"].insert(),
        [{"id": 1, "slug": "seminar", "name_ja": "セミナー", "name_en": "Seminars",
          "sort_order": 1, "updated_at": _stamp(1)}],
    )  # fmt: skip
    events = []
    for number, (capacity, confirmed, waiting) in enumerate(((2, 2, 2), (None, 1, 0)), start=1):
        events.append(
            {"id": number, "slug": f"event-{number}", "title": f"説明会{number}", "title_en": "",
             "category_id": 1, "summary": "", "body": "", "starts_at": _stamp(20),
             "ends_at": _stamp(20, 7), "online_url": "", "capacity": capacity,
             "fee_text": "無料", "accepts_registrations": True, "status": "published",
             "is_members_only": False, "cancellation_reason": "", "uid": f"{number}@example.org",
             "sequence": 0, "confirmed_count": confirmed, "waiting_count": waiting,
             "created_at": _stamp(1), "updated_at": _stamp(2), "content_updated_at": _stamp(2)}
        )  # fmt: skip
    connection.execute(table["event"].insert(), events)
    people = [(1, "confirmed", None), (1, "confirmed", None), (1, "waiting", 1),
              (1, "waiting", 2), (1, "cancelled", None), (2, "confirmed", None)]  # fmt: skip
    connection.execute(
        table["registration"].insert(),
        [
            {"id": number, "event_id": event_id, "status": status,
             "waiting_position": position, "name": f"参加者{number}", "name_kana": "さんかしゃ",
             "email": f"p{number}@example.org", "email_normalized": f"p{number}@example.org",
             "organization": "", "job_title": "", "phone": "", "member_type": "general",
             "remarks": "", "locale": "ja", "token_salt": f"{number:032x}",
             "token_hash": f"{number:064x}", "source": "web", "organizer_note": "",
             "created_at": _stamp(3), "updated_at": _stamp(3), "member_link": "none"}
            for number, (event_id, status, position) in enumerate(people, start=1)
        ],
    )  # fmt: skip
    connection.execute(
        table["outbox_message"].insert(),
        [
            {"kind": "confirmation", "event_id": 1, "registration_id": number,
             "recipient": f"p{number}@example.org", "subject": "確認", "body_text": "",
             "body_html": "", "attachments": [], "status": "sent", "attempts": 1,
             "deferrals": 0, "next_attempt_at": _stamp(3), "last_error": "",
             "created_at": _stamp(3)}
            for number in (1, 2, 3)
        ],
    )  # fmt: skip
    if connection.dialect.name == "postgresql":  # the ids were given: move the sequences on
        for name in ("category", "event", "registration"):
            connection.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), max(id)) FROM {name}")
            )


def test_upgrade_to_frames_puts_every_event_and_registration_in_one_frame(app):
    """Revision 0011 with data in it: each event gets one frame with its capacity and
    counters, each registration is in it with its waiting position kept, the emails that
    name registrations survive SQLite's table copy, and the rules work on the result."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import IntegrityError

    from cluster_events.models import (
        DEFAULT_FRAME_NAMES,
        Event,
        Frame,
        OutboxMessage,
        Registration,
    )
    from cluster_events.registration import services

    downgrade(revision="0010")
    db.engine.dispose()
    with db.engine.begin() as connection:
        _insert_before_frames(connection)
    upgrade()
    db.engine.dispose()
    assert _pending_changes() == []

    frames = {frame.event_id: frame for frame in db.session.scalars(select(Frame))}
    assert set(frames) == {1, 2}
    full, open_ended = frames[1], frames[2]
    assert (full.name_ja, full.name_en) == DEFAULT_FRAME_NAMES
    assert (full.capacity, full.confirmed_count, full.waiting_count) == (2, 2, 2)
    assert (open_ended.capacity, open_ended.confirmed_count, open_ended.waiting_count) == (
        None,
        1,
        0,
    )
    assert (full.fee_text, full.eligibility, full.registration_opens_at) == (None, "anyone", None)
    assert all(event.frame_count == 1 for event in db.session.scalars(select(Event)))
    placed = {
        r.id: (r.frame_id, r.status, r.waiting_position)
        for r in db.session.scalars(select(Registration))
    }
    assert placed == {
        1: (full.id, "confirmed", None),
        2: (full.id, "confirmed", None),
        3: (full.id, "waiting", 1),
        4: (full.id, "waiting", 2),
        5: (full.id, "cancelled", None),
        6: (open_ended.id, "confirmed", None),
    }
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 3

    # The one-active-registration-per-address index is still partial after the copy.
    with app.test_request_context():
        services.cancel_registration(1, notify=False)
    db.session.expire_all()
    assert db.session.get(Registration, 3).status == "confirmed"  # promoted in its frame
    assert db.session.get(Registration, 4).waiting_position == 1
    again = services.register(1, services.RegistrationDetails("再登録", "さい", "p1@example.org"))
    assert again.created and again.status == "waiting"
    twice = Registration(
        **{
            key: getattr(db.session.get(Registration, 6), key)
            for key in ("event_id", "frame_id", "status", "name", "name_kana", "email")
        },
        email_normalized="p6@example.org",
        token_salt="x" * 32,
        token_hash="y" * 64,
    )
    db.session.add(twice)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
    else:
        raise AssertionError("a second active registration for the same address was stored")


def test_upgrade_to_companions_counts_each_frames_waiting_parties(app):
    """Revision 0017 with data in it: every registration so far is a party of one, each
    frame's waiting parties are its waiting registrations (so a new one lines up after
    them), and no frame takes companions or needs approval."""
    from sqlalchemy import select

    from cluster_events.models import Frame, Registration
    from cluster_events.registration import services

    downgrade(revision="0010")
    db.engine.dispose()
    with db.engine.begin() as connection:
        _insert_before_frames(connection)
    upgrade(revision="0016")
    db.engine.dispose()
    upgrade()
    db.engine.dispose()
    assert _pending_changes() == []

    frames = {frame.event_id: frame for frame in db.session.scalars(select(Frame))}
    assert [(f.waiting_count, f.waiting_parties) for f in (frames[1], frames[2])] == [
        (2, 2),
        (0, 0),
    ]
    assert {(f.max_companions, f.requires_approval) for f in frames.values()} == {(0, False)}
    assert set(db.session.scalars(select(Registration.party_size))) == {1}
    assert set(db.session.scalars(select(Registration.decided_at))) == {None}
    newcomer = services.register(1, services.RegistrationDetails("新規", "しんき", "n@example.org"))
    assert (newcomer.status, newcomer.waiting_position) == ("waiting", 3)
