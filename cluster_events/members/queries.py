"""Reads of the member list: the office's list (search, filters, 五十音順) and one member."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from cluster_events.errors import NotFound
from cluster_events.extensions import db
from cluster_events.models import Member, MemberPerson
from cluster_events.text import katakana_to_hiragana, normalise_input


class MemberNotFound(NotFound):
    default_message = _l("This member could not be found.")


def normalise_query(query: str | None) -> str:
    """What people type into the search box, in the form names are stored in
    (readings in hiragana, no spaces, lower case)."""
    return katakana_to_hiragana(normalise_input(query)).replace(" ", "").lower()


def _compact(column: Any) -> Any:
    return func.lower(func.replace(column, " ", ""))


def list_members(
    *, search: str = "", kind: str | None = None, status: str | None = None
) -> list[Member]:
    """Members whose name, reading or number, or a current person's name, reading or
    address, holds ``search``; in 五十音順 of the reading. People come in one more query."""
    statement = select(Member).options(selectinload(Member.people))
    if kind:
        statement = statement.where(Member.kind == kind)
    if status:
        statement = statement.where(Member.status == status)
    if needle := normalise_query(search):
        person_matches = (
            select(MemberPerson.member_id)
            .where(MemberPerson.removed_at.is_(None))
            .where(
                or_(
                    *(
                        _compact(column).contains(needle, autoescape=True)
                        for column in (
                            MemberPerson.name,
                            MemberPerson.name_kana,
                            MemberPerson.email_normalized,
                        )
                    )
                )
            )
        )
        statement = statement.where(
            or_(
                *(
                    _compact(column).contains(needle, autoescape=True)
                    for column in (Member.name, Member.name_kana, Member.number)
                ),
                Member.id.in_(person_matches),
            )
        )
    members = db.session.scalars(statement).all()
    # Sorted here, not by the database: PostgreSQL's collation decides the order of kana
    # differently from SQLite's, and the office expects the same 五十音順 everywhere.
    return sorted(members, key=lambda member: (member.name_kana, member.number, member.id))


def get_member(member_id: int) -> Member:
    member = db.session.get(Member, member_id)
    if member is None:
        raise MemberNotFound()
    return member


def get_person(person_id: int) -> MemberPerson:
    person = db.session.get(MemberPerson, person_id)
    if person is None:
        raise MemberNotFound(_l("This contact person could not be found."))
    return person
