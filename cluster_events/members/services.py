"""Changes to the member list, as the office makes them: create, edit, add, change and
remove a contact person, withdraw and reactivate a member.

Each public function runs in one ``write_transaction``: it validates, changes, records
the change in the audit log and commits, or changes nothing at all (a refusal is a
``ServiceError`` whose ``field_errors`` name the field).

- An individual member has exactly one person, a corporate member one or more.
- An email address belongs to at most one person of the active members
  (``MemberPerson.is_active``, kept here equal to "member active and person not
  removed", is what the database's partial unique index reads).
- Withdrawing keeps the member and its people (the history); it deactivates the people
  and raises their ``session_generation``, which ends their sessions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cluster_events.audit import record_change
from cluster_events.database import utcnow
from cluster_events.errors import Conflict, Message, ServiceError
from cluster_events.extensions import db
from cluster_events.members.queries import get_member, get_person
from cluster_events.models import Member, MemberKind, MemberPerson, MemberStatus
from cluster_events.registration.services import checked_email
from cluster_events.text import (
    has_forbidden_characters,
    is_kana_reading,
    katakana_to_hiragana,
    normalise_input,
    normalise_multiline,
)
from cluster_events.transactions import write_transaction

NUMBER_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]*$")
NOTE_MAX_LENGTH = 5000

FORBIDDEN_MESSAGE = _l(
    "This holds characters that cannot be used (invisible control characters or line "
    "breaks). Please check the text."
)
NUMBER_TAKEN_MESSAGE = _l("Another member already has this number.")
DUPLICATE_EMAIL_MESSAGE = _l(
    "This address already belongs to a contact person of an active member."
)


@dataclass
class PersonData:
    """A contact person as the office typed it (the service normalises it)."""

    name: str
    name_kana: str
    email: str
    phone: str = ""
    department: str = ""
    title: str = ""


PERSON_FIELDS = tuple(field.name for field in fields(PersonData))
MEMBER_FIELDS = ("number", "kind", "name", "name_kana", "status", "joined_on", "note")


# --- validation -------------------------------------------------------------------------------


def _line(
    errors: dict[str, Message], key: str, value: str | None, maximum: int, *, required: bool
) -> str:
    if value is not None and has_forbidden_characters(value, single_line=True):
        errors[key] = FORBIDDEN_MESSAGE
        return ""
    cleaned = normalise_input(value)
    if required and not cleaned:
        errors[key] = _required_message(key)
    elif len(cleaned) > maximum:
        errors[key] = _l("Please keep this within %(max)d characters.", max=maximum)
    return cleaned


def _required_message(key: str) -> Message:
    name = key.rsplit("-", 1)[-1]
    if name == "number":
        return _l("Please enter the member number.")
    if name == "name_kana":
        return _l("Please enter the reading (furigana).")
    if name == "email":
        return _l("Please enter an email address.")
    return _l("Please enter the name.")


def _reading(errors: dict[str, Message], key: str, value: str | None, maximum: int) -> str:
    reading = _line(errors, key, value, maximum, required=True)
    if key not in errors and not is_kana_reading(reading):
        errors[key] = _l("Please write the reading in hiragana or katakana.")
    return katakana_to_hiragana(reading)


def _checked_person(errors: dict[str, Message], data: PersonData, prefix: str = "") -> PersonData:
    values = {
        "name": _line(errors, prefix + "name", data.name, 100, required=True),
        "name_kana": _reading(errors, prefix + "name_kana", data.name_kana, 100),
        "email": _line(errors, prefix + "email", data.email, 254, required=True),
        "phone": _line(errors, prefix + "phone", data.phone, 30, required=False),
        "department": _line(errors, prefix + "department", data.department, 100, required=False),
        "title": _line(errors, prefix + "title", data.title, 100, required=False),
    }
    if values["email"]:
        try:
            values["email"] = checked_email(values["email"])
        except ServiceError as error:
            errors[prefix + "email"] = error.field_errors["email"]
    return PersonData(**values)


def _checked_member(
    errors: dict[str, Message],
    *,
    number: str,
    name: str,
    name_kana: str,
    note: str,
    exclude_id: int | None = None,
) -> dict[str, Any]:
    values = {
        "number": _line(errors, "number", number, 32, required=True),
        "name": _line(errors, "name", name, 200, required=True),
        "name_kana": _reading(errors, "name_kana", name_kana, 200),
    }
    if "number" not in errors and not NUMBER_PATTERN.match(values["number"]):
        errors["number"] = _l(
            "Please write the member number in letters, digits, hyphens and underscores."
        )
    elif "number" not in errors and _number_taken(values["number"], exclude_id):
        errors["number"] = NUMBER_TAKEN_MESSAGE
    if note is not None and has_forbidden_characters(note):
        errors["note"] = FORBIDDEN_MESSAGE
    values["note"] = normalise_multiline(note)
    if len(values["note"]) > NOTE_MAX_LENGTH:
        errors["note"] = _l("Please keep this within %(max)d characters.", max=NOTE_MAX_LENGTH)
    return values


def _number_taken(number: str, exclude_id: int | None) -> bool:
    query = select(Member.id).where(Member.number == number)
    if exclude_id is not None:
        query = query.where(Member.id != exclude_id)
    return db.session.scalar(query) is not None


def _email_taken(email: str, exclude_person_id: int | None = None) -> bool:
    query = select(MemberPerson.id).where(
        MemberPerson.email_normalized == email.lower(), MemberPerson.is_active.is_(True)
    )
    if exclude_person_id is not None:
        query = query.where(MemberPerson.id != exclude_person_id)
    return db.session.scalar(query) is not None


def _refuse(errors: dict[str, Message]) -> None:
    if errors:
        conflict = any(
            message is DUPLICATE_EMAIL_MESSAGE or message is NUMBER_TAKEN_MESSAGE
            for message in errors.values()
        )
        raise (Conflict if conflict else ServiceError)(field_errors=errors)


def _flush_or_conflict(email_field: str = "people") -> None:
    """Flush; a number or an address saved by another request at the same moment (after
    our checks) is a Conflict at the field the database's index names."""
    try:
        db.session.flush()
    except IntegrityError as error:
        if "email" in str(error.orig):
            raise Conflict(field_errors={email_field: DUPLICATE_EMAIL_MESSAGE}) from error
        raise Conflict(field_errors={"number": NUMBER_TAKEN_MESSAGE}) from error


def _member_snapshot(member: Member) -> dict[str, Any]:
    values = {name: getattr(member, name) for name in MEMBER_FIELDS}
    values["joined_on"] = member.joined_on.isoformat() if member.joined_on else None
    return values


def _person_snapshot(person: MemberPerson) -> dict[str, Any]:
    values = {name: getattr(person, name) for name in PERSON_FIELDS}
    values["member_id"] = person.member_id
    values["is_active"] = person.is_active
    return values


def _new_person(member: Member, data: PersonData) -> MemberPerson:
    person = MemberPerson(
        member=member,
        email_normalized=data.email.lower(),
        is_active=member.is_active,
        **{name: getattr(data, name) for name in PERSON_FIELDS},
    )
    db.session.add(person)
    return person


# --- members ---------------------------------------------------------------------------------


def create_member(
    *,
    kind: str,
    number: str,
    name: str,
    name_kana: str,
    joined_on: date | None = None,
    note: str = "",
    people: Sequence[PersonData] = (),
) -> Member:
    with write_transaction():
        errors: dict[str, Message] = {}
        if kind not in tuple(MemberKind):
            errors["kind"] = _l("Please choose corporate or individual.")
        values = _checked_member(errors, number=number, name=name, name_kana=name_kana, note=note)
        checked = [_checked_person(errors, data, f"people-{i}-") for i, data in enumerate(people)]
        if kind == MemberKind.individual and len(people) != 1:
            errors["people"] = _l("An individual member has exactly one contact person.")
        elif kind == MemberKind.corporate and not people:
            errors["people"] = _l("A corporate member needs at least one contact person.")
        seen: set[str] = set()
        for i, data in enumerate(checked):
            key = f"people-{i}-email"
            if key in errors or not data.email:
                continue
            if data.email.lower() in seen or _email_taken(data.email):
                errors[key] = DUPLICATE_EMAIL_MESSAGE
            seen.add(data.email.lower())
        _refuse(errors)
        member = Member(kind=kind, joined_on=joined_on, status=MemberStatus.active, **values)
        db.session.add(member)
        new_people = [_new_person(member, data) for data in checked]
        _flush_or_conflict()
        record_change("member.create", "member", member.id, after=_member_snapshot(member))
        for person in new_people:
            record_change(
                "member_person.add", "member_person", person.id, after=_person_snapshot(person)
            )
    return member


def update_member(
    member_id: int,
    *,
    number: str,
    name: str,
    name_kana: str,
    joined_on: date | None,
    note: str,
    status: str | None = None,
) -> Member:
    """Change a member's details; ``status`` moves between active and lapsed only
    (withdrawing is ``withdraw_member``)."""
    with write_transaction():
        member = get_member(member_id)
        if member.status == MemberStatus.withdrawn:
            raise Conflict(_l("This member has withdrawn. Reactivate it before changing it."))
        errors: dict[str, Message] = {}
        values = _checked_member(
            errors, number=number, name=name, name_kana=name_kana, note=note, exclude_id=member.id
        )
        if status is not None and status not in (MemberStatus.active, MemberStatus.lapsed):
            errors["status"] = _l("Please choose active or lapsed.")
        _refuse(errors)
        before = _member_snapshot(member)
        for key, value in values.items():
            setattr(member, key, value)
        member.joined_on = joined_on
        if status is not None:
            member.status = status
        _sync_people(member)
        _flush_or_conflict()
        record_change(
            "member.update",
            "member",
            member.id,
            before=before,
            after=_member_snapshot(member),
            changed_only=True,
        )
    return member


def withdraw_member(member_id: int) -> Member:
    with write_transaction():
        member = get_member(member_id)
        if member.status == MemberStatus.withdrawn:
            raise Conflict(_l("This member has already withdrawn."))
        before = _member_snapshot(member)
        member.status = MemberStatus.withdrawn
        member.withdrawn_at = utcnow()
        _sync_people(member)
        db.session.flush()
        record_change(
            "member.withdraw", "member", member.id, before=before, after=_member_snapshot(member)
        )
    return member


def reactivate_member(member_id: int) -> Member:
    """A withdrawn or lapsed member becomes active again, with the people it had (unless
    one of their addresses now belongs to a person of another active member)."""
    with write_transaction():
        member = get_member(member_id)
        # Locked, so that a purge of its personal data running now is seen (members.purge).
        db.session.refresh(member, with_for_update=True)
        if member.status == MemberStatus.active:
            raise Conflict(_l("This member is already active."))
        if any(person.personal_data_purged_at for person in member.current_people):
            raise Conflict(
                _l(
                    "This member's personal data has been deleted, so it cannot be made "
                    "active again. Please add it as a new member."
                )
            )
        before = _member_snapshot(member)
        member.status = MemberStatus.active
        member.withdrawn_at = None
        _sync_people(member)
        _flush_or_conflict()
        record_change(
            "member.reactivate", "member", member.id, before=before, after=_member_snapshot(member)
        )
    return member


def _sync_people(member: Member) -> None:
    """Keep ``is_active`` equal to "member active and person not removed"; a person who
    stops being active has their sessions ended. Refuses when a person would become
    active with an address another active member's person has."""
    for person in member.people:
        active = member.is_active and person.removed_at is None
        if active and not person.is_active and _email_taken(person.email, person.id):
            raise Conflict(
                _l(
                    "%(email)s now belongs to a contact person of another active member. "
                    "Change or remove that person first.",
                    email=person.email,
                ),
                field_errors={"people": DUPLICATE_EMAIL_MESSAGE},
            )
        if person.is_active and not active:
            person.session_generation += 1
        person.is_active = active


# --- people ----------------------------------------------------------------------------------


def add_person(member_id: int, data: PersonData) -> MemberPerson:
    with write_transaction():
        member = get_member(member_id)
        if member.status == MemberStatus.withdrawn:
            raise Conflict(_l("This member has withdrawn. Reactivate it before changing it."))
        if member.kind == MemberKind.individual and member.current_people:
            raise ServiceError(_l("An individual member has exactly one contact person."))
        errors: dict[str, Message] = {}
        checked = _checked_person(errors, data)
        if "email" not in errors and member.is_active and _email_taken(checked.email):
            errors["email"] = DUPLICATE_EMAIL_MESSAGE
        _refuse(errors)
        person = _new_person(member, checked)
        _flush_or_conflict("email")
        record_change(
            "member_person.add", "member_person", person.id, after=_person_snapshot(person)
        )
    return person


def update_person(person_id: int, data: PersonData) -> MemberPerson:
    with write_transaction():
        person = get_person(person_id)
        if person.removed_at is not None or person.member.status == MemberStatus.withdrawn:
            raise Conflict(_l("This contact person can no longer be changed."))
        errors: dict[str, Message] = {}
        checked = _checked_person(errors, data)
        if "email" not in errors and person.is_active and _email_taken(checked.email, person.id):
            errors["email"] = DUPLICATE_EMAIL_MESSAGE
        _refuse(errors)
        before = _person_snapshot(person)
        for name in PERSON_FIELDS:
            setattr(person, name, getattr(checked, name))
        if person.email_normalized != checked.email.lower():
            # Whoever signed in with the old address is not this person any more.
            person.session_generation += 1
        person.email_normalized = checked.email.lower()
        _flush_or_conflict("email")
        record_change(
            "member_person.update",
            "member_person",
            person.id,
            before=before,
            after=_person_snapshot(person),
            changed_only=True,
        )
    return person


def remove_person(person_id: int) -> MemberPerson:
    """The person leaves the member (kept for the history, sessions ended). A member's
    last person cannot be removed: an individual member's person is changed instead."""
    with write_transaction():
        person = get_person(person_id)
        if person.removed_at is not None:
            raise Conflict(_l("This contact person has already been removed."))
        if len(person.member.current_people) <= 1:
            raise Conflict(
                _l(
                    "A member's last contact person cannot be removed. "
                    "Change their details instead."
                )
            )
        before = _person_snapshot(person)
        person.removed_at = utcnow()
        _sync_people(person.member)
        db.session.flush()
        record_change(
            "member_person.remove",
            "member_person",
            person.id,
            before=before,
            after=_person_snapshot(person),
        )
    return person
