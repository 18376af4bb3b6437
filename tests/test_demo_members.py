"""`flask seed-demo`'s member list (issue 10, point 9): 19 companies and 29 individual
members, fictional, example addresses only, kana readings, one address per person of
the active members; registrations linked to their people; a member's address printed
for trying the sign-in; and safe to run twice."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from cluster_events.database import utcnow
from cluster_events.demo import DEMO_SIGN_IN_MEMBER, seed_demo
from cluster_events.extensions import db
from cluster_events.members.attendance import Attendance, member_attendance
from cluster_events.models import (
    Event,
    Member,
    MemberKind,
    MemberLink,
    MemberPerson,
    MemberStatus,
    Registration,
    RegistrationStatus,
)
from cluster_events.text import is_kana_reading

EXAMPLE_DOMAINS = ("@example.org", "@example.jp")


def test_nineteen_companies_and_twenty_nine_individual_members(app):
    seed_demo()
    members = list(db.session.scalars(select(Member).order_by(Member.number)))
    kinds = Counter(member.kind for member in members)
    assert kinds == {MemberKind.corporate: 19, MemberKind.individual: 29}
    numbers = [member.number for member in members]
    assert numbers == [f"C-{n:03d}" for n in range(1, 20)] + [f"I-{n:03d}" for n in range(1, 30)]
    statuses = Counter(member.status for member in members)
    assert statuses[MemberStatus.withdrawn] == 1 and 2 <= statuses[MemberStatus.lapsed] <= 4
    withdrawn = next(m for m in members if m.status == MemberStatus.withdrawn)
    assert withdrawn.withdrawn_at is not None and withdrawn.withdrawn_at < utcnow()

    for member in members:
        current = member.current_people
        if member.kind == MemberKind.corporate:
            assert 1 <= len(current) <= 3, member.number
        else:
            assert len(current) == 1, member.number
            assert (member.name, member.name_kana) == (current[0].name, current[0].name_kana)
        assert is_kana_reading(member.name_kana), member.name_kana
        for person in member.people:
            assert is_kana_reading(person.name_kana), person.name_kana
            assert person.email.endswith(EXAMPLE_DOMAINS), person.email
            assert person.email_normalized == person.email.lower()
            assert person.is_active == (member.is_active and person.removed_at is None)
    assert any(person.removed_at for member in members for person in member.people)

    people = list(db.session.scalars(select(MemberPerson)))
    active = [person.email_normalized for person in people if person.is_active]
    assert len(active) == len(set(active))
    names = [person.name for person in people]
    assert len(names) == len(set(names))  # every demo person is somebody else
    addresses = db.session.scalars(select(Registration.email))
    assert all(address.endswith(EXAMPLE_DOMAINS) for address in addresses)


def test_registrations_linked_to_members_and_attendance_at_past_events(app):
    seed_demo()
    now = utcnow()
    linked = list(
        db.session.scalars(select(Registration).where(Registration.member_person_id.is_not(None)))
    )
    assert {r.member_link for r in linked} == {MemberLink.verified, MemberLink.matched}
    for registration in linked:
        person = registration.member_person
        assert registration.email_normalized == person.email_normalized
        assert registration.name == person.name
        assert registration.member_type == person.member.kind
        assert person.is_active
    unlinked = db.session.scalars(
        select(Registration.member_link).where(Registration.member_person_id.is_(None))
    )
    assert set(unlinked) == {MemberLink.none}

    members_only = db.session.scalar(select(Event).where(Event.is_members_only.is_(True)))
    seats = [r for r in members_only.registrations if r.status != RegistrationStatus.cancelled]
    assert seats and all(r.member_link == MemberLink.verified for r in seats)
    assert all(r.member_person.member.kind == MemberKind.individual for r in seats)

    checked_in = list(
        db.session.scalars(select(Registration).where(Registration.checked_in_at.is_not(None)))
    )
    assert checked_in and all(r.event.ends_at < now for r in checked_in)
    assert all(r.status == RegistrationStatus.confirmed for r in checked_in)
    assert any(r.member_person_id for r in checked_in)
    cancelled = [r for r in linked if r.status == RegistrationStatus.cancelled]
    assert cancelled and all(r.cancelled_at for r in cancelled)

    seen = Counter()
    for member in db.session.scalars(select(Member)):
        for row in member_attendance(member).rows:
            seen[row.attendance] += 1
    for kind in (Attendance.registered, Attendance.attended, Attendance.no_show):
        assert seen[kind] >= 1, kind
    assert seen[Attendance.cancelled] >= 2


def test_seed_demo_prints_an_address_to_try_the_sign_in_with(app, runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "48 new members" in result.output
    person = db.session.scalar(
        select(MemberPerson)
        .join(Member, MemberPerson.member_id == Member.id)
        .where(Member.number == DEMO_SIGN_IN_MEMBER)
    )
    assert person.is_active
    assert f"flask --app cluster_events member-login-link {person.email}" in result.output
    # Not registered yet for the members-only event, so that can be tried from scratch.
    members_only = db.session.scalar(select(Event).where(Event.is_members_only.is_(True)))
    assert person.email not in {r.email for r in members_only.registrations}


def _member_counts() -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Member, MemberPerson, Registration)
    )


def test_twice_adds_no_member(app, runner):
    runner.invoke(args=["seed-demo"])
    counts = _member_counts()
    second = runner.invoke(args=["seed-demo"])
    assert "0 new events, 0 new members" in second.output
    assert _member_counts() == counts
    assert runner.invoke(args=["seed-demo-if-empty"]).output == ""
    assert _member_counts() == counts


def test_seed_demo_if_empty_seeds_members_and_prints_the_hint(app, runner):
    result = runner.invoke(args=["seed-demo-if-empty"])
    assert "48 demo members" in result.output
    assert "member-login-link kaiin-" in result.output


def test_the_console_shows_the_demo_members(app, logged_in_client):
    seed_demo()
    client = logged_in_client()
    listing = client.get("/admin/members")
    assert listing.status_code == 200
    page = listing.get_data(as_text=True)
    assert page.count('href="/admin/members/') >= 48
    company = db.session.scalar(select(Member).where(Member.number == "C-001"))
    page = client.get(f"/admin/members/{company.id}").get_data(as_text=True)
    assert "株式会社三浦精機" in page and "外した担当者" in page
