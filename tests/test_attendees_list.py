"""The attendee list: counts, kana order, search, filters, and ids of other events."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cluster_events.admin.attendees.forms import parse_filter
from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry, RegistrationStatus
from cluster_events.registration import attendees as services
from tests.factories import make_event, make_registration


def _names(html: str) -> list[str]:
    """Names in table order (each name links to its registration)."""
    return re.findall(r'/attendees/\d+">([^<]+)</a>', html)


@pytest.fixture
def event(app):
    event = make_event(capacity=3)
    # Inserted out of kana order on purpose.
    make_registration(
        event, name="渡辺 健", name_kana="わたなべ けん", organization="横須賀精工株式会社"
    )
    make_registration(
        event,
        name="相沢 花子",
        name_kana="あいざわ はなこ",
        email="Hanako@Example.org",
        email_normalized="hanako@example.org",
        member_type="individual",
    )
    make_registration(event, name="加藤 次郎", name_kana="かとう じろう", organization="三浦電機")
    make_registration(
        event, name="佐々木 実", name_kana="ささき みのる", status=RegistrationStatus.waiting
    )
    make_registration(
        event,
        name="Smith John",
        name_kana="すみす じょん",
        status=RegistrationStatus.cancelled,
        member_type="corporate",
    )
    db.session.commit()
    return event


def test_list_counts_and_default_kana_order(event, logged_in_client):
    client = logged_in_client()
    response = client.get(f"/admin/events/{event.id}/attendees")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert _names(html) == ["相沢 花子", "加藤 次郎", "佐々木 実", "Smith John", "渡辺 健"]
    counts = services.count_attendees(event.id)
    assert counts == services.AttendeeCounts(confirmed=3, waiting=1, cancelled=1, checked_in=0)
    assert "<strong>3</strong> / 3" in html


def test_kana_order_puts_voiced_after_plain_and_katakana_typed_is_found(app):
    event = make_event()
    for kana in ("がとう", "かとう", "かどう", "あべ"):
        make_registration(event, name=kana, name_kana=kana)
    db.session.commit()
    listed = services.list_attendees(event.id, services.AttendeeFilter())
    assert [r.name_kana for r in listed] == ["あべ", "かとう", "かどう", "がとう"]
    found = services.list_attendees(event.id, services.AttendeeFilter(query="カトウ"))
    assert [r.name_kana for r in found] == ["かとう"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("アイザワ", ["相沢 花子"]),  # katakana finds the hiragana reading
        ("ｱｲｻﾞﾜ", ["相沢 花子"]),  # half-width katakana too
        ("相沢花子", ["相沢 花子"]),  # without the space
        ("ＨＡＮＡＫＯ＠example", ["相沢 花子"]),  # full-width email, any case
        ("横須賀精工", ["渡辺 健"]),
        ("smith", ["Smith John"]),
        ("100%", []),  # LIKE wildcards are searched literally
        ("_", []),
    ],
)
def test_search(event, logged_in_client, query, expected):
    client = logged_in_client()
    response = client.get(f"/admin/events/{event.id}/attendees", query_string={"q": query})
    assert response.status_code == 200
    assert _names(response.get_data(as_text=True)) == expected


def test_filters_and_sort_orders(event, logged_in_client):
    client = logged_in_client()
    url = f"/admin/events/{event.id}/attendees"
    waiting = client.get(url, query_string={"status": "waiting"}).get_data(as_text=True)
    assert _names(waiting) == ["佐々木 実"]
    individual = client.get(url, query_string={"member_type": "individual"}).get_data(as_text=True)
    assert _names(individual) == ["相沢 花子"]
    by_time = client.get(url, query_string={"sort": "registered"}).get_data(as_text=True)
    assert _names(by_time) == ["渡辺 健", "相沢 花子", "加藤 次郎", "佐々木 実", "Smith John"]
    by_org = client.get(url, query_string={"sort": "organization"}).get_data(as_text=True)
    # Those with an organization first (by its name), then the rest in kana order.
    assert _names(by_org) == ["加藤 次郎", "渡辺 健", "相沢 花子", "佐々木 実", "Smith John"]


def test_unknown_filter_values_are_ignored_not_errors(event, logged_in_client):
    client = logged_in_client()
    response = client.get(
        f"/admin/events/{event.id}/attendees",
        query_string={"status": "nonsense", "member_type": "x", "sort": "'; drop"},
    )
    assert response.status_code == 200
    assert len(_names(response.get_data(as_text=True))) == 5
    assert parse_filter({"q": "x" * 500}).query == "x" * 100  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path",
    ["/attendees?q=さ", "/attendees", "/check-in", "/roster", "/attendees.csv", "/attendees.xlsx"],
)
def test_pages_use_a_fixed_number_of_queries_however_long_the_list(
    event, logged_in_client, count_queries, path
):
    client = logged_in_client()
    url = f"/admin/events/{event.id}{path}"
    db.session.commit()  # requests share the test's session: start both counts alike
    with count_queries() as few:
        client.get(url)
    for _ in range(20):
        make_registration(event)
    db.session.commit()
    with count_queries() as many:
        assert client.get(url).status_code == 200
    assert many.count == few.count  # no query per row
    assert many.count <= 8


def test_unknown_event_is_404(app, logged_in_client):
    assert logged_in_client().get("/admin/events/999999/attendees").status_code == 404


def test_anonymous_visitor_is_sent_to_login(event, app):
    response = app.test_client().get(f"/admin/events/{event.id}/attendees")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


FORGED_URLS = [
    ("get", "/attendees/{rid}"),
    ("post", "/attendees/{rid}/contact"),
    ("post", "/attendees/{rid}/note"),
    ("get", "/attendees/{rid}/cancel"),
    ("post", "/attendees/{rid}/cancel"),
    ("post", "/attendees/{rid}/promote"),
    ("post", "/attendees/{rid}/check-in"),
]


@pytest.mark.parametrize(("method", "path"), FORGED_URLS)
def test_registration_of_another_event_is_404_and_untouched(app, logged_in_client, method, path):
    client = logged_in_client()
    mine = make_event(capacity=1)
    other = make_event(capacity=1)
    victim = make_registration(other, name="他の 人", name_kana="ほかの ひと")
    make_registration(other, status=RegistrationStatus.waiting)
    db.session.commit()
    form = {
        "name": "書き換え",
        "name_kana": "かきかえ",
        "email": "x@example.org",
        "member_type": "general",
        "organizer_note": "x",
        "notify": "no",
    }
    url = f"/admin/events/{mine.id}" + path.format(rid=victim.id)
    response = getattr(client, method)(url, data=form if method == "post" else None)
    assert response.status_code == 404
    db.session.expire_all()
    assert victim.name == "他の 人"
    assert victim.status == RegistrationStatus.confirmed
    assert victim.checked_in_at is None
    assert victim.organizer_note == ""
    assert db.session.scalar(select(AuditLogEntry.id)) is None
