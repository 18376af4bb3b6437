"""Members for tests: made through the member list's services (audited like the
console's), and signed in by writing the member session the way a sign-in does."""

from __future__ import annotations

from typing import Any

from flask import current_app, has_request_context
from flask.testing import FlaskClient

from cluster_events.extensions import db
from cluster_events.members import services
from cluster_events.members.services import PersonData
from cluster_events.members.sessions import SESSION_KEY
from cluster_events.models import Member, MemberKind, MemberPerson

_numbers = iter(range(1, 10**6))


def make_member(
    *,
    kind: str = MemberKind.individual,
    name: str = "横須賀 花子",
    name_kana: str = "よこすか はなこ",
    number: str | None = None,
    people: list[dict[str, Any]] | None = None,
    **member_values: Any,
) -> Member:
    """A member with its people (by default one person named like the member, with an
    address made from the member number). Committed."""
    number = number or f"T-{next(_numbers):04d}"
    if people is None:
        people = [{"name": name, "name_kana": name_kana, "email": f"{number.lower()}@example.org"}]

    def create() -> Member:
        return services.create_member(
            kind=kind,
            number=number,
            name=name,
            name_kana=name_kana,
            people=[PersonData(**person) for person in people],
            **member_values,
        )

    if has_request_context():
        member = create()
    else:
        with current_app.test_request_context():
            member = create()
    return db.session.get(Member, member.id)


def first_person(member: Member) -> MemberPerson:
    return member.current_people[0]


def sign_in_member(client: FlaskClient, person: MemberPerson) -> None:
    """The browser of ``client`` is signed in as ``person`` from now on."""
    with client.session_transaction() as session:
        session[SESSION_KEY] = f"{person.id}:{person.session_generation}"
