"""The member list's rules, called directly on both databases: who may be a member's
person, unique numbers and addresses, withdrawing and reactivating, the audit log, and
the office's search. Every refusal is shown to store nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cluster_events.errors import Conflict, NotFound, ServiceError
from cluster_events.extensions import db
from cluster_events.members import queries, services
from cluster_events.members.services import PersonData
from cluster_events.models import (
    AuditLogEntry,
    Member,
    MemberKind,
    MemberPerson,
    MemberStatus,
)


@pytest.fixture(autouse=True)
def _request(app) -> Iterator[None]:
    with app.test_request_context():
        yield


def person(number: int | str, **values) -> PersonData:
    values.setdefault("name", f"担当者{number}")
    values.setdefault("name_kana", "たんとうしゃ")
    values.setdefault("email", f"person{number}@example.org")
    return PersonData(**values)


def corporate(number: str = "C-001", people=None, **values) -> Member:
    values.setdefault("name", "株式会社クラスター")
    values.setdefault("name_kana", "くらすたー")
    return services.create_member(
        kind=MemberKind.corporate,
        number=number,
        people=people if people is not None else [person(number)],
        **values,
    )


def individual(number: str = "I-001", people=None, **values) -> Member:
    values.setdefault("name", "山田太郎")
    values.setdefault("name_kana", "やまだたろう")
    return services.create_member(
        kind=MemberKind.individual,
        number=number,
        people=people if people is not None else [person(number)],
        **values,
    )


def stored() -> tuple[int, int, int]:
    db.session.rollback()
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Member, MemberPerson, AuditLogEntry)
    )


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditLogEntry.action).order_by(AuditLogEntry.id)))


@pytest.fixture
def refused():
    """Asserts the call raises ``error_type`` with an error at ``field`` and stores nothing."""

    def check(error_type: type[ServiceError], field: str | None, call, /, *args, **kwargs):
        before = stored()
        with pytest.raises(error_type) as raised:
            call(*args, **kwargs)
        if field is not None:
            assert field in raised.value.field_errors, raised.value.field_errors
        assert stored() == before
        return raised.value

    return check


# --- creating --------------------------------------------------------------------------------


def test_a_corporate_member_is_stored_with_its_people_and_audited():
    member = corporate(
        people=[person(1, email="Sato@Example.ORG", name_kana="サトウ"), person(2)],
        name_kana="クラスター",
        joined_on=date(2020, 4, 1),
        note="年会費は4月払い",
    )
    db.session.expire_all()
    member = db.session.get(Member, member.id)
    assert (member.kind, member.status, member.name_kana) == ("corporate", "active", "くらすたー")
    assert member.joined_on == date(2020, 4, 1)
    assert [p.email for p in member.people] == ["Sato@example.org", "person2@example.org"]
    assert [p.email_normalized for p in member.people] == [
        "sato@example.org",
        "person2@example.org",
    ]
    assert member.people[0].name_kana == "さとう"
    assert all(p.is_active and p.session_generation == 0 for p in member.people)
    assert actions() == ["member.create", "member_person.add", "member_person.add"]


@pytest.mark.parametrize("count", [0, 2])
def test_an_individual_member_has_exactly_one_person(refused, count):
    people = [person(n) for n in range(count)]
    refused(ServiceError, "people", individual, people=people)


def test_a_corporate_member_needs_a_person(refused):
    refused(ServiceError, "people", corporate, people=[])


def test_a_member_number_is_unique(refused):
    corporate("C-001")
    error = refused(Conflict, "number", individual, "C-001")
    assert error.http_status == 409


def test_an_address_belongs_to_one_person_of_the_active_members(refused):
    corporate("C-001", people=[person(1, email="taro@example.org")])
    # Case does not make it another address, in another member or in the same one.
    refused(Conflict, "people-0-email", individual, people=[person(2, email="TARO@example.org")])
    refused(
        Conflict,
        "people-1-email",
        corporate,
        "C-002",
        people=[person(3, email="hana@example.org"), person(4, email="Hana@example.org")],
    )


def test_the_database_refuses_two_active_people_with_one_address():
    member = corporate("C-001", people=[person(1, email="taro@example.org")])
    db.session.add(
        MemberPerson(
            member_id=member.id,
            name="重複",
            name_kana="ちょうふく",
            email="taro@example.org",
            email_normalized="taro@example.org",
            is_active=False,
        )
    )
    db.session.commit()  # an inactive person may have it
    db.session.add(
        MemberPerson(
            member_id=member.id,
            name="重複",
            name_kana="ちょうふく",
            email="taro@example.org",
            email_normalized="taro@example.org",
            is_active=True,
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_number_or_address_taken_after_the_checks_is_a_conflict(refused, monkeypatch):
    """Another request saved the same number or address between our check and our
    commit: the database's unique indexes refuse it, and the refusal names the field."""
    corporate("C-001", people=[person(1, email="taro@example.org")])
    monkeypatch.setattr(services, "_email_taken", lambda *args, **kwargs: False)
    monkeypatch.setattr(services, "_number_taken", lambda *args, **kwargs: False)
    refused(Conflict, "people", individual, "I-001", people=[person(2, email="taro@example.org")])
    refused(Conflict, "number", individual, "C-001", people=[person(3)])
    member = corporate("C-002", people=[person(4)])
    refused(Conflict, "email", services.add_person, member.id, person(5, email="taro@example.org"))


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name_kana": ""}, "name_kana"),
        ({"name_kana": "山田"}, "name_kana"),
        ({"name": " "}, "name"),
        ({"number": ""}, "number"),
        ({"number": "C 001"}, "number"),
        ({"name": "山田\x00太郎"}, "name"),
        ({"name": "山田\n太郎"}, "name"),
        ({"note": "メモ\x1b[31m"}, "note"),
        ({"name": "あ" * 201}, "name"),
    ],
)
def test_member_fields_are_checked(refused, values, field):
    values.setdefault("number", "I-001")
    refused(ServiceError, field, individual, **values)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name_kana": ""}, "people-0-name_kana"),
        ({"name_kana": "sato"}, "people-0-name_kana"),
        ({"email": ""}, "people-0-email"),
        ({"email": "not-an-address"}, "people-0-email"),
        ({"phone": "03\x0712"}, "people-0-phone"),
        ({"department": "営業\u2028部"}, "people-0-department"),
    ],
)
def test_person_fields_are_checked(refused, values, field):
    refused(ServiceError, field, individual, people=[person(1, **values)])


def test_an_unknown_kind_is_refused(refused):
    refused(
        ServiceError,
        "kind",
        services.create_member,
        kind="general",
        number="X-1",
        name="某",
        name_kana="なにがし",
        people=[person(1)],
    )


# --- changing --------------------------------------------------------------------------------


def _update(member: Member, **values) -> Member:
    current = {
        "number": member.number,
        "name": member.name,
        "name_kana": member.name_kana,
        "joined_on": member.joined_on,
        "note": member.note,
    }
    return services.update_member(member.id, **(current | values))


def test_update_member_audits_only_what_changed():
    member = corporate("C-001")
    _update(member, name="株式会社クラスター九州", note="窓口変更")
    entry = db.session.scalars(select(AuditLogEntry).order_by(AuditLogEntry.id.desc())).first()
    assert entry.action == "member.update"
    assert entry.before == {"name": "株式会社クラスター", "note": ""}
    assert entry.after == {"name": "株式会社クラスター九州", "note": "窓口変更"}


def test_update_member_refuses_a_taken_number_and_a_withdrawn_member(refused):
    corporate("C-001")
    other = corporate("C-002", people=[person(2)])
    refused(Conflict, "number", _update, other, number="C-001")
    services.withdraw_member(other.id)
    refused(Conflict, None, _update, other, name="別名")


def test_a_lapsed_member_s_people_are_inactive_and_back_when_active():
    member = corporate("C-001")
    _update(member, status=MemberStatus.lapsed)
    assert [p.is_active for p in member.people] == [False]
    assert member.people[0].session_generation == 1
    _update(member, status=MemberStatus.active)
    assert [p.is_active for p in member.people] == [True]


def test_status_withdrawn_is_not_set_by_update(refused):
    member = corporate("C-001")
    refused(ServiceError, "status", _update, member, status=MemberStatus.withdrawn)


# --- withdrawing and reactivating ------------------------------------------------------------


def test_withdrawing_keeps_the_member_and_deactivates_its_people(refused):
    member = corporate("C-001", people=[person(1), person(2)])
    services.withdraw_member(member.id)
    db.session.expire_all()
    member = db.session.get(Member, member.id)
    assert member.status == MemberStatus.withdrawn and member.withdrawn_at is not None
    assert [(p.is_active, p.session_generation) for p in member.people] == [(False, 1)] * 2
    assert actions()[-1] == "member.withdraw"
    refused(Conflict, None, services.withdraw_member, member.id)
    # Its addresses are free for another member.
    individual(people=[person(1)])


def test_reactivating_brings_the_people_back_unless_an_address_was_taken(refused):
    member = corporate("C-001", people=[person(1)])
    services.withdraw_member(member.id)
    services.reactivate_member(member.id)
    assert member.status == MemberStatus.active and member.withdrawn_at is None
    assert [p.is_active for p in member.people] == [True]

    services.withdraw_member(member.id)
    individual("I-001", people=[person(1)])
    refused(Conflict, "people", services.reactivate_member, member.id)
    refused(Conflict, None, services.reactivate_member, individual("I-002", [person(9)]).id)


def test_unknown_members_and_people_are_not_found(refused):
    refused(NotFound, None, services.withdraw_member, 2**31 - 1)
    refused(NotFound, None, services.update_person, 2**31 - 1, person(1))
    with pytest.raises(NotFound):
        queries.get_member(12345)


# --- people ----------------------------------------------------------------------------------


def test_people_are_added_changed_and_removed_with_the_audit_log(refused):
    member = corporate("C-001", people=[person(1)])
    added = services.add_person(member.id, person(2, email="Suzuki@example.org"))
    assert added.is_active and added.email_normalized == "suzuki@example.org"

    services.update_person(added.id, person(2, email="suzuki@example.jp", title="部長"))
    assert (added.email_normalized, added.title, added.session_generation) == (
        "suzuki@example.jp",
        "部長",
        1,
    )
    services.update_person(added.id, person(2, email="suzuki@example.jp", title="課長"))
    assert added.session_generation == 1  # the address did not change

    services.remove_person(added.id)
    assert added.removed_at is not None and not added.is_active
    assert added.session_generation == 2
    assert actions()[-4:] == [
        "member_person.add",
        "member_person.update",
        "member_person.update",
        "member_person.remove",
    ]
    refused(Conflict, None, services.remove_person, added.id)
    refused(Conflict, None, services.update_person, added.id, person(2))
    # The removed person's address is free again.
    services.add_person(member.id, person(3, email="suzuki@example.jp"))


def test_person_changes_refuse_taken_addresses_and_the_wrong_count(refused):
    member = corporate("C-001", people=[person(1)])
    single = individual("I-001", people=[person(2)])
    refused(
        Conflict, "email", services.add_person, member.id, person(3, email="PERSON2@example.org")
    )
    refused(
        Conflict,
        "email",
        services.update_person,
        member.people[0].id,
        person(1, email="person2@example.org"),
    )
    refused(ServiceError, "name_kana", services.add_person, member.id, person(4, name_kana=""))
    refused(ServiceError, None, services.add_person, single.id, person(5))
    refused(Conflict, None, services.remove_person, single.people[0].id)
    refused(Conflict, None, services.remove_person, member.people[0].id)


# --- the office's list -----------------------------------------------------------------------


def test_the_list_is_in_gojuon_order_and_searches_names_readings_addresses_and_numbers():
    corporate("C-010", name="和田商事", name_kana="わだしょうじ", people=[person(1)])
    individual("I-002", name="青木花子", name_kana="アオキハナコ", people=[person(2)])
    corporate(
        "C-003",
        name="株式会社かもめ",
        name_kana="かもめ",
        people=[person(3, email="Info@Kamome.example.jp", name="鈴木一郎", name_kana="すずき")],
    )
    withdrawn = individual("I-004", name="上田", name_kana="うえだ", people=[person(4)])
    services.withdraw_member(withdrawn.id)

    def numbers(**criteria) -> list[str]:
        return [member.number for member in queries.list_members(**criteria)]

    assert numbers() == ["I-002", "I-004", "C-003", "C-010"]
    assert numbers(search="あおき") == ["I-002"]
    assert numbers(search="ワダ") == ["C-010"]
    assert numbers(search="kamome.EXAMPLE") == ["C-003"]
    assert numbers(search="スズキ") == ["C-003"]
    assert numbers(search="ｃ－０１") == ["C-010"]
    assert numbers(search="%") == []
    assert numbers(kind=MemberKind.individual) == ["I-002", "I-004"]
    assert numbers(status=MemberStatus.withdrawn) == ["I-004"]
    assert numbers(kind=MemberKind.corporate, search="商事") == ["C-010"]


def test_every_member_action_has_words_in_the_audit_log():
    from cluster_events.admin.audit.routes import ACTION_LABELS

    member = corporate("C-001", people=[person(1)])
    added = services.add_person(member.id, person(2))
    services.update_person(added.id, person(2, title="部長"))
    services.remove_person(added.id)
    _update(member, name="株式会社クラスター九州")
    services.withdraw_member(member.id)
    services.reactivate_member(member.id)
    recorded = set(actions())
    assert len(recorded) == 7
    assert recorded <= set(ACTION_LABELS)
