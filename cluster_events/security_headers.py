"""Security headers on every response: what a page may load, who may frame it, what the
browser may guess, send onward and switch on.

One ``after_request`` rather than flask-talisman: the policy is a handful of fixed
strings, flask-talisman has had no release since 1.1.0 (August 2023), and its other
features (redirecting to HTTPS from the request's scheme, per-view nonces) are the
proxy's job here or unwanted (no page has an inline script to allow).

Every header is set only when the view has not set it itself, so one view can relax
or tighten a policy for its own response.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request

#: No inline script or style anywhere: every script and style sheet is a file in static/.
#: ``data:`` images only for the empty favicon of base.html.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ]
)
#: Nothing on the site uses these. The check-in page needs no camera: the staff scan the
#: QR code with the phone's own camera app, which opens the check-in URL.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
)
#: A year, without includeSubDomains: other hosts of the association's domain may
#: still be plain HTTP, and this site cannot know.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"
DEFAULT_REFERRER_POLICY = "same-origin"
#: For pages whose address is a secret (a personal link, a check-in code, a private feed).
TOKEN_URL_REFERRER_POLICY = "no-referrer"

View = TypeVar("View", bound=Callable[..., Any])


def token_in_url(view: View) -> View:
    """Mark a view whose URL holds a secret: its responses (its 404 and other error pages
    included) send no Referer, so no other site, nor a later page of this one, learns the
    secret. Put it above or below the route decorator."""
    view.referrer_policy = TOKEN_URL_REFERRER_POLICY  # type: ignore[attr-defined]
    return view


def _referrer_policy() -> str:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "referrer_policy", DEFAULT_REFERRER_POLICY)


#: Every header this module sets (calendar.polls repeats answers that hold only these
#: besides the calendar's own).
HEADER_NAMES = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "Strict-Transport-Security",
)


@cache
def _fixed_headers(referrer_policy: str, https: bool) -> tuple[tuple[str, str, str], ...]:
    """(lower-case name, name, value) of each header, worked out once per policy."""
    values = [
        CONTENT_SECURITY_POLICY,
        "DENY",
        "nosniff",
        referrer_policy,
        PERMISSIONS_POLICY,
        STRICT_TRANSPORT_SECURITY if https else None,
    ]
    return tuple(
        (name.lower(), name, value)
        for name, value in zip(HEADER_NAMES, values, strict=True)
        if value is not None
    )


@cache
def _is_https(site_url: str) -> bool:
    return urlsplit(site_url).scheme == "https"


def _add_headers(response: Response) -> Response:
    headers = response.headers
    present = {name.lower() for name, _ in headers.items()}
    for lower, name, value in _fixed_headers(
        _referrer_policy(), _is_https(current_app.config["SITE_URL"])
    ):
        if lower not in present:
            headers.add(name, value)
    return response


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)
