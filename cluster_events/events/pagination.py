"""Where a page of a public list starts: at the top, or after or before one event.

The catalogue and the archive are paged by a cursor (keyset pagination), not by a page
number: a page holds the events that come after (or before) one event in the list's
order, (starts_at, id), so reading a page costs the same on the 500th page as on the
first, and an event that ends or is added does not shift every later page by one.

A cursor is written in the address as ``20261205T050000Z_123`` (the event's start in
UTC, with ``.ffffff`` when it has microseconds, and its id): readable, and made of
characters that need no escaping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

#: The largest id PostgreSQL's INTEGER holds; a larger one cannot name an event.
MAX_EVENT_ID = 2**31 - 1
_CURSOR = re.compile(r"([0-9]{8}T[0-9]{6})(?:\.([0-9]{6}))?Z_([1-9][0-9]{0,9})")


@dataclass(frozen=True)
class Cursor:
    """One event's place in a list: its start and its id (which orders events that
    start at the same moment)."""

    starts_at: datetime
    event_id: int

    def __str__(self) -> str:
        moment = self.starts_at.astimezone(UTC)
        text = f"{moment.year:04d}{moment:%m%dT%H%M%S}"  # %Y leaves out zeros before 1000
        if moment.microsecond:
            text += f".{moment.microsecond:06d}"
        return f"{text}Z_{self.event_id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor written as ``text``; ValueError when it is not one."""
        match = _CURSOR.fullmatch(text)
        if match is None:
            raise ValueError(f"not a cursor: {text[:40]!r}")
        moment, fraction, event_id = match.groups()
        starts_at = datetime.strptime(moment, "%Y%m%dT%H%M%S").replace(
            microsecond=int(fraction or 0), tzinfo=UTC
        )
        if int(event_id) > MAX_EVENT_ID:
            raise ValueError(f"not an event id: {event_id}")
        return cls(starts_at, int(event_id))


@dataclass(frozen=True)
class Position:
    """Which page of a list is asked for: the first (no cursor), the one after
    ``cursor`` (the next page) or, with ``backwards``, the one before it."""

    cursor: Cursor | None = None
    backwards: bool = False

    @property
    def is_first(self) -> bool:
        return self.cursor is None


FIRST_PAGE = Position()
