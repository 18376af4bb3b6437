"""Purging the personal data of members who withdrew long ago (issue 10, point 10):
the office keeps and edits members in the console, their people register, check in,
get emails (sign-in links too) and have private feeds; after `purge-personal-data`
no table's column holds any of their names, readings, addresses, phones, departments
or titles, while members who are still active (or withdrew recently) keep theirs and
the statistics survive."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import current_app
from sqlalchemy import func, select, update

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.members import feed_tokens, purge, sign_in
from cluster_events.members.attendance import Attendance, member_attendance
from cluster_events.models import (
    AuditLogEntry,
    Event,
    Member,
    MemberLink,
    MemberLoginToken,
    MemberPerson,
    MemberStatus,
    Registration,
    RegistrationStatus,
)
from cluster_events.registration.purge import PURGED_MARKER
from tests.conftest import sending_to
from tests.factories import make_event, make_registration
from tests.members import make_member
from tests.test_purge_every_copy import where_found

LONG_AGO = timedelta(days=400)


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {**app_config, **sending_to(smtp_server), "MAIL_TIMEOUT": 5}


def person_values(tag: str, kana: str, domain: str = "example.jp") -> dict[str, str]:
    """A contact person whose every value holds a marker made from ``tag``."""
    return {
        "name": f"山田 MKNAME{tag}Z",
        "name_kana": f"やまだ {kana}",
        "email": f"mkmem{tag}x@{domain}",
        "phone": f"046-777-{tag}",
        "department": f"MKDEPT{tag}Z",
        "title": f"MKTITLE{tag}Z",
    }


def markers_of(values: dict[str, str]) -> set[str]:
    return {
        values["name"].split()[-1],
        values["name_kana"].split()[-1],
        values["email"].split("@")[0],
        values["phone"],
        values["department"],
        values["title"],
    }


def _new_member(client, kind: str, number: str, name: str, kana: str, note: str, person):
    data = {
        "kind": kind,
        "number": number,
        "name": name,
        "name_kana": kana,
        "joined_on": "2019-04-01",
        "note": note,
        **{f"people-0-{key}": value for key, value in person.items()},
    }
    response = client.post("/admin/members/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return db.session.scalar(select(Member).where(Member.number == number))


def _register(app, slug: str, values: dict[str, str]) -> None:
    form = {
        "name": values["name"],
        "name_kana": values["name_kana"],
        "email": values["email"],
        "organization": "",
        "title": values["title"],
        "phone": values["phone"],
        "member_type": "corporate",
        "remarks": f"{values['department']} 駐車場を使います",
        "agree_privacy": "y",
    }
    response = app.test_client().post(f"/events/{slug}/register", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)


def _link(person: MemberPerson, link: str = MemberLink.matched) -> None:
    """As the registration service links a registration to a member's person."""
    db.session.execute(
        update(Registration)
        .where(Registration.email_normalized == person.email_normalized)
        .values(member_person_id=person.id, member_link=link)
    )
    db.session.commit()


def _sign_in_email(address: str) -> None:
    """A real sign-in link asked for on /members/login (its email queued in the outbox)."""
    with current_app.test_request_context():
        sign_in.request_sign_in_link(address, "ja")


def _feeds_and_links(person: MemberPerson) -> None:
    """The person's private feeds, as My page makes them, and an unused sign-in link."""
    with current_app.test_request_context():
        feed_tokens.ensure_feed_tokens(person)
        sign_in.request_sign_in_link(person.email, "en")


def _withdraw(client, member: Member, ago: timedelta) -> None:
    assert client.post(f"/admin/members/{member.id}/withdraw").status_code == 302
    db.session.execute(
        update(Member).where(Member.id == member.id).values(withdrawn_at=utcnow() - ago)
    )
    db.session.commit()


def _the_office_at_work(app, client):
    """Two members who withdrew long ago (a company with two people, one of whom
    changed address, and an individual), one who withdrew last month and one still
    active, all registered for an event that ended ten days ago. Returns the members
    and the markers of the long-gone and of the others."""
    first, second, alone = (
        person_values("0001", "ぬけぽ"),
        person_values("0002", "ぬけぴ"),
        person_values("0003", "ぬけぷ", "example.org"),
    )
    recent, active = person_values("0004", "ぬけぺ"), person_values("0005", "ぬけぱ")
    company = _new_member(
        client, "corporate", "C-900", "三浦精機株式会社", "みうらせいき", "MKNOTE1Z 山田様", first
    )
    assert client.post(f"/admin/members/{company.id}/people/new", data=second).status_code == 302
    person = company.people[0]
    _sign_in_email(first["email"])  # to the address the person had before
    moved = {**first, "email": "mkmem0001y@example.jp", "phone": "046-777-1001"}
    url = f"/admin/members/{company.id}/people/{person.id}/edit"
    assert client.post(url, data=moved).status_code == 302
    individual = _new_member(
        client, "individual", "I-900", alone["name"], alone["name_kana"], "MKNOTE3Z", alone
    )
    lately = _new_member(
        client, "individual", "I-901", recent["name"], recent["name_kana"], "MKNOTE4Z", recent
    )
    staying = _new_member(
        client, "individual", "I-902", active["name"], active["name_kana"], "MKNOTE5Z", active
    )
    db.session.expire_all()

    event = make_event(slug="marked", capacity=10)
    db.session.commit()
    for values in (moved, second, alone, recent, active):
        _register(app, "marked", values)
    people = {p.email: p for p in db.session.scalars(select(MemberPerson))}
    _link(people[moved["email"]], MemberLink.verified)
    for values in (second, alone, recent, active):
        _link(people[values["email"]])

    registrations = {
        r.email: r.id
        for r in db.session.scalars(select(Registration).where(Registration.event_id == event.id))
    }
    base = f"/admin/events/{event.id}/attendees"
    for address in (moved["email"], recent["email"], active["email"]):
        registration_id = registrations[address]
        response = client.post(
            f"{base}/{registration_id}/check-in", data={"action": "arrived", "back": "checkin"}
        )
        assert response.status_code == 302
    note = {"organizer_note": "MKRNOTE1Z 車椅子でご来場"}
    assert client.post(f"{base}/{registrations[moved['email']]}/note", data=note).status_code == 302
    cancel = f"{base}/{registrations[second['email']]}/cancel"
    assert client.post(cancel, data={"notify": "yes"}).status_code == 302

    # Sign-in links (one went to the address the person had before) and private feeds.
    for values in (moved, alone, recent, active):
        _sign_in_email(values["email"])
    for values in (moved, second, alone, recent, active):
        _feeds_and_links(people[values["email"]])
    db.session.commit()
    outbox.deliver_due(limit=6)  # some sent, the rest still queued

    ended = utcnow() - timedelta(days=10)
    db.session.execute(
        update(Event).where(Event.id == event.id).values(starts_at=ended, ends_at=ended)
    )
    db.session.commit()
    _withdraw(client, company, LONG_AGO)
    _withdraw(client, individual, LONG_AGO)
    _withdraw(client, lately, timedelta(days=30))

    gone = markers_of(first) | markers_of(second) | markers_of(alone)
    gone |= {"mkmem0001y", "046-777-1001", "MKNOTE1Z", "MKNOTE3Z", "MKRNOTE1Z"}
    kept = markers_of(recent) | markers_of(active) | {"MKNOTE4Z", "MKNOTE5Z"}
    return (company, individual, lately, staying), gone, kept


def test_no_copy_of_a_long_withdrawn_members_people_survives(app, logged_in_client, runner):
    client = logged_in_client(role="admin")
    (company, individual, lately, staying), gone, kept = _the_office_at_work(app, client)
    before = where_found(gone | kept)
    assert set(before) == gone | kept, (gone | kept) - set(before)  # the scan sees them all
    for copy in (
        "member_person.email",
        "registration.email",
        "outbox_message.recipient",
        "outbox_message.body_text",
        "audit_log_entry.before",
        "audit_log_entry.after",
        "member.note",
    ):
        assert any(copy in places for places in before.values()), copy
    statuses = {r.id: (r.status, r.checked_in_at) for r in db.session.scalars(select(Registration))}

    result = runner.invoke(args=["purge-personal-data", "--older-than", "365"])
    assert result.exit_code == 0, result.output
    # The event ended ten days ago: the registrations' purge leaves it alone.
    assert "0 registrations of 0 events" in result.output
    assert "3 contact people of 2 members" in result.output, result.output
    assert "with 3 of their registrations" in result.output

    assert where_found(gone) == {}
    assert set(where_found(kept)) == kept  # the recent and the active members are untouched
    for member in (lately, staying):
        assert db.session.get(Member, member.id).people[0].personal_data_purged_at is None

    db.session.expire_all()
    # What the statistics need stays: members, numbers, kinds, statuses, rows, links.
    company, individual = db.session.get(Member, company.id), db.session.get(Member, individual.id)
    assert (company.number, company.kind, company.status) == ("C-900", "corporate", "withdrawn")
    assert company.name == "三浦精機株式会社"  # a company's name is not a person's
    assert (individual.name, individual.name_kana, individual.note) == (PURGED_MARKER, "", "")
    assert individual.number == "I-900" and individual.joined_on.isoformat() == "2019-04-01"
    for person in company.people + individual.people:
        assert person.personal_data_purged_at is not None
        assert person.email == person.email_normalized == f"purged-person-{person.id}@invalid"
        assert (person.name, person.phone, person.department, person.title) == (
            PURGED_MARKER,
            "",
            "",
            "",
        )
        assert person.members_feed_salt is None and person.members_feed_token_hash is None
        assert person.my_feed_salt is None and person.my_feed_token_hash is None
        assert not person.is_active
    purged_ids = [p.id for p in company.people + individual.people]
    tokens = select(func.count()).where(MemberLoginToken.person_id.in_(purged_ids))
    assert db.session.scalar(tokens) == 0
    # The recent and the active member keep theirs (two sign-in links each).
    assert db.session.scalar(select(func.count()).select_from(MemberLoginToken)) == 4
    after = {r.id: (r.status, r.checked_in_at) for r in db.session.scalars(select(Registration))}
    assert after == statuses
    history = member_attendance(company)
    assert sorted(row.attendance for row in history.rows) == [
        Attendance.attended,
        Attendance.cancelled,
    ]

    entry = db.session.scalar(
        select(AuditLogEntry).where(
            AuditLogEntry.action == purge.PURGE_ACTION, AuditLogEntry.target_id == company.id
        )
    )
    assert entry.organizer_id is None
    assert entry.after["people"] == 2 and entry.after["registrations"] == 2
    assert entry.after["older_than_days"] == 365
    withdraw = db.session.scalar(
        select(AuditLogEntry).where(
            AuditLogEntry.action == "member.withdraw", AuditLogEntry.target_id == company.id
        )
    )
    assert withdraw.after["status"] == "withdrawn" and withdraw.after["number"] == "C-900"
    change = db.session.scalar(
        select(AuditLogEntry).where(AuditLogEntry.action == "member_person.update")
    )
    assert set(change.after) == {"email", "phone"}  # what changed stays known

    log = client.get("/admin/audit").get_data(as_text=True)
    assert "会員の個人情報の削除" in log

    again = runner.invoke(args=["purge-personal-data", "--older-than", "365"])
    assert "0 contact people of 0 members" in again.output
    purges = select(func.count()).where(AuditLogEntry.action == purge.PURGE_ACTION)
    assert db.session.scalar(purges) == 2

    # The console shows the purged member with its attendance, and cannot revive it.
    page = client.get(f"/admin/members/{company.id}").get_data(as_text=True)
    assert "削除しました" in page and "三浦精機株式会社" in page and ">出席</td>" in page
    assert "/reactivate" not in page
    response = client.post(f"/admin/members/{company.id}/reactivate", follow_redirects=True)
    assert "新しい会員として" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Member, company.id).status == MemberStatus.withdrawn
    # Their addresses are free for a new member.
    again = person_values("0001", "ぬけぽ")
    _new_member(client, "individual", "I-903", "新 会員", "しん かいいん", "", again)


def test_an_upcoming_registration_stays_until_its_event_is_purged(app, runner):
    member = make_member(name="三浦 MKNAME7Z", name_kana="みうら ぬけぽ", number="I-700")
    person = member.people[0]
    upcoming = make_event(starts_at=utcnow() + timedelta(days=30))
    old = make_event(starts_at=utcnow() - timedelta(days=5))
    ahead = make_registration(
        upcoming, name=person.name, email=person.email, member_person_id=person.id
    )
    past = make_registration(old, name=person.name, email=person.email, member_person_id=person.id)
    db.session.execute(
        update(Member)
        .where(Member.id == member.id)
        .values(status=MemberStatus.withdrawn, withdrawn_at=utcnow() - LONG_AGO)
    )
    db.session.execute(update(MemberPerson).values(is_active=False))
    db.session.commit()

    counts = purge.purge_members_older_than(365)
    assert (counts.members, counts.people, counts.registrations) == (1, 1, 1)
    db.session.expire_all()
    assert db.session.get(Registration, past.id).personal_data_purged_at is not None
    seat = db.session.get(Registration, ahead.id)
    assert (seat.name, seat.personal_data_purged_at) == ("三浦 MKNAME7Z", None)
    assert seat.member_person_id == person.id and seat.status == RegistrationStatus.confirmed
    assert set(where_found({"MKNAME7Z"})["MKNAME7Z"]) == {"registration.name"}


def test_a_contact_person_removed_long_ago_is_purged_alone(app, runner):
    member = make_member(
        kind="corporate",
        name="横須賀電子工業株式会社",
        name_kana="よこすかでんしこうぎょう",
        note="MKNOTE8Z",
        people=[
            {"name": "佐藤 MKNAME8Z", "name_kana": "さとう ぬけぽ", "email": "mk8@example.jp"},
            {"name": "鈴木 MKNAME9Z", "name_kana": "すずき ぬけぴ", "email": "mk9@example.jp"},
        ],
    )
    with app.test_request_context():
        from cluster_events.members import services

        services.remove_person(member.people[0].id)
    db.session.execute(
        update(MemberPerson)
        .where(MemberPerson.id == member.people[0].id)
        .values(removed_at=utcnow() - LONG_AGO)
    )
    db.session.commit()
    assert purge.purge_members_older_than(365).people == 1
    assert where_found({"MKNAME8Z", "mk8"}) == {}
    # The member is active: its note, its other person and its own audit entries stay.
    assert set(where_found({"MKNAME9Z", "MKNOTE8Z"})) == {"MKNAME9Z", "MKNOTE8Z"}
    db.session.expire_all()
    assert db.session.get(Member, member.id).status == MemberStatus.active
    assert purge.purge_members_older_than(365).people == 0


def test_nothing_is_purged_before_the_retention_period(app, runner):
    member = make_member(name="三浦 MKNAME6Z", name_kana="みうら ぬけぽ")
    db.session.execute(
        update(Member)
        .where(Member.id == member.id)
        .values(status=MemberStatus.withdrawn, withdrawn_at=utcnow() - timedelta(days=100))
    )
    db.session.commit()
    app.config["PERSONAL_DATA_RETENTION_DAYS"] = 365
    result = runner.invoke(args=["purge-personal-data"])
    assert "0 contact people of 0 members who withdrew" in result.output
    assert "more than 365 days ago" in result.output
    assert set(where_found({"MKNAME6Z"})) == {"MKNAME6Z"}
    result = runner.invoke(args=["purge-personal-data", "--older-than", "99"])
    assert "1 contact people of 1 members" in result.output
    assert where_found({"MKNAME6Z"}) == {}


def test_the_privacy_page_states_the_members_retention(app, client):
    app.config["PERSONAL_DATA_RETENTION_DAYS"] = 400
    page = client.get("/privacy").get_data(as_text=True)
    assert "退会から400日後" in page
