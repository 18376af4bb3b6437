"""Nobody sees another member's data: every members' URL and every console URL, taken
from the app's URL map (so new routes are covered without editing this file), is walked
as another member and as an anonymous visitor with the first member's ids and altered
tokens; neither sees the first member's personal data, and no POST changes it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cluster_events.extensions import db
from cluster_events.models import MemberKind, MemberPerson, Registration, RegistrationStatus
from tests.factories import make_event, make_registration
from tests.members import first_person, make_member, sign_in_member

MEMBER_SIDE = ("/members", "/calendar/members/", "/calendar/my/")

#: What only the first member (A) and the office may see.
SECRETS_OF_A = ("会員 秘子", "ひみつこ", "himitsu-a@example.org", "046-111-2222", "A総務部")


def altered(token: str) -> str:
    """The same token with its first character changed: what a curious member tries."""
    return ("B" if token[0] != "B" else "C") + token[1:]


@pytest.fixture
def two_members(app: Flask) -> dict[str, Any]:
    a = make_member(
        kind=MemberKind.corporate,
        name="株式会社秘密商事",
        name_kana="ひみつしょうじ",
        people=[
            {
                "name": "会員 秘子",
                "name_kana": "かいいん ひみつこ",
                "email": "himitsu-a@example.org",
                "phone": "046-111-2222",
                "department": "A総務部",
            }
        ],
    )
    b = make_member(name="別会員 次郎", name_kana="べつかいいん じろう")
    person_a, person_b = first_person(a), first_person(b)
    event = make_event(title="公開セミナー", capacity=10)
    members_event = make_event(title="個人会員交流会", is_members_only=True, capacity=10)
    registration_a = make_registration(
        event,
        name=person_a.name,
        email=person_a.email,
        phone=person_a.phone,
        member_person_id=person_a.id,
        member_link="verified",
    )
    make_registration(
        members_event,
        name=person_a.name,
        email=person_a.email,
        member_person_id=person_a.id,
        member_link="verified",
    )
    db.session.commit()
    return {
        "a": person_a,
        "b": person_b,
        "registration_a": registration_a,
        "event": event,
        "members_event": members_event,
    }


def feed_tokens(client: FlaskClient) -> list[str]:
    """The private feed tokens shown on My page of the member signed in on ``client``."""
    page = client.get("/members/me").get_data(as_text=True)
    tokens = re.findall(r"/calendar/(?:members|my)/([A-Za-z0-9_\-]+)\.ics", page)
    assert len(set(tokens)) == 2, "My page shows two private feeds"
    return sorted(set(tokens))


def member_side_requests(
    app: Flask, values: dict[str, Any], admin: bool = True
) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) of every members' rule (and console rule, unless
    ``admin`` is False), with ``values`` in the URL."""
    found = []
    for rule in app.url_map.iter_rules():
        console = admin and rule.rule.startswith("/admin")
        if not (rule.rule.startswith(MEMBER_SIDE) or console):
            continue
        in_path = set(rule.arguments) - set(rule.defaults or {})
        missing = in_path - set(values)
        assert not missing, f"{rule.rule}: give this test a value for {missing}"
        path = rule.rule
        for name in in_path:
            path = re.sub(rf"<(?:[^:>]+:)?{name}>", str(values[name]), path)
        assert "<" not in path, path
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, path))
    assert len([f for f in found if f[2].startswith(MEMBER_SIDE)]) >= 6
    return found


def state_of_a(two_members: dict[str, Any]) -> tuple[Any, ...]:
    db.session.expire_all()
    person = db.session.get(MemberPerson, two_members["a"].id)
    registrations = db.session.execute(
        select(Registration.id, Registration.status).where(
            Registration.member_person_id == person.id
        )
    ).all()
    return (
        person.name,
        person.email,
        person.session_generation,
        person.members_feed_token_hash,
        person.my_feed_token_hash,
        person.member.status,
        tuple(sorted(registrations)),
    )


def test_nobody_sees_or_changes_another_members_data(app: Flask, two_members):
    client_a = app.test_client()
    sign_in_member(client_a, two_members["a"])
    own_page = client_a.get("/members/me").get_data(as_text=True)
    for secret in ("会員 秘子", "himitsu-a@example.org"):
        assert secret in own_page, "the walk's markers must show on A's own page"
    tokens_a = feed_tokens(client_a)
    before = state_of_a(two_members)

    values = {
        "member_id": two_members["a"].member_id,
        "person_id": two_members["a"].id,
        "registration_id": two_members["registration_a"].id,
        "event_id": two_members["event"].id,
        "frame_id": two_members["event"].frames[0].id,
        "question_id": 1,
        "session_id": 1,
        "token": altered(tokens_a[0]),
        "slug": two_members["members_event"].slug,
        "code": "x",
        "import_id": 1,
        "organizer_id": 1,
        "venue_id": two_members["event"].venue_id,
        "category_id": two_members["event"].category_id,
    }
    client_b = app.test_client()
    sign_in_member(client_b, two_members["b"])
    anonymous = app.test_client()
    for who, client in (("member B", client_b), ("anonymous", anonymous)):
        for _endpoint, method, path in member_side_requests(app, values):
            response = client.open(path, method=method, data={"confirm": "1"})
            assert response.status_code < 500, (who, method, path, response.status_code)
            body = response.get_data(as_text=True)
            for secret in SECRETS_OF_A:
                assert secret not in body, f"{who} saw {secret!r} at {method} {path}"
            for token in tokens_a:
                assert token not in body, f"{who} saw A's feed token at {method} {path}"
            if path.startswith("/admin"):
                assert response.status_code in (302, 401, 403, 404, 405), (who, method, path)
    assert state_of_a(two_members) == before
    assert (
        db.session.get(Registration, two_members["registration_a"].id).status
        == RegistrationStatus.confirmed
    )


class TestWithCsrfProtection:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    def test_every_members_post_without_a_token_is_refused(self, app: Flask, two_members):
        client_a = app.test_client()
        sign_in_member(client_a, two_members["a"])
        tokens_a = feed_tokens(client_a)
        before = state_of_a(two_members)
        values = {
            "registration_id": two_members["registration_a"].id,
            "token": tokens_a[0],
        }
        posts = [
            path
            for _endpoint, method, path in member_side_requests(app, values, admin=False)
            if method == "POST"
        ]
        assert len(posts) >= 5, posts
        for path in posts:
            response = client_a.post(path, data={"confirm": "1", "email": "x@example.org"})
            assert response.status_code == 400, (path, response.status_code)
            assert "<main" in response.get_data(as_text=True), path  # in the layout
        assert state_of_a(two_members) == before
        assert feed_tokens(client_a) == tokens_a
