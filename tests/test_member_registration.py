"""Registering as a member (issue 10, points 4, 5 and 8), on SQLite and PostgreSQL: the
form filled in from the member list, the member type from the membership, the link to
the person (verified when signed in, matched by address otherwise), members-only events
refused with 403 to anyone else with nothing stored, and the office's attendee list and
exports telling verified, matched, self-declared and non-members apart."""

from __future__ import annotations

import csv
import html as html_module
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from cluster_events.extensions import db
from cluster_events.members import services as member_services
from cluster_events.models import (
    Event,
    MemberKind,
    MemberLink,
    MemberType,
    OutboxMessage,
    Registration,
    RegistrationStatus,
)
from cluster_events.registration import attendees, services
from cluster_events.registration.services import MemberSignInEnded, RegistrationDetails
from tests.factories import make_event, make_registration
from tests.members import first_person, make_member, sign_in_member

PUBLIC_FORM = {
    "name": "横須賀 太郎",
    "name_kana": "よこすか たろう",
    "email": "taro@example.jp",
    "organization": "",
    "title": "",
    "phone": "",
    "member_type": "general",
    "remarks": "",
    "agree_privacy": "y",
}


def public_form(**changes: str) -> dict[str, str]:
    return {**PUBLIC_FORM, **changes}


#: What a signed-in member's form sends: no address, no member type.
MEMBER_FORM = {
    "name": "青木 一郎",
    "name_kana": "あおき いちろう",
    "organization": "青木工業株式会社",
    "title": "営業部長",
    "phone": "046-800-1234",
    "remarks": "",
    "agree_privacy": "y",
}


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def registrations() -> list[Registration]:
    db.session.expire_all()
    return list(db.session.scalars(select(Registration).order_by(Registration.id)))


@pytest.fixture
def corporate(app):
    return make_member(
        kind=MemberKind.corporate,
        number="C-101",
        name="青木工業株式会社",
        name_kana="あおきこうぎょう",
        people=[
            {
                "name": "青木 一郎",
                "name_kana": "あおき いちろう",
                "email": "aoki@example.org",
                "phone": "046-800-1234",
                "department": "営業部",
                "title": "営業部長",
            }
        ],
    )


@pytest.fixture
def individual(app):
    return make_member(
        kind=MemberKind.individual,
        number="I-201",
        name="久里浜 花子",
        name_kana="くりはま はなこ",
        people=[
            {
                "name": "久里浜 花子",
                "name_kana": "くりはま はなこ",
                "email": "hanako@example.jp",
                "title": "技術士",
            }
        ],
    )


@pytest.fixture
def members_event(app) -> Event:
    event = make_event(slug="members-meetup", title="個人会員交流会", is_members_only=True)
    db.session.commit()
    return event


@pytest.fixture
def public_event(app) -> Event:
    event = make_event(slug="open-seminar", title="公開セミナー", capacity=20)
    db.session.commit()
    return event


def field_value(page: str, field_id: str) -> str:
    found = re.search(rf'<input[^>]*\bid="{field_id}"[^>]*>', page)
    assert found, field_id
    value = re.search(r'value="([^"]*)"', found.group(0))
    return html_module.unescape(value.group(1)) if value else ""


# --- the form -----------------------------------------------------------


def test_a_members_form_is_filled_in_from_the_member_list(client, corporate, members_event):
    sign_in_member(client, first_person(corporate))
    page = client.get("/events/members-meetup?lang=ja").get_data(as_text=True)
    assert field_value(page, "name") == "青木 一郎"
    assert field_value(page, "name_kana") == "あおき いちろう"
    assert field_value(page, "organization") == "青木工業株式会社"
    assert field_value(page, "title") == "営業部長"
    assert field_value(page, "phone") == "046-800-1234"
    # The address is shown read-only and not sent; the membership is shown, not chosen.
    email = re.search(r'<input[^>]*\bid="email"[^>]*>', page).group(0)
    assert 'value="aoki@example.org"' in email and "readonly" in email
    assert 'name="email"' not in page
    assert 'name="member_type"' not in page
    assert "法人会員（青木工業株式会社）" in page
    assert "会員名簿の内容を入力してあります" in page


def test_an_individual_members_form_has_no_organization(client, individual, public_event):
    sign_in_member(client, first_person(individual))
    page = client.get("/events/open-seminar?lang=ja").get_data(as_text=True)
    assert field_value(page, "name") == "久里浜 花子"
    assert field_value(page, "organization") == ""
    assert field_value(page, "title") == "技術士"
    assert "個人会員（久里浜 花子）" in page


def test_the_public_form_is_unchanged_for_anyone_else(client, public_event):
    page = client.get("/events/open-seminar?lang=ja").get_data(as_text=True)
    assert 'name="email"' in page and 'name="member_type"' in page
    assert field_value(page, "name") == ""


# --- registering as a signed-in member -----------------------------------------------------------


def test_a_member_registers_for_a_members_only_event_linked_and_verified(
    client, corporate, members_event
):
    person = first_person(corporate)
    sign_in_member(client, person)
    response = client.post(
        "/events/members-meetup/register?lang=ja",
        # What a forged form might add: another address and another member type.
        data={**MEMBER_FORM, "email": "someone@example.com", "member_type": "general"},
    )
    assert response.status_code == 303
    assert "/registrations/" in response.headers["Location"]
    [registration] = registrations()
    assert registration.member_link == MemberLink.verified
    assert registration.member_person_id == person.id
    assert registration.member_type == MemberType.corporate
    assert registration.email == "aoki@example.org"
    assert registration.email_normalized == "aoki@example.org"
    assert registration.status == RegistrationStatus.confirmed
    [mail] = db.session.scalars(select(OutboxMessage)).all()
    assert mail.recipient == "aoki@example.org" and mail.registration_id == registration.id
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "お申込みの受付が完了しました" in page


def test_a_member_may_change_the_other_details_for_this_registration(
    client, individual, public_event
):
    sign_in_member(client, first_person(individual))
    response = client.post(
        "/events/open-seminar/register?lang=ja",
        data={
            **MEMBER_FORM,
            "name": "久里浜 花子",
            "name_kana": "クリハマ ハナコ",
            "organization": "久里浜技術事務所",
            "title": "",
            "phone": "０４６－８００－９９９９",
        },
    )
    assert response.status_code == 303
    [registration] = registrations()
    assert registration.organization == "久里浜技術事務所"
    assert registration.name_kana == "くりはま はなこ"
    assert registration.phone == "046-800-9999"
    assert registration.member_type == MemberType.individual
    assert registration.member_link == MemberLink.verified


def test_a_members_form_with_errors_comes_back_filled_in_as_sent(client, corporate, members_event):
    sign_in_member(client, first_person(corporate))
    response = client.post(
        "/events/members-meetup/register?lang=ja", data={**MEMBER_FORM, "name": ""}
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "お名前を入力してください" in page
    assert field_value(page, "title") == "営業部長"
    assert 'value="aoki@example.org"' in page and 'name="member_type"' not in page
    assert count(Registration) == 0 and count(OutboxMessage) == 0


def test_a_member_registering_again_is_shown_their_registration(client, corporate, public_event):
    """A public registration made earlier with the member's address becomes verified, and
    the member (whose address is theirs) sees it instead of a 'check your email' page."""
    person = first_person(corporate)
    client.post("/events/open-seminar/register", data=public_form(email="aoki@example.org"))
    [earlier] = registrations()
    assert earlier.member_link == MemberLink.matched
    other_browser = client.application.test_client()
    sign_in_member(other_browser, person)
    response = other_browser.post("/events/open-seminar/register?lang=ja", data=MEMBER_FORM)
    assert response.status_code == 303 and "/registrations/" in response.headers["Location"]
    page = other_browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "このメールアドレスで、すでにお申込みいただいています。" in page
    [registration] = registrations()
    assert registration.id == earlier.id
    assert registration.member_link == MemberLink.verified
    assert count(OutboxMessage) == 1  # the first confirmation only; no personal-link email


def test_the_waiting_list_and_its_rules_hold_for_members(client, corporate, app):
    event = make_event(slug="small", capacity=1, is_members_only=True)
    make_registration(event)
    db.session.commit()
    sign_in_member(client, first_person(corporate))
    response = client.post("/events/small/register", data=MEMBER_FORM)
    assert response.status_code == 303
    [_, registration] = registrations()
    assert registration.status == RegistrationStatus.waiting
    assert registration.waiting_position == 1
    assert registration.member_link == MemberLink.verified


# --- anyone else and a members-only event ------------------------------------------------


@pytest.mark.parametrize("data", [public_form(), {}, {"name": "x"}], ids=["valid", "empty", "bad"])
def test_a_sign_up_for_a_members_only_event_without_a_member_session_is_403(
    client, members_event, data
):
    response = client.post("/events/members-meetup/register?lang=ja", data=data)
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert 'class="site-header"' in page
    assert "この催しは会員限定です" in page
    assert 'href="/members/login?next=/events/members-meetup"' in page
    assert "個人会員交流会" not in page and 'name="name"' not in page
    assert count(Registration) == 0 and count(OutboxMessage) == 0


def test_an_organizer_or_a_member_whose_sign_in_ended_gets_403_too(
    app, client, corporate, members_event, logged_in_client
):
    logged_in_client()
    assert client.post("/events/members-meetup/register", data=public_form()).status_code == 403
    sign_in_member(client, first_person(corporate))
    with app.test_request_context():
        member_services.withdraw_member(corporate.id)
    assert client.post("/events/members-meetup/register", data=MEMBER_FORM).status_code == 403
    assert count(Registration) == 0 and count(OutboxMessage) == 0


def test_the_service_refuses_a_person_no_longer_a_members(app, corporate, members_event):
    person = first_person(corporate)
    details = RegistrationDetails(name="青木 一郎", name_kana="あおき", email="aoki@example.org")
    with pytest.raises(services.MembersOnlyEvent) as refused:
        services.register(members_event.id, details)
    assert refused.value.http_status == 403
    with app.test_request_context():
        member_services.withdraw_member(corporate.id)
    with pytest.raises(MemberSignInEnded) as ended:
        services.register(members_event.id, details, member_person_id=person.id)
    assert ended.value.http_status == 403
    assert count(Registration) == 0 and count(OutboxMessage) == 0
    # The office may still add anyone by hand.
    outcome = services.register(members_event.id, details, source="organizer", notify=False)
    assert outcome.created


# --- matched by address -----------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "aoki@example.org",
        "AOKI@Example.ORG",
        "ａｏｋｉ＠ｅｘａｍｐｌｅ．ｏｒｇ",
        " Aoki@EXAMPLE.org ",
    ],
)
def test_a_public_registration_with_a_members_address_is_matched(
    client, corporate, public_event, typed
):
    response = client.post(
        "/events/open-seminar/register", data=public_form(email=typed, member_type="general")
    )
    assert response.status_code == 303
    [registration] = registrations()
    assert registration.member_link == MemberLink.matched
    assert registration.member_person_id == first_person(corporate).id
    # The membership decides the member type, not the radio button.
    assert registration.member_type == MemberType.corporate


def test_a_withdrawn_or_lapsed_members_address_or_a_removed_persons_does_not_match(
    app, client, public_event
):
    withdrawn = make_member(number="W-1", people=[_person("gone@example.org")])
    lapsed = make_member(number="L-1", people=[_person("late@example.org")])
    kept = make_member(
        number="R-1",
        kind=MemberKind.corporate,
        name="久里浜商事",
        people=[_person("stays@example.org"), _person("left@example.org")],
    )
    with app.test_request_context():
        member_services.withdraw_member(withdrawn.id)
        member_services.update_member(lapsed.id, **_member_values(lapsed, status="lapsed"))
        left = next(p for p in kept.current_people if p.email == "left@example.org")
        member_services.remove_person(left.id)
    for email in ("gone@example.org", "late@example.org", "left@example.org"):
        response = client.post(
            "/events/open-seminar/register", data=public_form(email=email, member_type="individual")
        )
        assert response.status_code == 303
    for registration in registrations():
        assert registration.member_link == MemberLink.none
        assert registration.member_person_id is None
        assert registration.member_type == MemberType.individual  # as ticked


def _person(email: str) -> dict[str, str]:
    return {"name": "会員 太郎", "name_kana": "かいん たろう", "email": email}


def _member_values(member, **changes):
    values = {
        "number": member.number,
        "name": member.name,
        "name_kana": member.name_kana,
        "joined_on": member.joined_on,
        "note": member.note,
    }
    return {**values, **changes}


def test_an_organizers_sign_up_by_hand_is_matched_by_address_too(
    corporate, public_event, logged_in_client
):
    client = logged_in_client()
    response = client.post(
        f"/admin/events/{public_event.id}/attendees/new",
        data={
            "name": "青木 一郎",
            "name_kana": "あおき いちろう",
            "email": "Aoki@example.org",
            "member_type": "general",
            "locale": "ja",
        },
    )
    assert response.status_code == 302
    [registration] = registrations()
    assert registration.member_link == MemberLink.matched
    assert registration.member_type == MemberType.corporate


def test_the_office_changing_an_address_links_again(app, corporate, public_event):
    registration = make_registration(public_event, email="other@example.org")
    db.session.commit()
    contact = dict(
        name=registration.name,
        name_kana=registration.name_kana,
        organization="",
        job_title="",
        phone="",
        member_type="general",
    )
    with app.test_request_context():
        attendees.update_contact(
            public_event.id,
            registration.id,
            services.ContactDetails(email="aoki@example.org", **contact),
        )
    assert registrations()[0].member_link == MemberLink.matched
    with app.test_request_context():
        attendees.update_contact(
            public_event.id,
            registration.id,
            services.ContactDetails(email="someone@example.org", **contact),
        )
    [registration] = registrations()
    assert registration.member_link == MemberLink.none and registration.member_person_id is None


# --- the office's attendee list and exports ----------------------------------------------------


@pytest.fixture
def four_kinds(app, client, corporate, individual, public_event):
    """One registration of each kind: verified (signed in), matched (by address),
    self-declared (ticked corporate member, not on the list) and a non-member."""
    sign_in_member(client, first_person(individual))
    client.post(
        "/events/open-seminar/register",
        data={**MEMBER_FORM, "name": "久里浜 花子", "name_kana": "くりはま はなこ"},
    )
    anonymous = client.application.test_client()
    anonymous.post(
        "/events/open-seminar/register",
        data=public_form(name="青木 一郎", name_kana="あおき", email="AOKI@example.org"),
    )
    anonymous.post(
        "/events/open-seminar/register",
        data=public_form(
            name="浦賀 次郎",
            name_kana="うらが じろう",
            email="uraga@example.jp",
            member_type="corporate",
            organization="浦賀製作所",
        ),
    )
    anonymous.post(
        "/events/open-seminar/register",
        data=public_form(name="野比 三郎", name_kana="のび さぶろう", email="nobi@example.jp"),
    )
    kinds = {r.name: attendees.membership_of(r) for r in registrations()}
    assert kinds == {
        "久里浜 花子": attendees.Membership.verified,
        "青木 一郎": attendees.Membership.matched,
        "浦賀 次郎": attendees.Membership.declared,
        "野比 三郎": attendees.Membership.general,
    }
    return public_event


def _listed_names(page: str) -> list[str]:
    return re.findall(r'attendee-name"><a href="[^"]+">([^<]+)</a>', page)


def test_the_attendee_list_shows_each_kind_and_links_members(four_kinds, logged_in_client):
    client = logged_in_client()
    url = f"/admin/events/{four_kinds.id}/attendees?lang=ja"
    page = client.get(url).get_data(as_text=True)
    rows = {name: row for row in page.split("<tr>")[2:] for name in _listed_names(row)}
    assert "会員（ログインして申込み）" in rows["久里浜 花子"]
    assert "会員（アドレスが名簿と一致）" in rows["青木 一郎"]
    assert "会員と自己申告（名簿では未確認）" in rows["浦賀 次郎"]
    assert "会員（" not in rows["野比 三郎"] and "自己申告" not in rows["野比 三郎"]
    individual_id = first_person_member_id("hanako@example.jp")
    corporate_id = first_person_member_id("aoki@example.org")
    assert f'href="/admin/members/{individual_id}"' in rows["久里浜 花子"]
    assert "会員番号 I-201" in rows["久里浜 花子"]
    assert f'href="/admin/members/{corporate_id}"' in rows["青木 一郎"]
    assert "/admin/members/" not in rows["浦賀 次郎"] + rows["野比 三郎"]
    assert '<select id="membership" name="membership">' in page


def first_person_member_id(email: str) -> int:
    from cluster_events.models import MemberPerson

    return db.session.scalar(select(MemberPerson.member_id).where(MemberPerson.email == email))


@pytest.mark.parametrize(
    ("membership", "expected"),
    [
        ("verified", ["久里浜 花子"]),
        ("matched", ["青木 一郎"]),
        ("declared", ["浦賀 次郎"]),
        ("general", ["野比 三郎"]),
        ("nonsense", ["青木 一郎", "浦賀 次郎", "久里浜 花子", "野比 三郎"]),
    ],
)
def test_the_membership_filter(four_kinds, logged_in_client, membership, expected):
    client = logged_in_client()
    response = client.get(
        f"/admin/events/{four_kinds.id}/attendees", query_string={"membership": membership}
    )
    assert response.status_code == 200
    assert _listed_names(response.get_data(as_text=True)) == expected


def test_the_member_type_filter_follows_the_membership(four_kinds, logged_in_client):
    client = logged_in_client()
    url = f"/admin/events/{four_kinds.id}/attendees"
    corporate = client.get(url, query_string={"member_type": "corporate"}).get_data(as_text=True)
    # 青木 ticked "general" but their address is a corporate member's.
    assert _listed_names(corporate) == ["青木 一郎", "浦賀 次郎"]
    both = client.get(url, query_string={"member_type": "corporate", "membership": "matched"})
    assert _listed_names(both.get_data(as_text=True)) == ["青木 一郎"]


def test_the_attendee_page_says_how_membership_is_known(four_kinds, logged_in_client):
    client = logged_in_client()
    matched = next(r for r in registrations() if r.name == "青木 一郎")
    page = client.get(f"/admin/events/{four_kinds.id}/attendees/{matched.id}?lang=ja").get_data(
        as_text=True
    )
    assert "会員の確認" in page and "会員（アドレスが名簿と一致）" in page
    assert f'href="/admin/members/{first_person_member_id("aoki@example.org")}"' in page


def test_exports_have_the_membership_and_the_member_number(four_kinds, logged_in_client):
    client = logged_in_client()
    data = client.get(f"/admin/events/{four_kinds.id}/attendees.csv?lang=ja").data
    header, *rows = csv.reader(io.StringIO(data.decode("utf-8-sig")))
    assert "会員の確認" in header and "会員番号" in header
    by_name = {row[header.index("氏名")]: dict(zip(header, row, strict=True)) for row in rows}
    assert by_name["久里浜 花子"]["会員の確認"] == "会員（ログインして申込み）"
    assert by_name["久里浜 花子"]["会員番号"] == "I-201"
    assert by_name["青木 一郎"]["会員の確認"] == "会員（アドレスが名簿と一致）"
    assert by_name["青木 一郎"]["会員番号"] == "C-101"
    assert by_name["浦賀 次郎"]["会員の確認"] == "会員と自己申告（名簿では未確認）"
    assert by_name["浦賀 次郎"]["会員番号"] == ""
    assert by_name["野比 三郎"]["会員の確認"] == "一般"

    workbook = load_workbook(
        io.BytesIO(client.get(f"/admin/events/{four_kinds.id}/attendees.xlsx?lang=ja").data)
    )
    sheet_rows = list(workbook.active.iter_rows(values_only=True))
    xlsx_header = list(sheet_rows[0])
    numbers = {
        row[xlsx_header.index("氏名")]: row[xlsx_header.index("会員番号")] for row in sheet_rows[1:]
    }
    assert numbers["久里浜 花子"] == "I-201" and numbers["青木 一郎"] == "C-101"


def test_linked_rows_cost_no_query_each(four_kinds, logged_in_client, count_queries, app):
    client = logged_in_client()
    url = f"/admin/events/{four_kinds.id}/attendees"
    db.session.commit()
    with count_queries() as few:
        assert client.get(url).status_code == 200
    for number in range(10):
        member = make_member(number=f"Q-{number}", people=[_person(f"q{number}@example.org")])
        services.register(
            four_kinds.id,
            RegistrationDetails(name="会員", name_kana="かいん", email=f"q{number}@example.org"),
            member_person_id=first_person(member).id,
            notify=False,
        )
    db.session.commit()
    with count_queries() as many:
        assert client.get(url).status_code == 200
    assert many.count == few.count, many.statements
