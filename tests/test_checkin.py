"""Check-in at the door: the phone list, tap to arrive and undo, and the QR code link."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry, RegistrationStatus
from cluster_events.registration import attendees as services
from cluster_events.registration.notifications import checkin_url
from cluster_events.registration.tokens import checkin_code
from tests.factories import make_event, make_registration


@pytest.fixture
def event(app):
    event = make_event(capacity=2)
    make_registration(event, name="渡辺 健", name_kana="わたなべ けん")
    make_registration(event, name="相沢 花子", name_kana="あいざわ はなこ", organization="三浦電機")
    make_registration(event, name="佐々木 実", name_kana="ささき みのる", status="waiting")
    db.session.commit()
    return event


def _registration(event, kana):
    return next(r for r in event.registrations if r.name_kana == kana)


def test_checkin_page_lists_seated_people_in_kana_order_with_big_buttons(event, logged_in_client):
    client = logged_in_client()
    html = client.get(f"/admin/events/{event.id}/check-in").get_data(as_text=True)
    names = re.findall(r"<strong>([^<]+)</strong>\s", html)
    assert [n for n in names if " " in n] == ["相沢 花子", "渡辺 健"]
    assert "佐々木 実" not in html  # waiting people have no seat at the door
    assert 'type="search"' in html
    assert html.count(">受付<span") + html.count(">Arrived<span") == 2


def test_checkin_search_by_katakana_and_organization(event, logged_in_client):
    client = logged_in_client()
    url = f"/admin/events/{event.id}/check-in"
    assert "相沢 花子" in client.get(url, query_string={"q": "アイザワ"}).get_data(as_text=True)
    by_org = client.get(url, query_string={"q": "三浦"}).get_data(as_text=True)
    assert "相沢 花子" in by_org
    assert "渡辺 健" not in by_org


def test_tap_to_check_in_and_undo_both_audited(event, logged_in_client):
    client = logged_in_client()
    person = _registration(event, "わたなべ けん")
    url = f"/admin/events/{event.id}/attendees/{person.id}/check-in"
    response = client.post(url, data={"action": "arrived", "back": "checkin", "q": "わた"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(
        f"/admin/events/{event.id}/check-in?q=%E3%82%8F%E3%81%9F#registration-{person.id}"
    )
    db.session.expire_all()
    arrived_at = person.checked_in_at
    assert arrived_at is not None
    assert services.count_attendees(event.id).checked_in == 1

    # A second tap (a double press) changes nothing and records nothing.
    client.post(url, data={"action": "arrived", "back": "checkin"})
    db.session.expire_all()
    assert person.checked_in_at == arrived_at

    client.post(url, data={"action": "undo", "back": "checkin"})
    db.session.expire_all()
    assert person.checked_in_at is None
    actions = db.session.scalars(
        select(AuditLogEntry.action).where(AuditLogEntry.target_id == person.id)
    ).all()
    assert actions == ["registration.check_in", "registration.undo_check_in"]


def test_waiting_person_cannot_be_checked_in(event, logged_in_client):
    client = logged_in_client()
    waiting = _registration(event, "ささき みのる")
    response = client.post(
        f"/admin/events/{event.id}/attendees/{waiting.id}/check-in",
        data={"action": "arrived"},
        follow_redirects=True,
    )
    assert "flash--error" in response.get_data(as_text=True)
    db.session.expire_all()
    assert waiting.checked_in_at is None
    assert waiting.status == RegistrationStatus.waiting


def test_qr_link_opens_the_registration_with_one_tap_check_in(event, logged_in_client):
    client = logged_in_client()
    person = _registration(event, "あいざわ はなこ")
    url = checkin_url(person)
    assert url == f"http://localhost/admin/check-in/{checkin_code(person)}"
    path = url.removeprefix("http://localhost")
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "相沢 花子" in html
    action = f"/admin/events/{event.id}/attendees/{person.id}/check-in"
    assert f'action="{action}"' in html
    response = client.post(
        action, data={"action": "arrived", "back": "scan", "code": checkin_code(person)}
    )
    assert response.headers["Location"].endswith(path)
    db.session.expire_all()
    assert person.checked_in_at is not None


def test_qr_link_reveals_nothing_to_a_visitor_who_is_not_logged_in(event, app):
    person = _registration(event, "あいざわ はなこ")
    path = checkin_url(person).removeprefix("http://localhost")
    visitor = app.test_client()
    response = visitor.get(path)
    assert response.status_code == 302
    for text in (response.get_data(as_text=True), response.headers["Location"]):
        assert "相沢" not in text
        assert "あいざわ" not in text
    login_page = visitor.get(response.headers["Location"])
    login_html = login_page.get_data(as_text=True)
    assert login_page.status_code == 200
    assert "相沢" not in login_html
    assert "三浦電機" not in login_html
    # POSTing a check-in without logging in changes nothing either.
    visitor.post(
        f"/admin/events/{event.id}/attendees/{person.id}/check-in", data={"action": "arrived"}
    )
    db.session.expire_all()
    assert person.checked_in_at is None


@pytest.mark.parametrize(
    "code",
    [
        "1-AAAAAAAAAA",
        "nonsense",
        "99999-ABCDEFGHIJ",
        "%2e%2e",
        "999999999999-ABCDEFGHIJ",
        "%C2%B2-ABCDEFGHIJ",  # "²" is a digit to str.isdigit() but not to int()
        "%D9%A1-ABCDEFGHIJ",  # Arabic-Indic one
    ],
)
def test_unknown_or_forged_code_is_404(event, logged_in_client, code):
    assert logged_in_client().get(f"/admin/check-in/{code}").status_code == 404


def test_code_of_one_registration_does_not_open_another(event, logged_in_client):
    client = logged_in_client()
    first = _registration(event, "あいざわ はなこ")
    second = _registration(event, "わたなべ けん")
    forged = f"{second.id}-{checkin_code(first).split('-')[1]}"
    assert client.get(f"/admin/check-in/{forged}").status_code == 404
