"""The private calendar feeds: /calendar/members/<token>.ics (every event a member may
see) and /calendar/my/<token>.ics (the person's own events). What they hold, their UIDs
and SEQUENCE, ETag/304 and the query budget, and every way a token can be wrong."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import icalendar
import pytest
from sqlalchemy import select, update

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.members import services as member_services
from cluster_events.members.services import PersonData
from cluster_events.models import (
    Event,
    EventStatus,
    MemberKind,
    MemberLink,
    MemberPerson,
    Registration,
    RegistrationStatus,
)
from cluster_events.registration import services as registration_services
from tests.factories import make_category, make_event, make_registration, make_venue
from tests.members import first_person, make_member, sign_in_member

FEED_URL = re.compile(r"http://localhost(/calendar/(members|my)/[A-Za-z0-9_-]{43}\.ics)")


def _person(**values: Any) -> MemberPerson:
    return first_person(make_member(**values))


def _mine(event: Event, person: MemberPerson, **values: Any) -> Registration:
    values.setdefault("email", person.email)
    return make_registration(
        event, member_person_id=person.id, member_link=MemberLink.verified, **values
    )


def feed_paths(app, person: MemberPerson) -> dict[str, str]:
    """The person's feed paths, as My page shows them (its first view makes them)."""
    db.session.commit()
    browser = app.test_client()
    sign_in_member(browser, person)
    html = browser.get("/members/me").get_data(as_text=True)
    return {kind: path for path, kind in FEED_URL.findall(html)}


def entries(response) -> dict[str, icalendar.Event]:
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.data)
    return {str(component["uid"]): component for component in calendar.walk("VEVENT")}


def _reloaded(model, id_: int):
    db.session.expire_all()
    return db.session.get(model, id_)


def test_the_members_feed_holds_public_and_members_only_events(app, client):
    person = _person()
    now = utcnow()
    public = make_event(title="ISO 9001 認証取得セミナー")
    members_only = make_event(title="個人会員交流会", is_members_only=True)
    called_off = make_event(title="工場見学会", status=EventStatus.cancelled, is_members_only=True)
    recent = make_event(starts_at=now - timedelta(days=179))
    draft = make_event(status=EventStatus.draft, is_members_only=True)
    too_old = make_event(starts_at=now - timedelta(days=181), is_members_only=True)
    paths = feed_paths(app, person)

    response = client.get(paths["members"])
    found = entries(response)
    assert set(found) == {public.uid, members_only.uid, called_off.uid, recent.uid}
    assert draft.uid not in found and too_old.uid not in found
    assert str(found[members_only.uid]["summary"]) == "個人会員交流会"
    assert str(found[called_off.uid]["status"]) == "CANCELLED"
    assert str(found[called_off.uid]["summary"]) == "【中止】工場見学会"
    calendar = icalendar.Calendar.from_ical(response.data)
    assert str(calendar["x-wr-calname"]) == f"{app.config['SITE_NAME']} – 会員向けのすべての催し"
    # The public feed still has no members-only event.
    assert members_only.uid.encode() not in client.get("/calendar.ics").data


def test_the_my_feed_holds_only_the_persons_confirmed_and_waiting_events(app, client):
    person = _person()
    other = _person(name="逗子 太郎", name_kana="ずし たろう")
    confirmed = make_event(title="経営研究・懇談会")
    _mine(confirmed, person)
    full = make_event(title="ISO 9001 認証取得セミナー", capacity=1)
    make_registration(full)
    _mine(full, person, status=RegistrationStatus.waiting)
    dropped = make_event(title="省エネ・環境経営セミナー")
    _mine(dropped, person, status=RegistrationStatus.cancelled, cancelled_at=utcnow())
    called_off = make_event(title="工場見学会", status=EventStatus.cancelled)
    _mine(called_off, person)
    members_only = make_event(title="個人会員交流会", is_members_only=True)
    _mine(members_only, person)
    theirs = make_event(title="他の人の催し")
    _mine(theirs, other)
    make_event(title="申し込んでいない催し")
    paths = feed_paths(app, person)

    found = entries(client.get(paths["my"]))
    assert set(found) == {confirmed.uid, full.uid, called_off.uid, members_only.uid}
    assert str(found[confirmed.uid]["summary"]) == "経営研究・懇談会"
    assert str(found[full.uid]["summary"]) == "【キャンセル待ち】ISO 9001 認証取得セミナー"
    assert str(found[called_off.uid]["status"]) == "CANCELLED"
    assert str(found[called_off.uid]["summary"]) == "【中止】工場見学会"
    assert str(found[confirmed.uid]["status"]) == "CONFIRMED"

    in_english = client.get(paths["my"] + "?lang=en")
    assert str(entries(in_english)[full.uid]["summary"]).startswith("[Waiting list] ")
    calendar = icalendar.Calendar.from_ical(in_english.data)
    assert str(calendar["x-wr-calname"]) == f"{app.config['SITE_NAME_EN']} – My events"


def test_an_event_with_two_of_the_persons_registrations_appears_once(app, client):
    person = _person()
    event = make_event(capacity=1)
    _mine(event, person, email="old@example.org", status=RegistrationStatus.waiting)
    _mine(event, person)
    paths = feed_paths(app, person)
    response = client.get(paths["my"])
    assert response.data.count(b"BEGIN:VEVENT") == 1
    assert "キャンセル待ち" not in str(entries(response)[event.uid]["summary"])


def test_a_cancelled_registration_leaves_the_feed_and_changes_the_etag(app, client):
    person = _person()
    event = make_event(title="経営研究・懇談会")
    registration = _mine(event, person)
    paths = feed_paths(app, person)
    first = client.get(paths["my"])
    assert event.uid in entries(first)
    etag = first.headers["ETag"]
    assert client.get(paths["my"], headers={"If-None-Match": etag}).status_code == 304

    with app.test_request_context():
        registration_services.cancel_registration(registration.id, by_registrant=True)
    after = client.get(paths["my"], headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["ETag"] != etag
    assert entries(after) == {}


def test_a_promotion_from_the_waiting_list_changes_the_etag_and_the_title(app, client):
    person = _person()
    event = make_event(title="経営研究・懇談会", capacity=1)
    seat = make_registration(event)
    waiting = _mine(event, person, status=RegistrationStatus.waiting)
    paths = feed_paths(app, person)
    before = client.get(paths["my"])
    assert str(entries(before)[event.uid]["summary"]).startswith("【キャンセル待ち】")

    with app.test_request_context():
        registration_services.cancel_registration(seat.id)
    assert _reloaded(Registration, waiting.id).status == RegistrationStatus.confirmed
    after = client.get(paths["my"], headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert str(entries(after)[event.uid]["summary"]) == "経営研究・懇談会"
    # The event itself did not change: same UID and SEQUENCE.
    assert entries(after)[event.uid]["sequence"] == entries(before)[event.uid]["sequence"]


def test_the_etag_follows_the_registrations_even_when_the_event_row_stays(app, client):
    """The my-feed's version is built from the person's registrations too, not only
    from the events: linking a registration to the person, or a status that changes on
    the registration row alone, changes the feed although no event was touched."""
    person = _person()
    event = make_event(title="経営研究・懇談会", capacity=1)
    make_registration(event)
    public = make_registration(event, status=RegistrationStatus.waiting, email=person.email)
    paths = feed_paths(app, person)
    empty = client.get(paths["my"])
    assert entries(empty) == {}
    event_stamp = _reloaded(Event, event.id).updated_at

    db.session.execute(
        update(Registration)
        .where(Registration.id == public.id)
        .values(member_person_id=person.id, member_link=MemberLink.matched)
    )
    db.session.commit()
    linked = client.get(paths["my"], headers={"If-None-Match": empty.headers["ETag"]})
    assert linked.status_code == 200
    assert str(entries(linked)[event.uid]["summary"]).startswith("【キャンセル待ち】")

    db.session.execute(
        update(Registration)
        .where(Registration.id == public.id)
        .values(status=RegistrationStatus.confirmed, waiting_position=None)
    )
    db.session.commit()
    assert _reloaded(Event, event.id).updated_at == event_stamp
    confirmed = client.get(paths["my"], headers={"If-None-Match": linked.headers["ETag"]})
    assert confirmed.status_code == 200
    assert str(entries(confirmed)[event.uid]["summary"]) == "経営研究・懇談会"


def test_a_moved_event_keeps_its_uid_and_raises_its_sequence_in_both_feeds(app, client):
    person = _person()
    event = make_event(title="経営研究・懇談会", is_members_only=True)
    _mine(event, person)
    paths = feed_paths(app, person)
    before = {kind: client.get(path) for kind, path in paths.items()}

    moved = _reloaded(Event, event.id)
    moved.starts_at += timedelta(days=1)
    moved.ends_at += timedelta(days=1)
    db.session.commit()

    for kind, path in paths.items():
        etag = before[kind].headers["ETag"]
        after = client.get(path, headers={"If-None-Match": etag})
        assert after.status_code == 200, kind
        old, new = entries(before[kind])[event.uid], entries(after)[event.uid]
        assert new["sequence"] == old["sequence"] + 1, kind
        assert new.decoded("dtstart") == old.decoded("dtstart") + timedelta(days=1)


def test_feed_headers_are_private(app, client):
    person = _person()
    _mine(make_event(), person)
    for kind, path in feed_paths(app, person).items():
        response = client.get(path)
        assert response.status_code == 200
        cache_control = response.headers["Cache-Control"]
        assert "private" in cache_control and "public" not in cache_control, kind
        assert response.headers["Referrer-Policy"] == "no-referrer"
        etag = response.headers["ETag"]
        assert etag.startswith('"') and etag.endswith('"')
        assert response.headers["Last-Modified"].endswith(" GMT")
        not_modified = client.get(path, headers={"If-None-Match": etag})
        assert not_modified.status_code == 304
        assert not_modified.data == b""
        assert "public" not in not_modified.headers["Cache-Control"]


def _add_events(count: int, person: MemberPerson) -> None:
    categories = [make_category() for _ in range(3)]
    venues = [make_venue(name=f"会場{n}") for n in range(3)]
    start = utcnow() + timedelta(days=1)
    for n in range(count):
        event = make_event(
            slug=f"bulk-{n}",
            category=categories[n % 3],
            venue=venues[n % 3] if n % 7 else None,
            online_url="" if n % 7 else "https://meet.example.org/room",
            starts_at=start + timedelta(hours=6 * n),
            is_members_only=n % 2 == 0,
            status=EventStatus.cancelled if n % 10 == 9 else EventStatus.published,
            capacity=None,
        )
        status = RegistrationStatus.waiting if n % 3 == 0 else RegistrationStatus.confirmed
        _mine(event, person, status=status)


@pytest.mark.parametrize("count", [1, 50])
def test_a_feed_takes_two_queries_and_a_304_one(app, client, count_queries, count):
    person = _person()
    _add_events(count, person)
    paths = feed_paths(app, person)
    db.session.remove()

    for kind, path in paths.items():
        with count_queries() as counter:
            response = client.get(path)
        assert len(entries(response)) == count, kind
        assert counter.count <= 2, counter.statements

        with count_queries() as counter:
            not_modified = client.get(path, headers={"If-None-Match": response.headers["ETag"]})
        assert not_modified.status_code == 304
        assert counter.count <= 1, counter.statements

        with count_queries() as counter:
            unknown = client.get(path.replace(path[-47:-4], "A" * 43))
        assert unknown.status_code == 404
        assert counter.count <= 1, counter.statements


def test_renewing_makes_the_old_address_a_404_and_the_new_one_work(app, client):
    person = _person()
    event = make_event()
    _mine(event, person)
    old = feed_paths(app, person)
    assert client.get(old["my"]).status_code == 200

    browser = app.test_client()
    sign_in_member(browser, person)
    assert browser.post("/members/me/feeds/my/renew").status_code == 303
    new = feed_paths(app, person)
    assert new["my"] != old["my"]
    assert client.get(old["my"]).status_code == 404
    assert event.uid in entries(client.get(new["my"]))
    # The other feed keeps its address.
    assert new["members"] == old["members"]
    assert client.get(old["members"]).status_code == 200

    assert browser.post("/members/me/feeds/members/renew").status_code == 303
    assert client.get(old["members"]).status_code == 404
    assert client.get(feed_paths(app, person)["members"]).status_code == 200


def test_another_members_token_gives_only_their_data(app, client):
    person = _person()
    other = _person(name="逗子 太郎", name_kana="ずし たろう")
    mine = make_event(title="私の催し")
    theirs = make_event(title="あの人の催し")
    _mine(mine, person)
    _mine(theirs, other)
    my_paths, their_paths = feed_paths(app, person), feed_paths(app, other)
    assert my_paths["my"] != their_paths["my"]
    assert my_paths["members"] != their_paths["members"]
    assert set(entries(client.get(my_paths["my"]))) == {mine.uid}
    assert set(entries(client.get(their_paths["my"]))) == {theirs.uid}
    # A token of one kind does not open the other feed.
    members_token = my_paths["members"].rsplit("/", 1)[1]
    assert client.get(f"/calendar/my/{members_token}").status_code == 404
    my_token = my_paths["my"].rsplit("/", 1)[1]
    assert client.get(f"/calendar/members/{my_token}").status_code == 404


def test_a_withdrawn_member_or_a_removed_person_has_no_feed(app, client):
    person = _person()
    _mine(make_event(), person)
    company = make_member(
        kind=MemberKind.corporate,
        name="株式会社テスト工業",
        name_kana="てすとこうぎょう",
        people=[
            {"name": "久里浜 一郎", "name_kana": "くりはま いちろう", "email": "a@example.org"},
            {"name": "久里浜 二郎", "name_kana": "くりはま じろう", "email": "b@example.org"},
        ],
    )
    leaving, staying = company.current_people
    paths = feed_paths(app, person)
    leaving_paths, staying_paths = feed_paths(app, leaving), feed_paths(app, staying)
    for path in [*paths.values(), *leaving_paths.values(), *staying_paths.values()]:
        assert client.get(path).status_code == 200

    with app.test_request_context():
        member_services.withdraw_member(person.member_id)
        member_services.remove_person(leaving.id)
    for path in [*paths.values(), *leaving_paths.values()]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"BEGIN:VCALENDAR" not in response.data
    for path in staying_paths.values():
        assert client.get(path).status_code == 200

    # Taken back in: the same addresses work again (the tokens were never dropped).
    with app.test_request_context():
        member_services.reactivate_member(person.member_id)
    assert client.get(paths["my"]).status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "A" * 43,
        "A" * 42,
        "A" * 44,
        "A" * 10_000,
        "%00" * 15,
        "あ" * 43,
        "A" * 42 + "=",
        "A" * 42 + "%2F",
        "..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_strange_tokens_are_a_404(app, client, token):
    person = _person()
    _mine(make_event(), person)
    feed_paths(app, person)
    for kind in ("members", "my"):
        response = client.get(f"/calendar/{kind}/{token}.ics")
        assert response.status_code == 404, (kind, token[:50])
        assert b"BEGIN:VCALENDAR" not in response.data


def test_a_person_without_tokens_yet_has_no_feed(app, client):
    person = _person()
    db.session.commit()
    assert person.my_feed_token_hash is None
    # Nothing matches a NULL hash, whatever is asked for.
    for kind in ("members", "my"):
        assert client.get(f"/calendar/{kind}/{'A' * 43}.ics").status_code == 404


def test_people_added_later_get_their_own_tokens(app, client):
    member = make_member(kind=MemberKind.corporate, name="株式会社テスト工業", name_kana="てすと")
    with app.test_request_context():
        added = member_services.add_person(
            member.id,
            PersonData(name="久里浜 三郎", name_kana="くりはま さぶろう", email="c@example.org"),
        )
    first_paths = feed_paths(app, first_person(member))
    added_paths = feed_paths(app, db.session.get(MemberPerson, added.id))
    assert set(first_paths.values()).isdisjoint(added_paths.values())
    stored = db.session.scalars(select(MemberPerson.my_feed_token_hash)).all()
    assert len(set(stored)) == len(stored) == 2


def test_a_course_is_one_entry_per_session_in_both_feeds_and_a_move_changes_one(app, client):
    """Issue 13: a three-session course the person registered for is three entries in
    the members' feed and in "my events" (each with its own UID, linked to the course);
    moving the second session raises only that entry's SEQUENCE."""
    from cluster_events.events import sessions

    person = _person()
    start = utcnow().replace(microsecond=0) + timedelta(days=30)
    course = make_event(
        title="広報力アップ講座", starts_at=start, ends_at=start + timedelta(hours=2)
    )
    _mine(course, person)
    db.session.commit()
    for week in (1, 2):
        begins = start + timedelta(weeks=week)
        sessions.add_session(course.id, sessions.SessionData(begins, begins + timedelta(hours=2)))
    course = _reloaded(Event, course.id)
    session_uids = [session.uid for session in course.sessions]
    assert len(set(session_uids)) == 3
    paths = feed_paths(app, person)
    before = {kind: entries(client.get(path)) for kind, path in paths.items()}
    for kind, found in before.items():
        assert set(session_uids) <= set(found), kind
        assert course.uid not in found, kind  # the sessions stand for the course
        for uid in session_uids:
            assert str(found[uid]["related-to"]) == course.uid, kind

    second = course.sessions[1]
    moved_to = second.starts_at + timedelta(hours=3)
    sessions.update_session(
        course.id, second.id, sessions.SessionData(moved_to, moved_to + timedelta(hours=2))
    )
    for kind, path in paths.items():
        after = entries(client.get(path))
        raised = {
            uid: int(after[uid]["sequence"]) - int(before[kind][uid]["sequence"])
            for uid in session_uids
        }
        assert raised == {session_uids[0]: 0, session_uids[1]: 1, session_uids[2]: 0}, kind
        assert after[session_uids[1]].decoded("dtstart") == moved_to
