"""The answer to a calendar request: 304 when the client's copy is current, else the
calendar (built at most once per ETag and process), with its validators. Shared by
the public feeds and the members' private ones, which differ in ``Cache-Control``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Response, current_app, request

from cluster_events.calendar import ical, links
from cluster_events.calendar.cache import calendar_cache
from cluster_events.calendar.conditional import http_last_modified, is_not_modified


def feed_locale() -> str:
    """A feed's language comes from the URL only (?lang=en), never from cookies or
    Accept-Language, so one URL always means the same bytes and caches need no Vary."""
    requested = request.args.get("lang")
    if requested in current_app.config["LANGUAGES"]:
        return requested
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def site_parts() -> tuple[str, ...]:
    """The settings that show in every calendar, for the ETags."""
    config = current_app.config
    return (
        config["SITE_URL"],
        config["SITE_NAME"],
        config["SITE_NAME_EN"],
        config["SITE_CONTACT_EMAIL"],
    )


def calendar_response(
    *,
    etag: str,
    modified: datetime | None,
    build: Callable[[], bytes],
    filename: str,
    fallback_filename: str,
    cache_control: str,
) -> Response:
    """200 with the calendar, or 304 when the client's copy is current. The calendar
    is only built for a 200, and only once per ETag and process, so the ETag must
    cover every input of the bytes."""
    last_modified = http_last_modified(modified)
    if is_not_modified(request, etag, last_modified):
        response = Response(status=304)
    else:
        body = calendar_cache().get_or_build(etag, build)
        response = Response(body, content_type=ical.CONTENT_TYPE)
        response.headers["Content-Disposition"] = links.content_disposition(
            filename, fallback_filename
        )
    response.headers["ETag"] = etag
    if last_modified is not None:
        response.last_modified = last_modified
    response.headers["Cache-Control"] = cache_control
    return response
