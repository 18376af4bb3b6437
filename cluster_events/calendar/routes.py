"""Calendar feeds, per-event .ics downloads and the subscription page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import segno
from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import gettext as _

from cluster_events.calendar import ical, links, queries
from cluster_events.calendar.cache import calendar_cache
from cluster_events.calendar.conditional import http_last_modified, is_not_modified, strong_etag
from cluster_events.calendar.queries import FeedVersion
from cluster_events.i18n import current_locale
from cluster_events.models import Category
from cluster_events.urls import absolute_url

bp = Blueprint("calendar", __name__)

# Every poll revalidates (no-cache) and the validators make that cheap: a 304
# costs one small aggregate query. A max-age would let browsers, Apple Calendar
# (which honours HTTP caching) and proxies show a moved or cancelled event for
# minutes after the change; "public" still lets a shared cache store the feed.
FEED_CACHE_CONTROL = "public, no-cache"


def _feed_locale() -> str:
    """The feed's language comes from the URL only (?lang=en), never from cookies or
    Accept-Language, so one URL always means the same bytes and caches need no Vary."""
    requested = request.args.get("lang")
    if requested in current_app.config["LANGUAGES"]:
        return requested
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _site_parts() -> tuple[str, ...]:
    config = current_app.config
    return (
        config["SITE_URL"],
        config["SITE_NAME"],
        config["SITE_NAME_EN"],
        config["SITE_CONTACT_EMAIL"],
    )


def _calendar_response(
    *,
    etag: str,
    modified: datetime | None,
    build: Callable[[], bytes],
    filename: str,
    fallback_filename: str,
) -> Response:
    """200 with the calendar, or 304 when the client's copy is current. The calendar
    is only built for a 200, and only once per ETag and process."""
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
    response.headers["Cache-Control"] = FEED_CACHE_CONTROL
    return response


def _feed_response(category: Category | None, version: FeedVersion, since: datetime) -> Response:
    locale = _feed_locale()
    name = ical.calendar_name(category, locale)
    etag = strong_etag(
        "feed",
        locale,
        category.id if category else "",
        name,
        *_site_parts(),
        version.count,
        version.id_sum,
        version.sequence_sum,
        version.last_modified,
    )

    def build() -> bytes:
        return ical.events_to_ical(queries.feed_events(category, since), name=name, locale=locale)

    fallback = f"{category.slug}.ics" if category else "calendar.ics"
    return _calendar_response(
        etag=etag,
        modified=version.last_modified,
        build=build,
        filename=f"{name}.ics",
        fallback_filename=fallback,
    )


@bp.get("/calendar.ics")
def feed():
    """Every published public event from 180 days ago onward, cancelled ones marked."""
    since = queries.feed_window_start()
    return _feed_response(None, queries.feed_version(since), since)


@bp.get("/calendar/<slug>.ics")
def category_feed(slug: str):
    """One category's events, same window and rules as the full feed."""
    since = queries.feed_window_start()
    found = queries.category_feed_version(slug, since)
    if found is None:
        abort(404)
    category, version = found
    return _feed_response(category, version, since)


@bp.get("/events/<slug>.ics")
def event_ics(slug: str):
    """One event as a file to open in a calendar program."""
    event = queries.public_event_for_ics(slug)
    if event is None:
        abort(404)
    locale = _feed_locale()
    modified = ical.last_modified(event)
    etag = strong_etag(
        "event", locale, event.id, event.uid, event.sequence, modified, *_site_parts()
    )
    return _calendar_response(
        etag=etag,
        modified=modified,
        build=lambda: ical.event_to_ical(event, locale=locale),
        filename=f"{event.display_title(locale)}.ics",
        fallback_filename=ical.ics_filename(event),
    )


@dataclass(frozen=True)
class Subscription:
    """One subscribable feed as the calendar page shows it."""

    title: str
    https_url: str
    webcal_url: str


def _subscription(title: str, endpoint: str, **values: str) -> Subscription:
    if current_locale() != current_app.config["BABEL_DEFAULT_LOCALE"]:
        values["lang"] = current_locale()
    https_url = absolute_url(endpoint, **values)
    return Subscription(title, https_url, links.webcal_url(https_url))


def _qr_svg(url: str) -> str:
    qr = segno.make(url, error="m", micro=False)
    return qr.svg_inline(
        scale=4,
        dark="#000",
        light="#fff",
        title=_("QR code to subscribe to the calendar"),
        svgclass="qr-code",
        lineclass=None,
    )


@bp.get("/calendar")
def subscribe():
    """How to subscribe: webcal link, the URL for Google Calendar, a QR code for phones."""
    locale = current_locale()
    everything = _subscription(ical.calendar_name(None, locale), "calendar.feed")
    per_category = [
        _subscription(category.name(locale), "calendar.category_feed", slug=category.slug)
        for category in queries.categories_with_feeds()
    ]
    return render_template(
        "calendar/subscribe.html",
        everything=everything,
        per_category=per_category,
        qr_svg=_qr_svg(everything.webcal_url),
    )


@bp.app_context_processor
def _calendar_link_helpers() -> dict[str, object]:
    def calendar_links(event):
        return links.calendar_links(event, current_locale())

    return {"calendar_links": calendar_links}
