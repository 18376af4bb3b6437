"""The registration rules, called directly: seats, the waiting list, promotion, tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cluster_events.database import utcnow
from cluster_events.events import services as event_services
from cluster_events.extensions import db
from cluster_events.models import (
    AuditLogEntry,
    Event,
    EventStatus,
    OutboxMessage,
    Registration,
)
from cluster_events.registration import notifications, services, tokens
from cluster_events.registration.services import RegistrationDetails
from cluster_events.transactions import write_transaction
from tests.factories import make_event, make_organizer, set_capacity
from tests.records import assert_seats_match_rows, outbox_kinds


def details(number: int | str, **values) -> RegistrationDetails:
    values.setdefault("name", f"参加者{number}")
    values.setdefault("name_kana", "さんかしゃ")
    values.setdefault("email", f"person{number}@example.org")
    return RegistrationDetails(**values)


def committed_event(**values) -> Event:
    event = make_event(**values)
    db.session.commit()
    return event


def change_event(event_id: int, **values) -> Event:
    """Change an event's columns directly, under the event lock like every service."""
    with write_transaction(lock_event=event_id) as event:
        for name, value in values.items():
            setattr(event, name, value)
        if "capacity" in values:
            set_capacity(event, values["capacity"])  # its one frame's seats
    return event


def change_capacity(app, event_id: int, capacity: int | None) -> event_services.EventUpdate:
    """Raise or lower the capacity as the office does, through the event service."""
    data = event_services.EventData.from_event(db.session.get(Event, event_id))
    data.capacity = capacity
    with app.test_request_context():
        return event_services.update_event(event_id, data)


def register_many(event_id: int, count: int, start: int = 1) -> list[Registration]:
    return [
        services.register(event_id, details(n)).registration for n in range(start, start + count)
    ]


def waiting_positions(event_id: int) -> list[tuple[str, int]]:
    rows = db.session.execute(
        select(Registration.email, Registration.waiting_position)
        .where(Registration.event_id == event_id, Registration.status == "waiting")
        .order_by(Registration.waiting_position)
    )
    return [(email, position) for email, position in rows]


def test_seats_then_waiting_list_in_order(app):
    event = committed_event(capacity=2)
    people = register_many(event.id, 5)
    assert [p.status for p in people] == ["confirmed"] * 2 + ["waiting"] * 3
    assert [p.waiting_position for p in people] == [None, None, 1, 2, 3]
    assert outbox_kinds(people[0].id) == ["confirmation"]
    assert outbox_kinds(people[2].id) == ["waitlisted"]
    assert_seats_match_rows(event.id)


def test_unlimited_capacity_never_waits(app):
    event = committed_event(capacity=None)
    people = register_many(event.id, 30)
    assert {p.status for p in people} == {"confirmed"}
    assert db.session.get(Event, event.id).waiting_count == 0


def test_same_address_twice_returns_the_first_and_queues_nothing(app):
    event = committed_event(capacity=10)
    first = services.register(event.id, details(1, email="Taro@Example.org"))
    second = services.register(event.id, details(1, email="taro@example.ORG", name="別人"))
    assert first.created and not second.created
    assert second.registration.id == first.registration.id
    assert second.token == first.token
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert db.session.get(Event, event.id).confirmed_count == 1


def test_same_address_twice_inside_another_transaction_returns_the_first(app):
    """Inside another service's transaction the address is looked up first: a refusal by
    the unique index would undo the outer transaction too."""
    event = committed_event(capacity=10)
    with write_transaction():
        first = services.register(event.id, details(1))
        second = services.register(event.id, details(1, name="別人"))
    assert first.created and not second.created
    assert second.registration_id == first.registration_id
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_address_may_register_again_after_cancelling(app):
    event = committed_event(capacity=10)
    first = services.register(event.id, details(1)).registration
    services.cancel_registration(first.id)
    again = services.register(event.id, details(1))
    assert again.created and again.registration.id != first.id
    assert again.registration.status == "confirmed"


def test_duplicate_caught_by_the_unique_index_is_answered_with_the_existing_one(app, monkeypatch):
    """Should the look-up ever miss (a race without the lock), the database index still
    refuses a second active row, and the person gets the first registration back."""
    event = committed_event(capacity=10)
    first = services.register(event.id, details(1)).registration
    real_lookup = services._active_registration
    calls = []

    def missing_once(event_id, email):
        calls.append(email)
        return None if len(calls) == 1 else real_lookup(event_id, email)

    monkeypatch.setattr(services, "_active_registration", missing_once)
    outcome = services.register(event.id, details(1))
    assert not outcome.created
    assert outcome.registration.id == first.id
    assert len(calls) == 2
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 1
    assert_seats_match_rows(event.id)


def test_cancelling_a_seat_promotes_the_first_waiting_person(app):
    event = committed_event(capacity=2)
    people = register_many(event.id, 5)
    services.cancel_registration(people[0].id)
    db.session.expire_all()
    assert db.session.get(Registration, people[0].id).status == "cancelled"
    promoted = db.session.get(Registration, people[2].id)
    assert promoted.status == "confirmed" and promoted.waiting_position is None
    assert promoted.confirmed_at is not None
    assert waiting_positions(event.id) == [("person4@example.org", 1), ("person5@example.org", 2)]
    assert outbox_kinds(people[0].id) == ["confirmation", "cancellation_receipt"]
    assert outbox_kinds(people[2].id) == ["waitlisted", "promoted"]
    assert_seats_match_rows(event.id)


def test_leaving_the_waiting_list_closes_the_gap(app):
    event = committed_event(capacity=1)
    people = register_many(event.id, 5)
    services.cancel_registration(people[2].id)
    assert waiting_positions(event.id) == [
        ("person2@example.org", 1),
        ("person4@example.org", 2),
        ("person5@example.org", 3),
    ]
    db.session.expire_all()
    assert db.session.get(Registration, people[2].id).waiting_position is None
    assert db.session.get(Registration, people[0].id).status == "confirmed"
    assert outbox_kinds(people[1].id) == ["waitlisted"]
    assert_seats_match_rows(event.id)


def test_cancelling_twice_is_refused_and_changes_nothing(app):
    event = committed_event(capacity=1)
    person = services.register(event.id, details(1)).registration
    services.cancel_registration(person.id)
    with pytest.raises(services.AlreadyCancelled):
        services.cancel_registration(person.id)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
    assert_seats_match_rows(event.id)


def test_promote_out_of_turn_needs_a_free_seat(app):
    event = committed_event(capacity=1)
    people = register_many(event.id, 3)
    organizer = make_organizer()
    db.session.commit()
    with pytest.raises(services.NoSeatAvailable):
        services.promote_registration(people[2].id, organizer_id=organizer.id)
    with pytest.raises(services.NotWaiting):
        services.promote_registration(people[0].id, organizer_id=organizer.id)
    event = change_event(event.id, capacity=2)
    services.promote_registration(people[2].id, organizer_id=organizer.id)
    assert waiting_positions(event.id) == [("person2@example.org", 1)]
    assert outbox_kinds(people[2].id) == ["waitlisted", "promoted"]
    entry = db.session.scalar(select(AuditLogEntry))
    assert (entry.action, entry.target_id, entry.organizer_id) == (
        "registration.promote",
        people[2].id,
        organizer.id,
    )
    assert_seats_match_rows(event.id)


def test_raised_capacity_goes_to_the_waiting_list_in_order(app):
    event = committed_event(capacity=2)
    people = register_many(event.id, 6)
    assert change_capacity(app, event.id, 4).promoted == 2
    assert [db.session.get(Registration, p.id).status for p in people[2:4]] == ["confirmed"] * 2
    assert outbox_kinds(people[2].id) == ["waitlisted", "promoted"]
    assert waiting_positions(event.id) == [("person5@example.org", 1), ("person6@example.org", 2)]
    assert change_capacity(app, event.id, 4).promoted == 0
    assert_seats_match_rows(event.id)


def test_organizer_cancel_is_audited_and_quiet_but_the_promoted_are_told(app):
    event = committed_event(capacity=1)
    people = register_many(event.id, 2)
    organizer = make_organizer()
    db.session.commit()
    services.cancel_registration(people[0].id, notify=False, organizer_id=organizer.id)
    assert outbox_kinds(people[0].id) == ["confirmation"]
    assert outbox_kinds(people[1].id) == ["waitlisted", "promoted"]
    assert db.session.get(Registration, people[1].id).status == "confirmed"
    entry = db.session.scalar(select(AuditLogEntry))
    assert (entry.action, entry.before, entry.after) == (
        "registration.cancel",
        {"status": "confirmed"},
        {"status": "cancelled"},
    )


@pytest.mark.parametrize(
    ("values", "state"),
    [
        ({"status": EventStatus.draft}, "draft"),
        ({"status": EventStatus.cancelled}, "cancelled"),
        # A members-only event refuses anyone not signed in with MembersOnlyEvent (403):
        # tests/test_member_registration.py.
        ({"accepts_registrations": False}, "not_accepting"),
        ({"starts_at": utcnow() - timedelta(hours=1)}, "closed"),
        ({"registration_closes_at": utcnow() - timedelta(minutes=1)}, "closed"),
        ({"registration_opens_at": utcnow() + timedelta(days=1)}, "not_yet_open"),
    ],
)
def test_public_registration_refused_outside_the_rules(app, values, state):
    event = committed_event(capacity=10, **values)
    with pytest.raises(services.RegistrationNotOpen) as refused:
        services.register(event.id, details(1))
    assert refused.value.state == state
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert str(refused.value.message).startswith(("Registration", "This event"))
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 0
    assert db.session.get(Event, event.id).confirmed_count == 0


def test_registration_window_is_inclusive_of_opening(app):
    opens = utcnow() - timedelta(days=1)
    event = committed_event(capacity=10, registration_opens_at=opens)
    outcome = services.register(event.id, details(1), now=opens)
    assert outcome.created


def test_organizer_may_add_after_the_deadline_but_not_to_a_cancelled_event(app):
    closed = committed_event(capacity=1, registration_closes_at=utcnow() - timedelta(days=1))
    outcome = services.register(closed.id, details(1), source="organizer", notify=False)
    assert outcome.created and outcome.registration.source == "organizer"
    cancelled = committed_event(status=EventStatus.cancelled)
    with pytest.raises(services.RegistrationNotOpen):
        services.register(cancelled.id, details(2), source="organizer")


def test_unknown_event_and_registration(app):
    with pytest.raises(services.EventNotFound) as missing:
        services.register(999_999, details(1))
    assert missing.value.http_status == 404
    with pytest.raises(services.RegistrationNotFound):
        services.cancel_registration(999_999)


def test_personal_token_is_stored_only_as_a_hash(app):
    event = committed_event(capacity=10)
    outcome = services.register(event.id, details(1))
    registration = outcome.registration
    assert outcome.token == tokens.personal_token(registration)
    assert len(outcome.token) == 43
    assert registration.token_hash == tokens.hash_token(outcome.token)
    assert outcome.token not in (registration.token_hash, registration.token_salt)
    assert tokens.registration_by_token(outcome.token).id == registration.id
    forged = ("A" if outcome.token[0] != "A" else "B") + outcome.token[1:]
    assert tokens.registration_by_token(forged) is None
    assert tokens.registration_by_token("../../etc/passwd") is None
    assert (
        notifications.personal_url(registration)
        == f"http://localhost/registrations/{outcome.token}"
    )


def test_personal_token_depends_on_the_secret_key(app):
    event = committed_event(capacity=10)
    registration = services.register(event.id, details(1)).registration
    token = tokens.personal_token(registration)
    app.config["SECRET_KEY"] = "another-secret"
    assert tokens.personal_token(registration) != token


def test_checkin_code_round_trip_and_forgery(app):
    event = committed_event(capacity=10)
    registration = services.register(event.id, details(1)).registration
    code = tokens.checkin_code(registration)
    assert code.startswith(f"{registration.id}-") and len(code) <= 24
    assert tokens.registration_by_checkin_code(code).id == registration.id
    assert tokens.registration_by_checkin_code(code.lower()).id == registration.id
    wrong = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert tokens.registration_by_checkin_code(wrong) is None
    assert tokens.registration_by_checkin_code("999999-AAAAAAAAAA") is None
    assert tokens.registration_by_checkin_code("nonsense") is None
    # An id past what the column holds is simply unknown (PostgreSQL would refuse the query).
    assert tokens.registration_by_checkin_code("999999999999-AAAAAAAAAA") is None
    assert notifications.checkin_url(registration) == f"http://localhost/admin/check-in/{code}"


def test_register_query_count_does_not_grow_with_registrations(app, count_queries):
    event = committed_event(capacity=5)
    register_many(event.id, 3)
    with count_queries() as few:
        services.register(event.id, details(100), notify=False)
    register_many(event.id, 20, start=200)
    with count_queries() as many:
        services.register(event.id, details(300), notify=False)
    assert many.count == few.count


@pytest.mark.parametrize("change", ["cancelled", "started"])
def test_no_automatic_promotion_for_a_cancelled_or_started_event(app, change):
    event = committed_event(capacity=1)
    people = register_many(event.id, 3)
    if change == "cancelled":
        event = change_event(event.id, status=EventStatus.cancelled)
    else:
        event = change_event(event.id, starts_at=utcnow() - timedelta(minutes=10))
    services.cancel_registration(people[0].id)
    assert db.session.get(Registration, people[1].id).status == "waiting"
    assert outbox_kinds(people[1].id) == ["waitlisted"]
    assert waiting_positions(event.id) == [("person2@example.org", 1), ("person3@example.org", 2)]
    assert change_capacity(app, event.id, None).promoted == 0
    assert_seats_match_rows(event.id)


def test_registrant_cannot_cancel_once_the_event_has_started(app):
    event = committed_event(capacity=1)
    person = services.register(event.id, details(1)).registration
    event = change_event(event.id, starts_at=utcnow() - timedelta(minutes=1))
    with pytest.raises(services.EventAlreadyStarted):
        services.cancel_registration(person.id, by_registrant=True)
    assert db.session.get(Registration, person.id).status == "confirmed"
    services.cancel_registration(person.id, organizer_id=None)
    assert db.session.get(Registration, person.id).status == "cancelled"
    assert_seats_match_rows(event.id)


def test_sign_up_entered_by_the_office_is_audited_in_the_same_transaction(app, monkeypatch):
    event = committed_event(capacity=5)
    organizer = make_organizer()
    db.session.commit()

    def fail_mail(*args, **kwargs):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(services.notifications, "queue_registration_received", fail_mail)
    with pytest.raises(RuntimeError):
        services.register(event.id, details(1), source="organizer", organizer_id=organizer.id)
    assert db.session.scalar(select(func.count(AuditLogEntry.id))) == 0
    assert db.session.scalar(select(func.count(Registration.id))) == 0

    monkeypatch.undo()
    outcome = services.register(
        event.id, details(1), source="organizer", notify=False, organizer_id=organizer.id
    )
    entry = db.session.scalars(select(AuditLogEntry)).one()
    assert (entry.action, entry.target_id, entry.organizer_id) == (
        "registration.add",
        outcome.registration.id,
        organizer.id,
    )
    assert entry.after["email"] == "person1@example.org"
    assert entry.after["notify"] is False
