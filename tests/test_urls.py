"""Absolute URLs come from SITE_URL and the routes only: a forged Host or
X-Forwarded-Host header never reaches an email, a calendar file or a feed, and
`make run PORT=N` links to the server it starts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cluster_events import PROJECT_ROOT, create_app
from cluster_events.config import LOCAL_SITE_URL_ENV
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.urls import absolute_url
from tests.conftest import base_test_config, sending_to
from tests.factories import make_event
from tests.test_registration_http import form

SITE = "https://events.example.org"
FORGED = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
URL = re.compile(r"(?:https?|webcal)://[^\s\"'<>]+")


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    # Behind one proxy, which passes X-Forwarded-Host through unchecked.
    return {**app_config, **sending_to(smtp_server), "SITE_URL": SITE, "PROXY_COUNT": 1}


def hosts_in(text: str) -> set[str]:
    return {url.split("/")[2] for url in URL.findall(text)}


def test_registration_email_and_its_calendar_file_link_to_the_site_only(app, client, smtp_server):
    event = make_event(slug="iso-seminar")
    db.session.commit()
    response = client.post("/events/iso-seminar/register?lang=ja", data=form(), headers=FORGED)
    assert response.status_code == 303
    assert outbox.deliver_due().sent == 1  # the email is rendered as it is sent
    (received,) = smtp_server.messages()
    parts = [p.get_payload(decode=True) for p in received.walk() if not p.is_multipart()]
    sent = b"".join(parts).decode("utf-8", "replace").replace("\r\n ", "")
    assert f"{SITE}/events/{event.slug}" in sent
    assert f"{SITE}/registrations/" in sent
    assert "evil.example" not in sent
    assert "evil.example" not in hosts_in(sent)


def test_feeds_and_the_calendar_page_link_to_the_site_only(app, client):
    make_event(slug="kondankai")
    db.session.commit()
    pages = [
        client.get("/calendar.ics", headers=FORGED),
        client.get("/events/kondankai.ics", headers=FORGED),
        client.get("/calendar", headers=FORGED),
    ]
    for page in pages:
        assert page.status_code == 200
        text = page.get_data(as_text=True).replace("\r\n ", "")
        assert "evil.example" not in text
    assert f"{SITE}/events/kondankai" in pages[0].get_data(as_text=True).replace("\r\n ", "")
    assert "webcal://events.example.org/calendar.ics" in pages[2].get_data(as_text=True)


def test_absolute_url_follows_the_route_and_a_path_in_site_url(app):
    app.config["SITE_URL"] = "https://example.org/events-site"
    assert absolute_url("events.detail", slug="a-b") == (
        "https://example.org/events-site/events/a-b"
    )
    with app.test_request_context("/", base_url="http://other.example"):
        assert absolute_url("calendar.feed") == "https://example.org/events-site/calendar.ics"


def test_an_unset_site_url_is_the_local_server_make_run_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    config = base_test_config(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path)
    config.pop("SITE_URL")
    monkeypatch.delenv("FLASK_SITE_URL", raising=False)
    monkeypatch.setenv(LOCAL_SITE_URL_ENV, "http://127.0.0.1:8123")
    assert create_app(config).config["SITE_URL"] == "http://127.0.0.1:8123"
    monkeypatch.setenv("FLASK_SITE_URL", "https://events.example.org")
    assert create_app(config).config["SITE_URL"] == "https://events.example.org"
    monkeypatch.delenv("FLASK_SITE_URL")
    monkeypatch.delenv(LOCAL_SITE_URL_ENV)
    assert create_app(config).config["SITE_URL"] == "http://127.0.0.1:5000"


def test_make_run_tells_the_app_which_port_it_serves():
    dry_run = subprocess.run(
        ["make", "-n", "run", "PORT=8123"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    serve = next(line for line in dry_run.splitlines() if " run --host" in line)
    assert f"{LOCAL_SITE_URL_ENV}=http://127.0.0.1:8123" in serve
    assert "--port 8123" in serve
