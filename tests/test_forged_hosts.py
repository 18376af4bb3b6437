"""Links come from SITE_URL only: requests with a forged Host, X-Forwarded-Host,
-Proto, -Prefix and -Port (behind one proxy that passes them through unchecked) leave
no trace in any email as it reaches the SMTP server, attached .ics, feed, page link,
QR code or redirect. In production, a Host other than SITE_URL's gets a 400 page."""

from __future__ import annotations

import io
import re
from email.message import EmailMessage
from typing import Any

import pytest
import segno
from flask import request
from werkzeug.test import TestResponse

from cluster_events import create_app
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.registration import tokens
from cluster_events.registration.notifications import QR_BORDER, QR_SCALE
from tests.conftest import base_test_config, sending_to
from tests.factories import ORGANIZER_PASSWORD, make_category, make_event, make_organizer
from tests.records import outbox_messages
from tests.test_registration_http import form, token_from

SITE = "https://events.example.org"
FORGED = {
    "Host": "forged-host.example",
    "X-Forwarded-Host": "forged-xfh.example",
    # A downgrade: the site is https, and the test client's own scheme is http anyway.
    "X-Forwarded-Proto": "http",
    "X-Forwarded-Prefix": "/forged-prefix",
    "X-Forwarded-Port": "8444",
}
MARKERS = ("forged-host", "forged-xfh", "forged-prefix", "8444")
#: Links that rightly point elsewhere: the venue's map, the online meeting, Google
#: Calendar, Outlook.com.
OTHER_SITES = (
    "https://maps.example.org/",
    "https://meet.example.org/",
    "https://calendar.google.com/",
    "https://outlook.live.com/",
)
URL = re.compile(r"(?:https?|webcal)://[^\s\"'<>\\]+")


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {**app_config, **sending_to(smtp_server), "SITE_URL": SITE, "PROXY_COUNT": 1}


@pytest.fixture
def hosts_seen(app) -> list[str]:
    """What the app took for its own address in each request: proof that the forged
    headers did reach it (ProxyFix trusts one proxy), so their absence below means
    something."""
    seen: list[str] = []
    app.before_request(lambda: seen.append(request.host_url))
    return seen


def unfolded(text: str) -> str:
    return text.replace("\r\n ", "").replace("\r\n\t", "")


def assert_links_to_the_site_only(text: str, where: str) -> None:
    for marker in MARKERS:
        assert marker not in text, f"{marker!r} in {where}"
    for url in URL.findall(text):
        on_site = url.startswith((f"{SITE}/", "webcal://events.example.org/")) or url == SITE
        assert on_site or url.startswith(OTHER_SITES), f"{url} in {where}"


def assert_clean(response: TestResponse, where: str) -> None:
    assert response.status_code < 400, f"{where}: {response.status_code}"
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    assert_links_to_the_site_only(headers, f"the headers of {where}")
    assert_links_to_the_site_only(unfolded(response.get_data(as_text=True)), where)
    location = response.headers.get("Location")
    if location is not None:
        assert location.startswith("/") and not location.startswith("//"), location


def logged_in_console(app) -> Any:
    """A client logged in through the login form, by a request with the forged headers
    (so the session cookie belongs to the forged host, as a browser would keep it)."""
    organizer = make_organizer()
    db.session.commit()
    console = app.test_client()
    credentials = {"email": organizer.email, "password": ORGANIZER_PASSWORD}
    logged_in = console.post("/login", data=credentials, headers=FORGED)
    assert logged_in.status_code == 302
    assert_clean(logged_in, "the redirect after logging in")
    return console


def delivered(smtp_server) -> list[EmailMessage]:
    report = outbox.deliver_due()
    assert report.failed == 0
    return smtp_server.messages()


def parts_of(message: EmailMessage) -> list[tuple[str, Any]]:
    return [
        (part.get_content_type(), part.get_content())
        for part in message.walk()
        if not part.is_multipart()
    ]


def test_every_email_and_attachment_links_to_the_site_only(app, client, smtp_server, hosts_seen):
    event = make_event(slug="iso-seminar", capacity=1, online_url="https://meet.example.org/x")
    db.session.commit()
    register = f"/events/{event.slug}/register?lang=ja"
    first = client.post(register, data=form(email="first@example.jp"), headers=FORGED)
    second = client.post(register, data=form(email="second@example.jp"), headers=FORGED)
    assert_clean(first, "the redirect after registering")
    assert_clean(second, "the redirect after joining the waiting list")
    token = token_from(first.headers["Location"])
    # The first registrant cancels: the second is promoted (an email with the QR code).
    cancelled = client.post(f"/registrations/{token}/cancel", headers=FORGED)
    assert_clean(cancelled, "the redirect after cancelling")

    console = logged_in_console(app)
    message = {
        "audience": "both",
        "subject": "会場のご案内",
        "body": "お気をつけて。",
        "batch_key": "abc123",
    }
    sent = console.post(f"/admin/events/{event.id}/messages/send", data=message, headers=FORGED)
    assert_clean(sent, "the redirect after writing to registrants")
    cancelled_event = console.post(
        f"/admin/events/{event.id}/cancel", data={"reason": "講師の急病のため"}, headers=FORGED
    )
    assert_clean(cancelled_event, "the redirect after cancelling the event")

    assert set(hosts_seen) == {"http://forged-xfh.example/"}
    kinds = {row.kind for row in outbox_messages()}
    assert {"confirmation", "waitlisted", "cancellation_receipt", "promoted"} <= kinds
    assert len(kinds) >= 6, kinds  # and the office's message and the event's cancellation

    received = delivered(smtp_server)
    assert len(received) == len(outbox_messages())
    personal_links = set()
    for mail in received:
        where = f"the {mail['Subject']!r} email to {mail['To']}"
        headers = "\n".join(f"{name}: {value}" for name, value in mail.items())
        assert_links_to_the_site_only(headers, f"the headers of {where}")
        for content_type, content in parts_of(mail):
            if isinstance(content, str):
                assert_links_to_the_site_only(unfolded(content), f"{content_type} of {where}")
                personal_links.update(re.findall(rf"{SITE}/registrations/[\w-]+", content))
    assert f"{SITE}/registrations/{token}" in personal_links
    assert any(
        content_type == "text/calendar" for mail in received for content_type, _ in parts_of(mail)
    )


def test_the_check_in_qr_code_holds_the_site_url(app, client, smtp_server):
    event = make_event(capacity=5)
    db.session.commit()
    response = client.post(f"/events/{event.slug}/register", data=form(), headers=FORGED)
    registration = tokens.registration_by_token(token_from(response.headers["Location"]))
    expected = f"{SITE}/admin/check-in/{tokens.checkin_code(registration)}"
    png = io.BytesIO()
    segno.make(expected, error="m").save(png, kind="png", scale=QR_SCALE, border=QR_BORDER)

    (mail,) = delivered(smtp_server)
    images = [content for kind, content in parts_of(mail) if kind == "image/png"]
    assert images == [png.getvalue()]


def test_feeds_pages_and_the_calendar_qr_code_link_to_the_site_only(app, client, hosts_seen):
    category = make_category(slug="seminars")
    event = make_event(slug="kondankai", category=category)
    db.session.commit()
    registered = client.post(f"/events/{event.slug}/register", data=form(), headers=FORGED)
    token = token_from(registered.headers["Location"])
    public = {
        "/calendar.ics": "the full feed",
        "/calendar/seminars.ics": "a category feed",
        "/events/kondankai.ics": "an event's .ics",
        "/calendar": "the calendar page",
        "/calendar?lang=en": "the calendar page in English",
        "/events/kondankai": "the event page (Google/Outlook links)",
        f"/registrations/{token}": "the personal page",
        "/": "the front page",
    }
    pages = {path: client.get(path, headers=FORGED) for path in public}
    for path, where in public.items():
        assert pages[path].status_code == 200, where
        assert_clean(pages[path], where)
    assert f"{SITE}/events/kondankai" in unfolded(pages["/calendar.ics"].get_data(as_text=True))
    assert f"{SITE}/events/kondankai" in unfolded(
        pages["/calendar/seminars.ics"].get_data(as_text=True)
    )

    subscribe = pages["/calendar"].get_data(as_text=True)
    assert "webcal://events.example.org/calendar.ics" in subscribe
    expected_qr = segno.make("webcal://events.example.org/calendar.ics", error="m", micro=False)
    dark_path = re.search(r'stroke="#000" d="([^"]+)"', expected_qr.svg_inline(scale=4))
    assert f'd="{dark_path.group(1)}"' in subscribe

    console = logged_in_console(app)
    for path, where in {
        f"/admin/events/{event.id}": "the console's event page",
        f"/admin/events/{event.id}/event.ics": "the office's own .ics",
        f"/admin/events/{event.id}/attendees": "the attendee list",
    }.items():
        page = console.get(path, headers=FORGED)
        assert page.status_code == 200, where
        assert_clean(page, where)
    assert set(hosts_seen) == {"http://forged-xfh.example/"}


def test_redirects_to_the_login_page_stay_on_the_site(app, client):
    response = client.get("/admin/events?page=2", headers=FORGED)
    assert response.status_code == 302
    assert_clean(response, "the redirect to the login page")
    assert response.headers["Location"].startswith("/login?next=")


# In production --------------------------------------------------------------------------


def production_app(tmp_path, **settings: Any):
    config = base_test_config(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path)
    return create_app({**config, "TESTING": False, **settings})


def test_production_trusts_only_the_host_of_site_url(tmp_path):
    app = production_app(tmp_path, SITE_URL=SITE)
    assert app.config["TRUSTED_HOSTS"] == ["events.example.org"]
    client = app.test_client()
    assert client.get("/about", headers={"Host": "events.example.org"}).status_code == 200
    refused = client.get("/about?lang=en", headers={"Host": "forged-host.example"})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert 'class="site-header"' in page and "The request could not be understood" in page
    assert 'href="/static/css/site.css"' in page
    assert "forged-host" not in page


def test_behind_the_proxy_a_forged_forwarded_host_is_refused(tmp_path):
    client = production_app(tmp_path, SITE_URL=SITE, PROXY_COUNT=1).test_client()
    ok = client.get(
        "/about", headers={"Host": "127.0.0.1:8000", "X-Forwarded-Host": "events.example.org"}
    )
    assert ok.status_code == 200
    forged = client.get(
        "/about", headers={"Host": "events.example.org", "X-Forwarded-Host": "forged-xfh.example"}
    )
    assert forged.status_code == 400


def test_trusted_hosts_given_explicitly_win(tmp_path):
    app = production_app(tmp_path, SITE_URL=SITE, TRUSTED_HOSTS=["events.example.org", "127.0.0.1"])
    client = app.test_client()
    assert client.get("/about", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    anyone = production_app(tmp_path, SITE_URL=SITE, TRUSTED_HOSTS=[]).test_client()
    assert anyone.get("/about", headers={"Host": "forged-host.example"}).status_code == 200


@pytest.mark.parametrize(
    "settings",
    [
        {},  # `make run`: no SITE_URL, the local server's address
        {"SITE_URL": SITE, "DEBUG": True},
        {"SITE_URL": SITE, "TESTING": True},
    ],
)
def test_development_and_tests_accept_any_host(tmp_path, monkeypatch, settings):
    monkeypatch.delenv("FLASK_SITE_URL", raising=False)
    monkeypatch.setenv("CLUSTER_EVENTS_LOCAL_SITE_URL", "http://127.0.0.1:8123")
    config = base_test_config(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path)
    config.pop("SITE_URL")
    app = create_app({**config, "TESTING": False, **settings})
    assert app.config["TRUSTED_HOSTS"] is None
    assert app.test_client().get("/about", headers={"Host": "localhost:8123"}).status_code == 200
