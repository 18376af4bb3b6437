"""Companions (同伴者, issue 12, point 4): a frame takes up to N companions per
registration, each with a name and a reading; a party takes all its seats or waits
whole, and the waiting list is served strictly in order (nobody passes a party that
does not fit); counters count people. The form, the console's frame form, the attendee
list, detail, check-in per person, the roster, the CSV and .xlsx (one row per person,
申込者 named), the personal page and the emails show the companions; more companions
than allowed is a 400 beside the field with nothing written; the purge blanks them."""

from __future__ import annotations

import csv
import io
import re
from email.utils import parseaddr

import openpyxl
import pytest
from sqlalchemy import func, select

from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.models import (
    Event,
    Frame,
    OutboxMessage,
    Registration,
    RegistrationCompanion,
    RegistrationStatus,
)
from cluster_events.registration import exports, services
from cluster_events.registration.services import Companion, FrameChoice, RegistrationDetails
from tests.conftest import sending_to
from tests.factories import frame, make_event, make_registration
from tests.records import assert_seats_match_rows, audit_entries
from tests.test_registration_http import form, token_from


def details(number: int | str, companions: int = 0) -> RegistrationDetails:
    return RegistrationDetails(
        f"参加者{number}",
        "さんかしゃ",
        f"person{number}@example.org",
        companions=tuple(
            Companion(f"同伴{number}-{n}", "どうはん", row=n) for n in range(1, companions + 1)
        ),
    )


def event_with(capacity: int | None, max_companions: int = 2, **values) -> Event:
    event = make_event(
        frames=[frame("交流会", capacity, max_companions=max_companions)],
        title="会員交流会",
        **values,
    )
    db.session.commit()
    return event


def register(event: Event, number: int, companions: int = 0) -> Registration:
    outcome = services.register(event.id, details(number, companions))
    return outcome.registration


def fresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def place(registration_id: int) -> tuple[str, int | None]:
    registration = fresh(Registration, registration_id)
    return registration.status, registration.waiting_position


# Seats, whole parties, strict order ------------------------------------------------------


def test_a_party_takes_a_seat_for_each_person(app):
    event = event_with(5)
    party = register(event, 1, companions=2)
    assert place(party.id) == ("confirmed", None)
    registration = fresh(Registration, party.id)
    assert registration.party_size == 3
    assert [(c.position, c.name, c.name_kana) for c in registration.companions] == [
        (1, "同伴1-1", "どうはん"),
        (2, "同伴1-2", "どうはん"),
    ]
    frame_row = fresh(Frame, event.frames[0].id)
    assert (frame_row.confirmed_count, frame_row.seats_left) == (3, 2)
    assert fresh(Event, event.id).confirmed_count == 3
    assert_seats_match_rows(event.id)


def test_a_party_that_does_not_fit_waits_whole_and_nobody_passes_it(app):
    event = event_with(4)
    first = register(event, 1, companions=1)  # 2 of 4
    party = register(event, 2, companions=2)  # 3 people, 2 seats left: waits whole
    assert place(party.id) == ("waiting", 1)
    frame_row = fresh(Frame, event.frames[0].id)
    assert (frame_row.confirmed_count, frame_row.waiting_count, frame_row.waiting_parties) == (
        2,
        3,
        1,
    )
    # Two seats are free, but a single person behind the party does not pass it.
    single = register(event, 3)
    assert place(single.id) == ("waiting", 2)
    assert fresh(Frame, event.frames[0].id).is_full
    assert_seats_match_rows(event.id)

    # The first party leaves: four seats, the party of three is seated, then the single.
    services.cancel_registration(first.id)
    assert place(party.id) == ("confirmed", None)
    assert place(single.id) == ("confirmed", None)
    assert fresh(Frame, event.frames[0].id).confirmed_count == 4
    assert_seats_match_rows(event.id)


def test_a_freed_seat_too_few_for_the_head_of_the_line_promotes_nobody(app):
    event = event_with(3)
    seated = [register(event, n) for n in range(3)]
    party = register(event, 10, companions=1)
    single = register(event, 11)
    services.cancel_registration(seated[0].id)
    assert [place(party.id), place(single.id)] == [("waiting", 1), ("waiting", 2)]
    kinds = db.session.scalars(
        select(OutboxMessage.kind).where(OutboxMessage.registration_id == single.id)
    ).all()
    assert kinds == ["waitlisted"]
    services.cancel_registration(seated[1].id)
    assert place(party.id) == ("confirmed", None)
    assert place(single.id) == ("waiting", 1)
    assert_seats_match_rows(event.id)


def test_the_office_may_seat_someone_out_of_turn_but_never_part_of_a_party(app):
    event = event_with(2)
    [register(event, n) for n in range(2)]
    party = register(event, 10, companions=1)
    single = register(event, 11)
    first = db.session.scalar(select(Registration).where(Registration.name == "参加者0"))
    services.cancel_registration(first.id)  # one seat: too few for the party
    with pytest.raises(services.NoSeatAvailable) as refused:
        services.promote_registration(party.id)
    assert refused.value.http_status == 409
    assert "2" in str(refused.value.message)
    promoted = services.promote_registration(single.id)
    assert promoted.status == RegistrationStatus.confirmed
    assert place(party.id) == ("waiting", 1)
    assert_seats_match_rows(event.id)


def test_raising_the_capacity_seats_whole_parties_in_order(app):
    from cluster_events.events import frames as frame_services

    event = event_with(1)
    register(event, 0)
    party = register(event, 1, companions=2)
    single = register(event, 2)
    data = frame_services.FrameData.from_frame(fresh(Frame, event.frames[0].id))
    data.capacity = 3  # two free: not enough for the party of three
    with app.test_request_context():
        assert frame_services.update_frame(event.id, event.frames[0].id, data).promoted == 0
    data.capacity = 5
    with app.test_request_context():
        assert frame_services.update_frame(event.id, event.frames[0].id, data).promoted == 2
    assert place(party.id) == ("confirmed", None)
    assert place(single.id) == ("confirmed", None)
    assert_seats_match_rows(event.id)


def test_a_party_moves_to_another_frame_whole(app):
    event = make_event(frames=[frame("一般枠", 5, max_companions=2), frame("招待枠", 2)])
    db.session.commit()
    party = services.register(
        event.id, details(1, 2), choice=FrameChoice(frame_id=event.frames[0].id)
    ).registration
    organizer_id = _organizer_id()
    with pytest.raises(services.TargetFrameFull) as refused:
        services.move_to_frame(
            party.id, event.frames[1].id, event_id=event.id, organizer_id=organizer_id
        )
    assert "3" in str(refused.value.field_errors["frame"])
    moved = services.move_to_frame(
        party.id,
        event.frames[1].id,
        event_id=event.id,
        organizer_id=organizer_id,
        to_waiting_list=True,
    )
    assert (moved.status, moved.waiting_position) == ("waiting", 1)
    assert fresh(Frame, event.frames[1].id).waiting_count == 3
    assert fresh(Frame, event.frames[0].id).confirmed_count == 0
    assert_seats_match_rows(event.id)


def _organizer_id() -> int:
    from tests.factories import make_organizer

    organizer = make_organizer()
    db.session.commit()
    return organizer.id


# Bad input ------------------------------------------------------------------------------


def test_more_companions_than_the_frame_allows_is_refused_and_nothing_is_written(app):
    event = event_with(10, max_companions=1)
    with pytest.raises(services.TooManyCompanions) as refused:
        register(event, 1, companions=2)
    assert refused.value.http_status == 400
    assert set(refused.value.field_errors) == {"companion_2_name"}
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 0
    assert db.session.scalar(select(func.count()).select_from(RegistrationCompanion)) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert fresh(Frame, event.frames[0].id).confirmed_count == 0


def _companions(*pairs: tuple[str, str], start: int = 1) -> dict[str, str]:
    data = {}
    for number, (name, kana) in enumerate(pairs, start=start):
        data[f"companion_{number}_name"] = name
        data[f"companion_{number}_kana"] = kana
    return data


def _nothing_written() -> None:
    db.session.rollback()
    for model in (Registration, RegistrationCompanion, OutboxMessage):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0


def test_the_form_refuses_too_many_companions_beside_the_first_extra_row(app, client):
    event = event_with(10, max_companions=1)
    data = form(**_companions(("横須賀 花子", "よこすか はなこ"), ("三浦 次郎", "みうら じろう")))
    response = client.post(f"/events/{event.slug}/register?lang=ja", data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "ご同伴いただけるのは1名までです" in page
    # Beside the second row, which the page shows with what was typed.
    assert re.search(r'id="companion_2_name-error"', page)
    assert 'aria-describedby="companion_2_name-error"' in page
    assert 'value="三浦 次郎"' in page
    _nothing_written()


def test_companions_sent_to_a_frame_without_companions_are_refused(app, client):
    event = event_with(10, max_companions=0)
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert "companion_1_name" not in page  # the form asks for none
    data = form(**_companions(("横須賀 花子", "よこすか はなこ")))
    response = client.post(f"/events/{event.slug}/register?lang=ja", data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "この参加枠では同伴者のお申込みはできません" in page
    assert 'id="companion_1_name-error"' in page
    _nothing_written()


@pytest.mark.parametrize(
    ("pair", "field", "message"),
    [
        (("横須賀 花子", ""), "companion_1_kana", "同伴者のお名前のふりがなをご記入ください"),
        (("", "よこすか はなこ"), "companion_1_name", "同伴者のお名前をご記入ください"),
        (("横須賀 花子", "横須賀"), "companion_1_kana", "ひらがなかカタカナ"),
        (("あ" * 101, "あ"), "companion_1_name", "100"),
    ],
)
def test_a_companion_needs_a_name_and_its_reading_in_kana(app, client, pair, field, message):
    event = event_with(10)
    response = client.post(f"/events/{event.slug}/register?lang=ja", data=form(**_companions(pair)))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'id="{field}-error"' in page and message in page
    _nothing_written()


# The form, the pages and the emails -------------------------------------------------------


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, **sending_to(smtp_server)}


def test_a_sign_up_with_companions_over_http_and_its_email(app, client, smtp_server):
    event = event_with(10)
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert 'name="companion_2_name"' in page and 'name="companion_3_name"' not in page
    assert "2名まで" in page
    assert '<label for="companion_1_kana">同伴者1　ふりがな</label>' in page
    data = form(**_companions(("三浦 花子", "ミウラ ハナコ"), ("", ""), start=1))
    data.update(_companions(("逗子 一郎", "ずし いちろう"), start=2))
    response = client.post(f"/events/{event.slug}/register?lang=ja", data=data)
    assert response.status_code == 303
    token = token_from(response.headers["Location"])
    registration = db.session.scalar(select(Registration))
    assert registration.party_size == 3
    assert [(c.name, c.name_kana) for c in registration.companions] == [
        ("三浦 花子", "みうら はなこ"),  # stored in hiragana
        ("逗子 一郎", "ずし いちろう"),
    ]
    personal = client.get(f"/registrations/{token}?lang=ja").get_data(as_text=True)
    assert "三浦 花子（みうら はなこ）" in personal and "ご本人を含めて3名です" in personal

    assert outbox.deliver_due().sent == 1
    (message,) = smtp_server.messages()
    assert parseaddr(message["To"])[1] == "taro@example.jp"
    text = message.get_body(("plain",)).get_content()
    assert "■ ご同伴者：三浦 花子, 逗子 一郎 (計3名)" in text
    assert "三浦 花子" in message.get_body(("html",)).get_content()


def test_a_sign_up_with_companions_takes_one_statement_more(app, client, count_queries):
    event = event_with(10)
    url = f"/events/{event.slug}/register"
    client.post(url, data=form(email="warm@example.org"))
    with count_queries() as counter:
        response = client.post(url, data=form(**_companions(("三浦 花子", "みうら はなこ"))))
    assert response.status_code == 303
    _lock, *writes = (" ".join(statement.split()) for statement in counter.statements)
    counted = (
        ["WITH counted_frame AS"]  # the counts with the registration's INSERT
        if db.engine.dialect.name == "postgresql"
        else ["INSERT INTO registration", "UPDATE participation_frame", "UPDATE event"]
    )
    assert [w.split(" (")[0].split(" SET")[0] for w in writes] == [
        *counted,
        "INSERT INTO registration_companion",
        "INSERT INTO outbox_message",
    ]


def test_the_console_sets_how_many_companions_a_frame_takes(app, logged_in_client):
    client = logged_in_client()
    event = event_with(10, max_companions=0)
    url = f"/admin/events/{event.id}/frames/{event.frames[0].id}"
    page = client.get(url + "?lang=ja").get_data(as_text=True)
    assert 'name="max_companions"' in page
    values = {"name_ja": "交流会", "capacity": "10", "eligibility": "anyone"}
    refused = client.post(url + "?lang=ja", data={**values, "max_companions": "11"})
    assert refused.status_code == 400
    assert fresh(Frame, event.frames[0].id).max_companions == 0
    saved = client.post(url, data={**values, "max_companions": "3"})
    assert saved.status_code == 302
    assert fresh(Frame, event.frames[0].id).max_companions == 3
    (entry,) = audit_entries("frame.update")
    assert entry.after["max_companions"] == 3
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert 'name="companion_3_name"' in page


def test_the_office_adds_a_party_by_phone(app, logged_in_client):
    client = logged_in_client()
    event = event_with(10)
    page = client.get(f"/admin/events/{event.id}/attendees/new?lang=ja").get_data(as_text=True)
    assert 'name="companion_2_kana"' in page
    values = {
        "name": "横須賀 太郎",
        "name_kana": "よこすか たろう",
        "email": "taro@example.jp",
        "member_type": "general",
        "locale": "ja",
        "frame": str(event.frames[0].id),
    }
    refused = client.post(
        f"/admin/events/{event.id}/attendees/new?lang=ja",
        data={**values, **_companions(("a", "あ"), ("b", "い"), ("c", "う"))},
    )
    assert refused.status_code == 400
    assert "2名まで" in refused.get_data(as_text=True)
    added = client.post(
        f"/admin/events/{event.id}/attendees/new",
        data={**values, **_companions(("三浦 花子", "みうら はなこ"))},
    )
    assert added.status_code == 302
    assert fresh(Frame, event.frames[0].id).confirmed_count == 2


# The office's pages and files ------------------------------------------------------------


@pytest.fixture
def party_event(app):
    event = event_with(10)
    make_registration(
        event, name="横須賀 太郎", name_kana="よこすか たろう", organization="横須賀精機"
    )
    party = make_registration(
        event,
        name="三浦 一郎",
        name_kana="みうら いちろう",
        organization="三浦商事",
        companions=["三浦 花子", "逗子 次郎"],
    )
    db.session.commit()
    return event, party


def test_the_list_shows_the_party_and_counts_people(party_event, logged_in_client):
    event, party = party_event
    client = logged_in_client()
    page = client.get(f"/admin/events/{event.id}/attendees?lang=ja").get_data(as_text=True)
    assert "同伴者: 三浦 花子、逗子 次郎 (3名)" in page
    assert re.search(r"参加確定: <strong>4</strong> / 10", page)
    # A companion's name finds the party.
    found = client.get(f"/admin/events/{event.id}/attendees?q=逗子").get_data(as_text=True)
    assert "三浦 一郎" in found and "横須賀 太郎" not in found
    detail = client.get(f"/admin/events/{event.id}/attendees/{party.id}?lang=ja")
    assert "計3名" in detail.get_data(as_text=True)


def test_check_in_marks_each_person_and_the_whole_party(party_event, logged_in_client):
    event, party = party_event
    client = logged_in_client()
    page = client.get(f"/admin/events/{event.id}/check-in?lang=ja").get_data(as_text=True)
    companions = fresh(Registration, party.id).companions
    for companion in companions:
        assert f'id="companion-{companion.id}"' in page
        assert f'name="companion_id" value="{companion.id}"' in page
    assert "三浦 一郎さんの同伴者" in page
    url = f"/admin/events/{event.id}/attendees/{party.id}/check-in"
    response = client.post(url, data={"companion_id": str(companions[1].id), "back": "checkin"})
    assert response.status_code == 302
    registration = fresh(Registration, party.id)
    assert registration.checked_in_at is None
    assert [c.checked_in_at is not None for c in registration.companions] == [False, True]
    (entry,) = audit_entries("registration.check_in")
    assert entry.after["companion"] == 2

    client.post(url, data={"whole_party": "yes"})
    registration = fresh(Registration, party.id)
    assert registration.checked_in_at is not None
    assert all(c.checked_in_at is not None for c in registration.companions)
    assert len(audit_entries("registration.check_in")) == 3  # twice more, not the second again
    counts = client.get(f"/admin/events/{event.id}/attendees?lang=ja").get_data(as_text=True)
    assert "受付済み（来場）: <strong>3</strong>" in counts

    # Another registration's companion, or a forged id, changes nothing.
    other = fresh(Registration, party.id).companions[0].id
    first = db.session.scalar(select(Registration).where(Registration.name == "横須賀 太郎"))
    wrong = client.post(
        f"/admin/events/{event.id}/attendees/{first.id}/check-in", data={"companion_id": str(other)}
    )
    assert wrong.status_code == 404
    assert client.post(url, data={"companion_id": "x1"}).status_code == 400


def test_the_roster_lists_every_companion_under_their_registrant(party_event, logged_in_client):
    event, _party = party_event
    client = logged_in_client()
    page = client.get(f"/admin/events/{event.id}/roster?lang=ja").get_data(as_text=True)
    assert "参加確定の4名（五十音順）" in page
    names = re.findall(r'<span class="kana">[^<]*</span>([^<]+)</td>', page)
    assert names == ["三浦 一郎", "三浦 花子", "逗子 次郎", "横須賀 太郎"]


def test_exports_have_one_row_per_person_with_the_registrant_named(party_event, logged_in_client):
    event, _party = party_event
    client = logged_in_client()
    keys = [column.key for column in exports.columns()]
    data = client.get(f"/admin/events/{event.id}/attendees.csv?lang=ja").data.decode("utf-8-sig")
    header, *rows = csv.reader(io.StringIO(data))
    assert "申込者" in header
    by_key = [dict(zip(keys, row, strict=True)) for row in rows]
    assert [(r["number"], r["name"], r["registrant"]) for r in by_key] == [
        ("1", "三浦 一郎", ""),
        ("2", "三浦 花子", "三浦 一郎"),
        ("3", "逗子 次郎", "三浦 一郎"),
        ("4", "横須賀 太郎", ""),
    ]
    companion = by_key[1]
    assert companion["organization"] == "" and companion["email"] == ""
    assert companion["status"] == by_key[0]["status"] == "参加確定"

    response = client.get(f"/admin/events/{event.id}/attendees.xlsx?lang=ja")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert cells[0][keys.index("registrant")] == "申込者"
    assert [row[keys.index("name")] for row in cells[1:]] == [r["name"] for r in by_key]
    assert cells[3][keys.index("registrant")] == "三浦 一郎"


def test_an_event_with_a_lottery_frame_exports_its_parties_row_by_row(app, logged_in_client):
    """The lottery's column is per person too: a party in the event's other frame does
    not shift the results onto the wrong rows (nor fail the file)."""
    from datetime import timedelta

    from cluster_events.database import utcnow
    from cluster_events.models import FrameSelection, LotteryResult

    lottery = frame(
        "抽選枠",
        1,
        selection=FrameSelection.lottery,
        registration_closes_at=utcnow() + timedelta(days=1),
    )
    event = make_event(frames=[frame("交流会", 10, max_companions=2), lottery], title="会員交流会")
    make_registration(
        event, name="三浦 一郎", name_kana="みうら いちろう", companions=["三浦 花子", "逗子 次郎"]
    )
    make_registration(
        event,
        name="横須賀 太郎",
        name_kana="よこすか たろう",
        frame=event.frames[1],
        lottery_result=LotteryResult.won,
    )
    db.session.commit()
    client = logged_in_client()
    keys = [column.key for column in exports.columns()]
    response = client.get(f"/admin/events/{event.id}/attendees.csv?lang=ja&sort=registered")
    assert response.status_code == 200
    header, *rows = csv.reader(io.StringIO(response.data.decode("utf-8-sig")))
    assert header[len(keys)] == "抽選結果"
    assert [(row[keys.index("name")], row[len(keys)]) for row in rows] == [
        ("三浦 一郎", ""),
        ("三浦 花子", ""),
        ("逗子 次郎", ""),
        ("横須賀 太郎", "当選"),
    ]
    xlsx = client.get(f"/admin/events/{event.id}/attendees.xlsx?lang=ja&sort=registered")
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    cells = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
    assert [(row[keys.index("name")], row[len(keys)]) for row in cells] == [
        ("三浦 一郎", None),
        ("三浦 花子", None),
        ("逗子 次郎", None),
        ("横須賀 太郎", "当選"),
    ]


def test_the_purge_blanks_the_companions(app, party_event):
    from datetime import timedelta

    from cluster_events.database import utcnow
    from cluster_events.registration import purge

    event, party = party_event
    event = fresh(Event, event.id)
    event.starts_at = utcnow() - timedelta(days=2)
    event.ends_at = utcnow() - timedelta(days=2, hours=-2)
    db.session.commit()
    with app.test_request_context():
        purge.purge_event(event.id)
    names = db.session.scalars(
        select(RegistrationCompanion.name).where(RegistrationCompanion.registration_id == party.id)
    ).all()
    assert names == [purge.PURGED_MARKER] * 2
    kana = db.session.scalars(select(RegistrationCompanion.name_kana)).all()
    assert set(kana) == {""}
    assert fresh(Registration, party.id).party_size == 3  # the seats stay counted
