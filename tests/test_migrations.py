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
    # A category's upcoming events, read by their end like the catalogue's (0010).
    assert indexes["ix_event_category_ends_at"] == ["category_id", "ends_at"]
    unique = {tuple(c["column_names"]) for c in inspect(db.engine).get_unique_constraints("event")}
    unique |= {tuple(v) for k, v in indexes.items() if k.startswith("uq_")}
    assert ("slug",) in unique
