"""Built calendars kept in memory, keyed by their ETag.

Building a feed with icalendar costs about a millisecond per event, while
finding out whether it changed costs one small query. Many subscribers poll
without validators (or each with their own), so a process keeps the bytes it
built for an ETag and answers the next identical poll from memory. The ETag
covers every input of the bytes (see calendar.routes), so an entry can never
be stale: a change gives a new ETag and the old entry simply ages out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from flask import Flask, current_app

#: Upper bound of the bytes kept per process (a 300-event feed is about 240 kB).
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


class CalendarCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get_or_build(self, key: str, build: Callable[[], bytes]) -> bytes:
        with self._lock:
            data = self._entries.get(key)
            if data is not None:
                self._entries.move_to_end(key)
                return data
        data = build()  # outside the lock: another thread may build the same; both are equal
        if len(data) <= self.max_bytes:
            with self._lock:
                if key not in self._entries:
                    self._entries[key] = data
                    self._size += len(data)
                while self._size > self.max_bytes:
                    _, dropped = self._entries.popitem(last=False)
                    self._size -= len(dropped)
        return data

    def peek(self, key: str) -> bytes | None:
        """The bytes kept for ``key``, or None; never builds."""
        with self._lock:
            data = self._entries.get(key)
            if data is not None:
                self._entries.move_to_end(key)
            return data

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0


def calendar_cache(app: Flask | None = None) -> CalendarCache:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    cache = app.extensions.get("calendar_cache")
    if cache is None:
        cache = CalendarCache(app.config.get("CALENDAR_CACHE_MAX_BYTES", DEFAULT_MAX_BYTES))
        app.extensions["calendar_cache"] = cache
    return cache
