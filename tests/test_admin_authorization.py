"""Every /admin URL, taken from the app's URL map (so new routes are covered without
editing this file): anonymous visitors are sent to the login page, plain organizers
get 403 where an admin is required, and every POST without a CSRF token is refused."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from cluster_events.extensions import db
from cluster_events.models import Event, EventQuestion, EventSession, Member, MemberPerson
from cluster_events.registration.tokens import checkin_code
from tests.factories import make_event, make_organizer, make_registration

#: Endpoints only admins may use. The views carry ``admin_only`` (set by
#: ``admin_required``); this list is the declared intent they are checked against.
ADMIN_ONLY = {
    "admin.accounts",
    "admin.account_new",
    "admin.account_edit",
    "admin.account_password",
    "admin.audit_log",
    "admin.event_purge",
    "admin.mail_failed",
    "admin.mail_failed_retry",
    "admin.member_new",
    "admin.member_edit",
    "admin.member_withdraw",
    "admin.member_reactivate",
    "admin.member_person_edit",
    "admin.member_person_remove",
    "admin.member_import",
    "admin.member_import_apply",
}


def admin_rules(app: Flask) -> list[Any]:
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin")]
    assert len(rules) > 20
    return rules


def requests_for(app: Flask, ids: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) for every /admin rule and method, with real ids filled in."""
    found = []
    for rule in admin_rules(app):
        missing = set(rule.arguments) - set(ids)
        assert not missing, f"{rule.rule}: give this test a real value for {missing}"
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", str(ids[name])).replace(
                f"<{name}>", str(ids[name])
            )
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, path))
    return found


@pytest.fixture
def ids(app: Flask) -> dict[str, Any]:
    event = make_event(capacity=1)
    registration = make_registration(event)
    make_registration(event, status="waiting")
    other = make_organizer(email="other@example.org")
    member = Member(number="C-1", kind="corporate", name="会社", name_kana="かいしゃ")
    person = MemberPerson(
        member=member,
        name="人",
        name_kana="ひと",
        email="p@example.org",
        email_normalized="p@example.org",
    )
    question = EventQuestion(event_id=event.id, kind="short_text", label_ja="所属", position=1)
    session = EventSession(
        event_id=event.id,
        position=1,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        uid=Event.new_uid("test.example.org"),
    )
    event.session_count = 1
    db.session.add_all([member, person, question, session])
    db.session.commit()
    return {
        "event_id": event.id,
        "registration_id": registration.id,
        "frame_id": event.frames[0].id,
        "venue_id": event.venue_id,
        "category_id": event.category_id,
        "organizer_id": other.id,
        "code": checkin_code(registration),
        "member_id": member.id,
        "person_id": person.id,
        "question_id": question.id,
        "session_id": session.id,
        # No upload exists: the import's POST is refused before it is looked up.
        "import_id": 1,
    }


def test_admin_only_views_are_marked(app):
    marked = {
        rule.endpoint
        for rule in admin_rules(app)
        if getattr(app.view_functions[rule.endpoint], "admin_only", False)
    }
    assert marked == ADMIN_ONLY


def test_anonymous_visitors_are_sent_to_the_login_page(app, client, ids):
    for endpoint, method, path in requests_for(app, ids):
        response = client.open(path, method=method)
        resumable = getattr(app.view_functions[endpoint], "resumable", False)
        if method == "POST" and resumable:
            # The login page itself, carrying what was typed (see admin.access).
            assert response.status_code == 401, (method, path)
            assert 'action="/login"' in response.get_data(as_text=True)
        else:
            assert response.status_code == 302, (method, path, response.status_code)
            assert response.headers["Location"].startswith("/login?next="), (method, path)


def test_plain_organizers_get_403_where_an_admin_is_required(app, client, ids, login):
    login(make_organizer(email="plain@example.org"))
    db.session.commit()
    for endpoint, method, path in requests_for(app, ids):
        response = client.open(path, method=method)
        if endpoint in ADMIN_ONLY:
            assert response.status_code == 403, (method, path, response.status_code)
        elif method == "GET":
            assert response.status_code in (200, 302), (method, path, response.status_code)


def test_admins_can_open_every_page(app, client, ids, login):
    login(make_organizer(email="boss@example.org", role="admin"))
    db.session.commit()
    for _endpoint, method, path in requests_for(app, ids):
        if method == "GET":
            response = client.get(path)
            assert response.status_code in (200, 302), (path, response.status_code)


class TestWithCsrfProtection:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    def test_every_post_without_a_token_is_refused(self, app, client, ids, login):
        login(make_organizer(email="boss@example.org", role="admin"))
        db.session.commit()
        posts = [(e, p) for e, method, p in requests_for(app, ids) if method == "POST"]
        assert len(posts) > 10
        for _endpoint, path in posts:
            response = client.post(path, data={"reason": "x", "title": "x"})
            assert response.status_code == 400, (path, response.status_code)
        db.session.expire_all()
        event = db.session.get(Event, ids["event_id"])
        assert (event.status, event.confirmed_count, event.waiting_count) == ("published", 1, 1)

    def test_login_needs_a_token(self, app, client):
        make_organizer(email="boss@example.org")
        db.session.commit()
        response = client.post("/login", data={"email": "boss@example.org", "password": "x"})
        assert response.status_code == 400

    def test_logout_needs_a_token_too(self, app, client, login):
        login(make_organizer(email="boss@example.org", role="admin"))
        db.session.commit()
        assert client.post("/logout").status_code == 400
        assert client.get("/admin/").status_code == 200
