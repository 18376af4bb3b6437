"""Security headers on every kind of response, the token pages' no-referrer, and templates
with no inline script, style or event handler for the policy to block."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cluster_events import PROJECT_ROOT
from cluster_events.extensions import db
from cluster_events.registration import tokens
from tests.factories import make_event, make_registration
from tests.test_registration_http import form, token_from

EXPECTED_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
}


def csp_of(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def assert_protected(response, referrer: str = "same-origin") -> None:
    assert csp_of(response) == EXPECTED_CSP
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == referrer
    permissions = dict(
        item.strip().split("=", 1) for item in response.headers["Permissions-Policy"].split(",")
    )
    assert permissions["camera"] == permissions["microphone"] == permissions["geolocation"] == "()"
    assert set(permissions.values()) == {"()"}


@pytest.fixture
def event(app):
    event = make_event(slug="iso-seminar", capacity=10)
    make_registration(event)
    db.session.commit()
    return event


def test_pages_feeds_errors_and_static_files_carry_every_header(client, event):
    responses = {
        "/": "text/html; charset=utf-8",
        "/events/iso-seminar": "text/html; charset=utf-8",
        "/calendar.ics": "text/calendar; charset=utf-8",
        "/events/iso-seminar.ics": "text/calendar; charset=utf-8",
        "/static/css/site.css": "text/css; charset=utf-8",
        "/static/js/print.js": "text/javascript; charset=utf-8",
        "/no-such-page": "text/html; charset=utf-8",
    }
    for path, content_type in responses.items():
        response = client.get(path)
        response.close()  # a static file is streamed from an open file
        assert response.status_code == (404 if path == "/no-such-page" else 200), path
        assert response.headers["Content-Type"] == content_type, path
        assert_protected(response)
        assert "Strict-Transport-Security" not in response.headers  # SITE_URL is http here


def test_refusals_and_redirects_carry_them_too(client, event):
    refused = client.post("/events/iso-seminar/register", data=form(email="not an address"))
    assert refused.status_code == 400
    assert_protected(refused)
    redirected = client.get("/admin/")
    assert redirected.status_code == 302
    assert_protected(redirected)
    wrong_method = client.delete("/")
    assert wrong_method.status_code == 405
    assert_protected(wrong_method)


def test_console_downloads_keep_their_content_types(client, event, logged_in_client):
    console = logged_in_client()
    downloads = {
        f"/admin/events/{event.id}/attendees.csv": "text/csv; charset=",
        f"/admin/events/{event.id}/attendees.xlsx": (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ),
        f"/admin/events/{event.id}/event.ics": "text/calendar; charset=utf-8",
        f"/admin/events/{event.id}/roster": "text/html; charset=utf-8",
    }
    for path, content_type in downloads.items():
        response = console.get(path)
        assert response.status_code == 200, path
        assert response.headers["Content-Type"].startswith(content_type), path
        assert_protected(response)


def test_pages_whose_address_holds_a_token_send_no_referrer(app, client, event, logged_in_client):
    registered = client.post("/events/iso-seminar/register", data=form())
    assert_protected(registered)  # the event page's form: the token is only in Location
    token = token_from(registered.headers["Location"])
    personal = client.get(f"/registrations/{token}")
    assert personal.status_code == 200
    assert_protected(personal, referrer="no-referrer")
    assert_protected(client.get(f"/registrations/{token}?step=cancel"), referrer="no-referrer")
    # A mistyped or old link is a 404, with its token in the address all the same.
    assert_protected(client.get("/registrations/not-a-real-token"), referrer="no-referrer")
    cancelled = client.post(f"/registrations/{token}/cancel")
    assert cancelled.status_code == 303
    assert_protected(cancelled, referrer="no-referrer")

    registration = tokens.registration_by_token(token)
    scan_url = f"/admin/check-in/{tokens.checkin_code(registration)}"
    assert_protected(client.get(scan_url), referrer="no-referrer")  # before logging in
    console = logged_in_client()
    assert console.get(scan_url).status_code == 200
    assert_protected(console.get(scan_url), referrer="no-referrer")


@pytest.fixture
def app_config(app_config: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    site_url = getattr(request, "param", None)
    return {**app_config, "SITE_URL": site_url} if site_url else app_config


@pytest.mark.parametrize("app_config", ["https://events.example.org"], indirect=True)
def test_an_https_site_asks_browsers_to_keep_to_https(client, app_config):
    for path in ("/", "/static/css/site.css", "/no-such-page"):
        with client.get(path) as response:
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


# Templates the policy would break ----------------------------------------------------------

TEMPLATES = PROJECT_ROOT / "templates"
INLINE = {
    "a <style> block": re.compile(r"<style", re.I),
    "a style attribute": re.compile(r"\sstyle\s*=", re.I),
    "an inline <script>": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I),
    "an event handler attribute": re.compile(r"\son[a-z]+\s*=", re.I),
    "a javascript: URL": re.compile(r"javascript:", re.I),
}


def site_templates() -> list[Path]:
    """Every template a page of the site is made of; emails are not served by the site
    (mail clients need their inline styles), so they are left out."""
    return sorted(
        p for p in TEMPLATES.rglob("*.html") if "email" not in p.relative_to(TEMPLATES).parts
    )


def test_no_template_of_the_site_has_inline_script_or_style():
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: {what}"
        for path in site_templates()
        for text in [path.read_text(encoding="utf-8")]
        for what, pattern in INLINE.items()
        for match in pattern.finditer(text)
    ]
    assert len(site_templates()) > 25
    assert not found, "\n".join(found)
