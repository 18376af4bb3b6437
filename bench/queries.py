"""SQL statements per request, counted in-process with the test client (the same rule as
the tests' ``count_queries``: BEGIN, PRAGMA and SAVEPOINT are not counted)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

_NOT_COUNTED = ("BEGIN", "PRAGMA", "SAVEPOINT")


@dataclass
class Statements:
    #: (SQL, parameters) as sent to the driver.
    sent: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.sent)


@contextmanager
def counting() -> Iterator[Statements]:
    """Every statement any engine of this process sends meanwhile."""
    statements = Statements()

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if not statement.lstrip().upper().startswith(_NOT_COUNTED):
            statements.sent.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def counted(client: FlaskClient, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """One request, and how many statements it sent."""
    with counting() as statements:
        response = client.open(path, method=method, **kwargs)
    return statements.count, response


def per_request(app: Flask, path: str, *, expect: int = 200, **kwargs: Any) -> str:
    """Statements of a second GET of ``path`` by a new visitor, e.g. "2", and the first
    one's in brackets where it differs (a cache filling): "2 (first 4)"."""
    counts = []
    for _ in range(2):
        count, response = counted(app.test_client(), "GET", path, **kwargs)
        if response.status_code != expect:
            raise RuntimeError(f"{path} answered {response.status_code} in-process")
        counts.append(count)
    first, warm = counts
    return str(warm) if first == warm else f"{warm} (first {first})"
