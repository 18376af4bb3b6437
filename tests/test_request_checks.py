"""What every request is held to (cluster_events/request_checks.py): form bodies with
parts no browser sends (a multipart part without a name, a file where a text field
belongs) are read as if the field were missing, and a control character in a URL value
is a 404 on every route. Before, all of these were 500s (the URL ones on PostgreSQL)."""

from __future__ import annotations

import re

import pytest

from cluster_events.extensions import db
from cluster_events.models import Venue
from tests.factories import make_category, make_event, make_organizer


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def _csrf_token(client, url):
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _multipart(*parts: bytes) -> bytes:
    return b"".join(b"--XX\r\n" + part + b"\r\n" for part in parts) + b"--XX--\r\n"


def test_a_part_without_a_name_is_ignored(client):
    token = _csrf_token(client, "/login")
    body = _multipart(
        b'Content-Disposition: form-data; name="email"\r\n\r\nnobody@example.org',
        b"Content-Disposition: form-data\r\n\r\nno name",
    )
    response = client.post(
        "/login",
        data=body,
        content_type="multipart/form-data; boundary=XX",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 401  # the login page: no password was given
    assert 'class="site-header"' in response.get_data(as_text=True)


def test_a_file_where_text_belongs_is_a_missing_field(client, login):
    login(make_organizer())
    db.session.commit()
    token = _csrf_token(client, "/admin/venues/new")
    body = _multipart(
        f'Content-Disposition: form-data; name="csrf_token"\r\n\r\n{token}'.encode(),
        b'Content-Disposition: form-data; name="name"; filename="venue.exe"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\nMZ\x00\x01",
    )
    response = client.post(
        "/admin/venues/new", data=body, content_type="multipart/form-data; boundary=XX"
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'class="field-error" id="name-error"' in html
    assert db.session.query(Venue).count() == 0


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/events/%00.ics"),
        ("GET", "/events/open%00.ics"),
        ("GET", "/calendar/seminar%00.ics"),
        ("GET", "/calendar/%01.ics"),
        ("POST", "/events/open%00/register"),
        ("POST", "/registrations/%00/cancel"),
        ("GET", "/static/%00"),
    ],
)
def test_a_control_character_in_the_path_is_not_found(client, method, url):
    make_event(slug="open", category=make_category(slug="seminar"))
    db.session.commit()
    token = _csrf_token(client, "/login")  # a POST gets past the CSRF check
    response = client.open(url + "?lang=en", method=method, headers={"X-CSRFToken": token})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert 'class="site-header"' in html
    assert "The page could not be found" in html
