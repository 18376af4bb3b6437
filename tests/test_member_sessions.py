"""The member session: separate from the console's, and ended by withdrawal, removal of
the person or a changed address."""

from __future__ import annotations

from flask import Flask

from cluster_events.members import services
from cluster_events.members.services import PersonData
from cluster_events.members.sessions import current_person, member_required
from cluster_events.models import MemberKind
from tests.members import first_person, make_member, sign_in_member


def who_is_signed_in(app: Flask, client) -> int | None:
    """The person id the app sees for ``client``'s session, through a real request."""
    response = client.get("/__member_probe")
    return int(response.text) if response.text.isdecimal() else None


def add_probe(app: Flask) -> None:
    @app.get("/__member_probe")
    def probe() -> str:
        person = current_person()
        return str(person.id) if person else "-"

    @app.get("/__members_only")
    @member_required
    def members_only() -> str:
        return "inside"


def test_a_signed_in_member_is_seen_and_not_an_organizer(app, client):
    add_probe(app)
    person = first_person(make_member())
    assert who_is_signed_in(app, client) is None
    sign_in_member(client, person)
    assert who_is_signed_in(app, client) == person.id
    assert client.get("/__members_only").text == "inside"
    admin = client.get("/admin/")
    assert admin.status_code == 302 and "/login" in admin.headers["Location"]


def test_members_pages_send_anyone_else_to_the_sign_in_page(app, client):
    add_probe(app)
    response = client.get("/__members_only?x=1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/members/login?next=")
    assert "__members_only" in response.headers["Location"]


def test_withdrawal_ends_the_session(app, client):
    add_probe(app)
    member = make_member()
    sign_in_member(client, first_person(member))
    with app.test_request_context():
        services.withdraw_member(member.id)
    assert who_is_signed_in(app, client) is None


def test_a_lapsed_member_is_not_signed_in(app, client):
    add_probe(app)
    member = make_member()
    person = first_person(member)
    sign_in_member(client, person)
    with app.test_request_context():
        services.update_member(
            member.id,
            number=member.number,
            name=member.name,
            name_kana=member.name_kana,
            status="lapsed",
            joined_on=None,
            note="",
        )
    assert who_is_signed_in(app, client) is None


def test_removing_the_person_or_changing_the_address_ends_their_session(app, client):
    add_probe(app)
    member = make_member(
        kind=MemberKind.corporate,
        name="株式会社さくら",
        name_kana="さくら",
        people=[
            {"name": "山田 太郎", "name_kana": "やまだ たろう", "email": "yamada@example.org"},
            {"name": "佐藤 一郎", "name_kana": "さとう いちろう", "email": "sato@example.org"},
        ],
    )
    yamada, sato = member.current_people
    sign_in_member(client, yamada)
    other = app.test_client()
    sign_in_member(other, sato)
    with app.test_request_context():
        services.remove_person(yamada.id)
        services.update_person(
            sato.id,
            PersonData(name="佐藤 一郎", name_kana="さとう いちろう", email="s@example.org"),
        )
    assert who_is_signed_in(app, client) is None
    assert who_is_signed_in(app, other) is None


def test_a_forged_or_stale_session_value_is_nobody(app, client):
    add_probe(app)
    person = first_person(make_member())
    for value in ("", "x", f"{person.id}", f"{person.id}:9", "9" * 40 + ":0", f"{person.id}:0:0"):
        with client.session_transaction() as session:
            session["member_person"] = value
        assert who_is_signed_in(app, client) is None, value
    with client.session_transaction() as session:
        session["member_person"] = 12
    assert who_is_signed_in(app, client) is None
