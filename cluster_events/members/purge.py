"""Deleting the personal data of members who withdrew long ago, as registrations' is
deleted after their event (`flask --app cluster_events purge-personal-data
--older-than N`, in cli.py, runs both; N is the same retention period).

For a member that withdrew more than N days ago, each of its people (and, for any
member, a contact person removed more than N days ago) loses every copy of their
personal data:

- the person row: name, reading, address, phone, department and title are replaced
  (the address with one unique to the row, so the unique index holds), the private
  feeds' salts and token hashes and the sign-in links are deleted, and
  ``personal_data_purged_at`` is set;
- an individual member's own name and reading (they are the person's); the office's
  note of any withdrawn member (it may name people). A company's name stays;
- the values of every audit entry about the member or the person, except the facts
  (number, kind, status, dates; for a company its name);
- every email addressed to the person that is not about a registration (sign-in links),
  at any address the audit log shows they had;
- the registrations linked to the person whose event has ended, with their emails
  and audit entries, by the registrations' rules (``registration.purge``). One for an
  event still to come stays until its event is purged: the office needs it to run it.

What stays: the member's number, kind, status and dates, the rows and their ids (so
registrations stay linked and the member page still counts attendance), and the
audit log's actions, authors and times. One member per transaction; running it again
finds nothing to do. Each purge is audited with counts only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select

from cluster_events.audit import record_change
from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import (
    AuditLogEntry,
    Event,
    Member,
    MemberKind,
    MemberLoginToken,
    MemberPerson,
    MemberStatus,
    OutboxMessage,
    Registration,
)
from cluster_events.registration.purge import (
    PURGED_MARKER,
    PurgeCounts,
    blank_messages,
    purge_registrations,
    scrub_audit_entries,
)
from cluster_events.transactions import end_read_transaction, write_transaction

PURGE_ACTION = "member.purge_personal_data"
#: Values an audit entry about a person keeps; every other one is replaced.
PERSON_FACTS = frozenset({"member_id", "is_active", "removed_at"})
#: Values an audit entry about a member keeps (a company's name too).
MEMBER_FACTS = frozenset({"number", "kind", "status", "joined_on", "withdrawn_at"})
COMPANY_FACTS = MEMBER_FACTS | {"name", "name_kana"}
PERSON_TEXT_FIELDS = ("phone", "department", "title")


@dataclass
class MemberPurgeCounts:
    members: int = 0
    people: int = 0
    registrations: int = 0
    emails: int = 0
    audit_entries: int = 0

    def add(self, other: MemberPurgeCounts) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def purged_address(person_id: int) -> str:
    return f"purged-person-{person_id}@invalid"


def _due(cutoff: datetime) -> Any:
    """People not purged yet whose member withdrew before ``cutoff``, or who were
    removed before it."""
    return and_(
        MemberPerson.personal_data_purged_at.is_(None),
        or_(
            and_(Member.status == MemberStatus.withdrawn, Member.withdrawn_at < cutoff),
            MemberPerson.removed_at < cutoff,
        ),
    )


def purge_members_older_than(days: int, *, now: datetime | None = None) -> MemberPurgeCounts:
    """Purge every member (and person) that is due; one transaction per member, so an
    interruption leaves each member purged or untouched."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    member_ids = db.session.scalars(
        select(MemberPerson.member_id)
        .join(Member, MemberPerson.member_id == Member.id)
        .where(_due(cutoff))
        .distinct()
        .order_by(MemberPerson.member_id)
    ).all()
    end_read_transaction()
    total = MemberPurgeCounts()
    for member_id in member_ids:
        with write_transaction():
            total.add(_purge_member(member_id, cutoff, now, days))
    return total


def _purge_member(member_id: int, cutoff: datetime, now: datetime, days: int) -> MemberPurgeCounts:
    counts = MemberPurgeCounts()
    # Locked and read afresh: the office may have reactivated it since the list was made.
    member = db.session.scalar(
        select(Member)
        .where(Member.id == member_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if member is None:
        return counts
    # The people of a withdrawn member, and removed people, change only here, so the
    # member's lock is enough; their registrations' events are locked below.
    people = db.session.scalars(
        select(MemberPerson)
        .join(Member, MemberPerson.member_id == Member.id)
        .where(MemberPerson.member_id == member_id, _due(cutoff))
        .order_by(MemberPerson.id)
        .execution_options(populate_existing=True)
    ).all()
    if not people:
        return counts
    whole_member = (
        member.status == MemberStatus.withdrawn
        and member.withdrawn_at is not None
        and member.withdrawn_at < cutoff
    )
    person_ids = [person.id for person in people]
    about_people = and_(
        AuditLogEntry.target_type == "member_person", AuditLogEntry.target_id.in_(person_ids)
    )
    addresses = _addresses(people, about_people)

    linked = _purge_linked_registrations(person_ids, now)
    counts.registrations, counts.emails, counts.audit_entries = (
        linked.registrations,
        linked.emails,
        linked.audit_entries,
    )
    for person in people:
        _blank_person(person, now)
    db.session.execute(delete(MemberLoginToken).where(MemberLoginToken.person_id.in_(person_ids)))
    if whole_member:
        member.note = ""
        if member.kind == MemberKind.individual:
            member.name = PURGED_MARKER
            member.name_kana = ""
    counts.emails += blank_messages(
        and_(
            func.lower(OutboxMessage.recipient).in_(sorted(addresses)),
            OutboxMessage.registration_id.is_(None),
        )
    )
    audited = about_people
    if whole_member:
        audited = or_(
            audited,
            and_(AuditLogEntry.target_type == "member", AuditLogEntry.target_id == member.id),
        )
    counts.audit_entries += scrub_audit_entries(
        and_(audited, AuditLogEntry.action != PURGE_ACTION), _keys_for(member)
    )
    counts.members, counts.people = 1, len(people)
    db.session.flush()
    record_change(
        PURGE_ACTION,
        "member",
        member.id,
        after={
            "people": counts.people,
            "registrations": counts.registrations,
            "emails": counts.emails,
            "audit_entries": counts.audit_entries,
            "older_than_days": days,
        },
    )
    return counts


def _addresses(people: Iterable[MemberPerson], about_people: Any) -> set[str]:
    """Every address the people have or had (an earlier one shows in the audit log)."""
    found = {person.email_normalized.lower() for person in people}
    for entry in db.session.scalars(select(AuditLogEntry).where(about_people)):
        for values in (entry.before or {}, entry.after or {}):
            for key in ("email", "email_normalized"):
                value = values.get(key)
                if isinstance(value, str) and "@" in value:
                    found.add(value.strip().lower())
    return found


def _purge_linked_registrations(person_ids: list[int], now: datetime) -> PurgeCounts:
    """The people's registrations of ended events, event by event in id order, each
    event's row locked as every change to its registrations does."""
    rows = db.session.execute(
        select(Registration.event_id, Registration.id)
        .join(Event, Registration.event_id == Event.id)
        .where(
            Registration.member_person_id.in_(person_ids),
            Registration.personal_data_purged_at.is_(None),
            Event.ends_at <= now,
        )
        .order_by(Registration.event_id, Registration.id)
    ).all()
    by_event: dict[int, list[int]] = defaultdict(list)
    for event_id, registration_id in rows:
        by_event[event_id].append(registration_id)
    total = PurgeCounts()
    for event_id, registration_ids in by_event.items():
        with write_transaction(lock_event=event_id):
            done = purge_registrations(registration_ids, now)
        total.registrations += done.registrations
        total.emails += done.emails
        total.audit_entries += done.audit_entries
    return total


def _blank_person(person: MemberPerson, now: datetime) -> None:
    person.name = PURGED_MARKER
    person.name_kana = ""
    person.email = person.email_normalized = purged_address(person.id)
    for name in PERSON_TEXT_FIELDS:
        setattr(person, name, "")
    person.members_feed_salt = person.members_feed_token_hash = None
    person.my_feed_salt = person.my_feed_token_hash = None
    person.is_active = False
    person.session_generation += 1
    person.personal_data_purged_at = now


def _keys_for(member: Member) -> Callable[[AuditLogEntry], Callable[[str], bool]]:
    member_facts = COMPANY_FACTS if member.kind == MemberKind.corporate else MEMBER_FACTS

    def personal_keys(entry: AuditLogEntry) -> Callable[[str], bool]:
        facts = PERSON_FACTS if entry.target_type == "member_person" else member_facts
        return lambda key: key not in facts

    return personal_keys
