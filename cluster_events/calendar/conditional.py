"""HTTP validators for feeds: a strong ETag and Last-Modified computed from the
data, and the check that answers a poll with 304 before anything is built."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from flask import Request
from werkzeug.http import parse_date, parse_etags

#: Raise when the iCalendar output changes for the same data (new properties,
#: other wording), so that clients holding an old ETag get the new format.
FEED_FORMAT_VERSION = "2"


def strong_etag(*parts: object) -> str:
    """A quoted strong ETag. Strong is right because the bytes are a pure function
    of these parts: DTSTAMP comes from the data, never from the clock."""
    digest = hashlib.sha256(
        "\x1f".join([FEED_FORMAT_VERSION, *map(str, parts)]).encode()
    ).hexdigest()
    return f'"{digest[:32]}"'


def http_last_modified(value: datetime | None) -> datetime | None:
    """HTTP dates have whole seconds. Two changes within one second look the same
    to If-Modified-Since, which is why the ETag decides whenever a client sends one."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0)


def is_not_modified(request: Request, etag: str, last_modified: datetime | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present (weak comparison, lists
    and ``*``); otherwise If-Modified-Since. Unparseable headers count as absent."""
    return answers_not_modified(
        request.method,
        request.headers.get("If-None-Match"),
        request.headers.get("If-Modified-Since"),
        etag,
        last_modified,
    )


def answers_not_modified(
    method: str,
    if_none_match: str | None,
    if_modified_since: str | None,
    etag: str,
    last_modified: datetime | None,
) -> bool:
    """``is_not_modified`` from the header values themselves (calendar.polls has no
    Flask request)."""
    if method not in ("GET", "HEAD"):
        return False
    if if_none_match == etag:  # what a calendar program sends back: no parsing needed
        return True
    tags = parse_etags(if_none_match)
    if tags:
        return tags.star_tag or tags.contains_weak(etag.strip('"'))
    if if_modified_since is None or last_modified is None:
        return False
    try:
        since = parse_date(if_modified_since)
    except (ValueError, OverflowError):
        return False
    if since is None:
        return False
    return last_modified <= since
