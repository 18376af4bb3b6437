"""The online meeting link reaches confirmed registrants (their emails, attached .ics
and personal page) and the office (its own .ics), and no public page, feed, .ics or
Google/Outlook link."""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Any

import pytest
from sqlalchemy import select

from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.models import Event, OutboxMessage
from tests.conftest import sending_to
from tests.factories import make_event
from tests.test_registration_http import form, token_from

LINK = "https://meet.example.org/j/8473-secret"


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {**app_config, **sending_to(smtp_server)}


def online_event(capacity: int = 1) -> Event:
    event = make_event(slug="online-seminar", venue=None, online_url=LINK, capacity=capacity)
    db.session.commit()
    return event


def unfolded(response) -> str:
    """The body with iCalendar line folding undone (a link may be cut across lines)."""
    return response.get_data(as_text=True).replace("\r\n ", "")


def test_no_public_response_carries_the_link(app, client):
    event = online_event()
    category = event.category.slug
    public_paths = [
        "/",
        "/?lang=en",
        f"/events/{event.slug}",
        f"/events/{event.slug}?lang=en",
        f"/events/{event.slug}.ics",
        f"/events/{event.slug}.ics?lang=en",
        "/calendar.ics",
        f"/calendar/{category}.ics",
        "/calendar",
        f"/categories/{category}",
    ]
    for path in public_paths:
        response = client.get(path)
        assert response.status_code == 200, path
        text = unfolded(response)
        assert LINK not in text, path
        assert "meet.example.org" not in text, path
    page = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert re.search(r"calendar\.google\.com[^\"]*location=", page)  # the links are there
    ics = unfolded(client.get(f"/events/{event.slug}.ics"))
    assert "LOCATION:オンライン" in ics


def _received_parts(smtp_server) -> dict[str, dict[str, str]]:
    """Each recipient's email as received: its text parts by type, decoded, with
    iCalendar line folding undone."""
    received: dict[str, dict[str, str]] = {}
    for message in smtp_server.messages():
        parts = received.setdefault(parseaddr(message["To"])[1], {})
        for part in message.walk():
            if part.get_content_maintype() == "text":
                text = part.get_payload(decode=True).decode("utf-8")
                parts[part.get_content_type()] = text.replace("\r\n ", "")
    return received


def test_confirmed_registrants_get_it_and_the_waiting_list_does_not(app, client, smtp_server):
    event = online_event(capacity=1)
    first = client.post(f"/events/{event.slug}/register", data=form(email="a@example.org"))
    second = client.post(f"/events/{event.slug}/register", data=form(email="b@example.org"))
    confirmed, waiting = (
        db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == address)).one()
        for address in ("a@example.org", "b@example.org")
    )
    assert confirmed.kind == "confirmation" and waiting.kind == "waitlisted"
    # Both are rendered when they are sent: the queued rows hold none of their parts.
    for row in (confirmed, waiting):
        assert (row.body_text, row.body_html, row.attachments) == ("", "", [])
    assert outbox.deliver_due().sent == 2
    received = _received_parts(smtp_server)
    kinds = ["text/plain", "text/html", "text/calendar"]
    assert all(LINK in received["a@example.org"][kind] for kind in kinds)
    assert set(received["b@example.org"]) == set(kinds)
    assert not any(LINK in text for text in received["b@example.org"].values())

    own_page = client.get(f"/registrations/{token_from(first.headers['Location'])}")
    assert LINK in own_page.get_data(as_text=True)
    waiting_page = client.get(f"/registrations/{token_from(second.headers['Location'])}")
    assert LINK not in waiting_page.get_data(as_text=True)


def test_the_office_calendar_file_has_it(app, client, logged_in_client):
    event = online_event()
    response = logged_in_client().get(f"/admin/events/{event.id}/event.ics")
    assert response.status_code == 200
    assert LINK in unfolded(response)
