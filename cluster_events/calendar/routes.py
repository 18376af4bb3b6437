"""Calendar feeds, per-event .ics downloads and the subscription page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, Response, abort, current_app, render_template
from flask_babel import gettext as _

from cluster_events.calendar import ical, links, polls, queries
from cluster_events.calendar.conditional import strong_etag
from cluster_events.calendar.queries import FeedIdentity, FeedVersion
from cluster_events.calendar.responses import calendar_response, feed_locale, site_parts
from cluster_events.i18n import current_locale, language_from_url
from cluster_events.urls import absolute_url

bp = Blueprint("calendar", __name__)

# Every poll revalidates (no-cache) and the validators make that cheap: a 304
# costs one read of one row (calendar.polls answers it before Flask). A max-age
# would let browsers, Apple Calendar (which honours HTTP caching) and proxies show
# a moved or cancelled event for minutes after the change; "public" still lets a
# shared cache store the feed.
FEED_CACHE_CONTROL = "public, no-cache"


def _feed_response(feed: FeedIdentity, version: FeedVersion, since: datetime) -> Response:
    locale = feed_locale()
    etag = strong_etag(
        "feed",
        locale,
        feed.category_id or "",
        feed.name,
        *site_parts(),
        version.token,
        version.first_start,
    )

    def build() -> bytes:
        events = queries.feed_events(feed.category_id, since)
        return ical.events_to_ical(events, name=feed.name, locale=locale)

    response = calendar_response(
        etag=etag,
        modified=version.last_modified,
        build=build,
        filename=f"{feed.name}.ics",
        fallback_filename=feed.fallback_filename,
        cache_control=FEED_CACHE_CONTROL,
    )
    polls.offer(locale, feed, version, etag)
    return response


@bp.get("/calendar.ics")
@language_from_url
def feed():
    """Every published public event from 180 days ago onward, cancelled ones marked."""
    since = queries.feed_window_start()
    if known := polls.known_offer(feed_locale(), ""):
        return _feed_response(known.feed, known.version, since)
    name = ical.calendar_name(None, feed_locale())
    everything = FeedIdentity(None, "", name, "calendar.ics")
    return _feed_response(everything, queries.feed_version(since), since)


@bp.get("/calendar/<slug>.ics")
@language_from_url
def category_feed(slug: str):
    """One category's events, same window and rules as the full feed."""
    since = queries.feed_window_start()
    if known := polls.known_offer(feed_locale(), slug):
        return _feed_response(known.feed, known.version, since)
    found = queries.category_feed_version(slug, since)
    if found is None:
        abort(404)
    category, version = found
    name = ical.calendar_name(category, feed_locale())
    one_category = FeedIdentity(category.id, slug, name, f"{category.slug}.ics")
    return _feed_response(one_category, version, since)


@bp.get("/events/<slug>.ics")
@language_from_url
def event_ics(slug: str):
    """One event as a file to open in a calendar program."""
    event = queries.public_event_for_ics(slug)
    if event is None:
        abort(404)
    locale = feed_locale()
    modified = ical.last_modified(event)
    etag = strong_etag(
        "event", locale, event.id, event.uid, event.sequence, modified, *site_parts()
    )
    return calendar_response(
        etag=etag,
        modified=modified,
        build=lambda: ical.event_to_ical(event, locale=locale),
        filename=f"{event.display_title(locale)}.ics",
        fallback_filename=ical.ics_filename(event),
        cache_control=FEED_CACHE_CONTROL,
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
    return links.qr_svg(url, _("QR code to subscribe to the calendar"))


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
