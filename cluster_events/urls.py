"""The one builder of absolute URLs: from the configured SITE_URL and a Flask endpoint.

Emails, attached .ics files, feeds, QR codes and "add to calendar" links carry
absolute URLs that people open later, from elsewhere. They are never built from
the request (its Host or X-Forwarded-Host header can be forged, and a worker or
cron job has no request at all), nor written as paths by hand: the route decides.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from werkzeug.routing import MapAdapter


def absolute_url(endpoint: str, **values: Any) -> str:
    """``url_for(endpoint, **values)`` on the public site, e.g. https://events.example.org/..."""
    return site_url_adapter().build(endpoint, values, force_external=True)


def site_url_adapter() -> MapAdapter:
    """The app's routes bound to SITE_URL (host, path and scheme), not to a request."""
    site = urlsplit(current_app.config["SITE_URL"])
    return current_app.url_map.bind(
        site.netloc, script_name=site.path or "/", url_scheme=site.scheme or "https"
    )


def site_host(site_url: str) -> str:
    """The host name of ``site_url``, as TRUSTED_HOSTS wants it (no port)."""
    return urlsplit(site_url).hostname or ""


def site_root_url() -> str:
    """The public site's front page, as it appears in emails and calendar files."""
    return absolute_url("events.index")
