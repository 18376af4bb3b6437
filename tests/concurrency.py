"""Running the same service call from several threads at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from flask import Flask

from cluster_events.extensions import db

T = TypeVar("T")


def run_at_once(app: Flask, count: int, work: Callable[[], T], timeout: float = 120) -> list[T]:
    """Run ``work()`` in ``count`` threads, each with its own app context (and so its own
    database session), released together by a barrier. Returns the results; an error in
    any thread is raised here rather than lost."""
    barrier = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=timeout)
                try:
                    results.append(work())
                finally:
                    db.session.remove()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    if errors:
        raise errors[0]
    assert len(results) == count, "a thread did not finish in time"
    return results
