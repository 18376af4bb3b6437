"""Participation frames (参加枠) at sign-up (issue 12, point 1): each frame's own seats,
waiting list and promotions; what the form offers to whom, with each frame's state; the
refusals (a frame the visitor may not take, a wrong or used-up code, a closed frame), each
a 400 in the layout and language with nothing written; frames on the event page, the
catalogue and the personal page; and public feeds that frames never change."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cluster_events.database import utcnow
from cluster_events.events import frames as frame_services
from cluster_events.extensions import db
from cluster_events.models import (
    Event,
    Frame,
    FrameEligibility,
    OutboxMessage,
    Registration,
    RegistrationStatus,
)
from cluster_events.registration import services
from cluster_events.registration.services import FrameChoice, RegistrationDetails
from tests.factories import frame, make_event, make_invitation_code, make_registration
from tests.members import first_person, make_member, sign_in_member
from tests.records import assert_seats_match_rows
from tests.test_registration_http import form


def details(number: int | str) -> RegistrationDetails:
    return RegistrationDetails(f"参加者{number}", "さんかしゃ", f"person{number}@example.org")


def two_frames(**values) -> Event:
    """会員枠 (members only, 3 seats, free) and 一般枠 (2 seats, the event's fee)."""
    values.setdefault(
        "frames",
        [
            frame("会員枠", 3, name_en="Members", eligibility="members", fee_text="無料"),
            frame("一般枠", 2, name_en="General"),
        ],
    )
    values.setdefault("fee_text", "一般1,000円")
    event = make_event(**values)
    db.session.commit()
    return event


def fresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def place(registration_id: int) -> tuple[str, int | None]:
    registration = fresh(Registration, registration_id)
    return registration.status, registration.waiting_position


def register(event: Event, number: int, frame_index: int, **choice) -> Registration:
    chosen = FrameChoice(frame_id=event.frames[frame_index].id, **choice)
    return services.register(event.id, details(number), choice=chosen).registration


# Seats, waiting lists and promotions per frame -----------------------------------------


def anyone_frames() -> Event:
    event = make_event(frames=[frame("午前の部", 2), frame("午後の部", 1)])
    db.session.commit()
    return event


def test_each_frame_has_its_own_seats_and_waiting_list(app):
    event = anyone_frames()
    morning = [register(event, n, 0) for n in range(3)]
    afternoon = [register(event, n, 1) for n in range(3, 5)]
    assert [place(r.id) for r in morning] == [("confirmed", None)] * 2 + [("waiting", 1)]
    assert [place(r.id) for r in afternoon] == [("confirmed", None), ("waiting", 1)]
    event = fresh(Event, event.id)
    assert (event.capacity, event.confirmed_count, event.waiting_count) == (3, 3, 2)
    assert not event.is_full or event.confirmed_count == event.capacity
    assert_seats_match_rows(event.id)


def test_a_cancellation_promotes_the_next_person_of_its_own_frame(app):
    event = anyone_frames()
    morning = [register(event, n, 0) for n in range(4)]
    afternoon = [register(event, n, 1) for n in range(4, 6)]
    services.cancel_registration(afternoon[0].id)
    assert place(afternoon[1].id) == ("confirmed", None)
    assert [place(r.id) for r in morning[2:]] == [("waiting", 1), ("waiting", 2)]
    services.cancel_registration(morning[2].id)  # a waiting person leaves: the rest move up
    assert place(morning[3].id) == ("waiting", 1)
    kinds = db.session.scalars(
        select(OutboxMessage.kind).where(OutboxMessage.registration_id == afternoon[1].id)
    ).all()
    assert kinds == ["waitlisted", "promoted"]
    assert_seats_match_rows(event.id)


def test_raising_a_frames_capacity_fills_its_waiting_list_only(app):
    event = anyone_frames()
    morning = [register(event, n, 0) for n in range(4)]
    afternoon = [register(event, n, 1) for n in range(4, 6)]
    data = frame_services.FrameData.from_frame(event.frames[0])
    data.capacity = 3
    with app.test_request_context():
        result = frame_services.update_frame(event.id, event.frames[0].id, data)
    assert result.promoted == 1
    assert place(morning[2].id) == ("confirmed", None)
    assert place(morning[3].id) == ("waiting", 1)
    assert place(afternoon[1].id) == ("waiting", 1)
    assert fresh(Event, event.id).capacity == 4
    assert_seats_match_rows(event.id)


def test_an_event_with_one_frame_signs_up_as_before(app, client):
    event = make_event(capacity=1)
    db.session.commit()
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert 'name="frame"' not in page and 'name="invitation_code"' not in page
    assert "参加枠" not in page
    first = client.post(f"/events/{event.slug}/register", data=form(email="a@example.org"))
    second = client.post(f"/events/{event.slug}/register", data=form(email="b@example.org"))
    assert first.status_code == second.status_code == 303
    rows = db.session.scalars(select(Registration).order_by(Registration.id)).all()
    assert {r.frame_id for r in rows} == {event.frames[0].id}
    assert [(r.status, r.waiting_position) for r in rows] == [
        ("confirmed", None),
        ("waiting", 1),
    ]


# What the form offers ----------------------------------------------------------------


def frame_radios(page: str) -> dict[str, str]:
    """value -> the whole <input> of each frame's radio button."""
    return {
        re.search(r'value="(\d+)"', tag).group(1): tag
        for tag in re.findall(r'<input type="radio" id="frame-\d+"[^>]*>', page)
    }


@pytest.fixture
def many_frames(app):
    now = utcnow()
    event = make_event(
        fee_text="1,000円",
        frames=[
            frame("会員枠", 10, eligibility=FrameEligibility.members),
            frame("一般枠", 20),
            frame("残りわずかの枠", 10),
            frame("満席の枠", 1),
            frame("締切の枠", 10, registration_closes_at=now - timedelta(hours=1)),
            frame("受付前の枠", 10, registration_opens_at=now + timedelta(days=1)),
            frame("招待枠", 5, eligibility=FrameEligibility.invitation),
        ],
    )
    for _ in range(9):
        make_registration(event, frame=event.frames[2])
    make_registration(event, frame=event.frames[3])
    db.session.commit()
    return event


def test_the_form_offers_the_frames_a_visitor_may_take_each_with_its_state(
    app, client, many_frames
):
    event = many_frames
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    radios = frame_radios(page)
    ids = [str(f.id) for f in event.frames]
    assert set(radios) == set(ids[1:])  # not the members' frame
    for choosable in (1, 2, 3, 6):
        assert "disabled" not in radios[ids[choosable]]
    for closed in (4, 5):
        assert "disabled" in radios[ids[closed]]
    form_part = page[page.index('<form class="registration-form"') :]
    for state in ("受付中", "残りわずか", "満席・キャンセル待ち受付中", "締切", "受付前"):
        assert state in form_part, state
    assert "招待コードが必要" in form_part
    assert 'name="invitation_code"' in form_part
    assert "残り1席" in form_part and "参加費: 1,000円" in form_part


def test_a_signed_in_member_is_offered_the_members_frame_and_takes_it(app, client):
    event = two_frames()
    person = first_person(make_member())
    sign_in_member(client, person)
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert set(frame_radios(page)) == {str(f.id) for f in event.frames}
    response = client.post(
        f"/events/{event.slug}/register", data=form(frame=str(event.frames[0].id))
    )
    assert response.status_code == 303
    registration = db.session.scalar(select(Registration))
    assert (registration.frame_id, registration.member_person_id) == (
        event.frames[0].id,
        person.id,
    )


def test_a_visitor_is_told_when_every_frame_is_for_members(app, client):
    event = make_event(frames=[frame("会員枠", 10, eligibility=FrameEligibility.members)])
    db.session.commit()
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert "この催しの席は会員の方向けです" in page
    assert 'class="registration-form"' not in page


# Refusals ------------------------------------------------------------------------------


def _bad_choices(event: Event, other: Event) -> dict[str, tuple[dict[str, str], str, str]]:
    members, general, invited, closed = (str(f.id) for f in event.frames)
    return {
        "no frame chosen": ({}, "frame", "参加枠をお選びください。"),
        "another event's frame": (
            {"frame": str(other.frames[0].id)},
            "frame",
            "表示されている参加枠の中からお選びください。",
        ),
        "not a frame": ({"frame": "abc"}, "frame", "表示されている参加枠の中からお選びください。"),
        "members' frame": ({"frame": members}, "frame", "この参加枠は会員限定です。"),
        "closed frame": ({"frame": closed}, "frame", "この参加枠の申込みは締め切りました。"),
        "no code": ({"frame": invited}, "invitation_code", "招待コードを入力してください。"),
        "wrong code": (
            {"frame": invited, "invitation_code": "WRONG123"},
            "invitation_code",
            "この招待コードは、この参加枠では使えません。",
        ),
        "used-up code": (
            {"frame": invited, "invitation_code": "USEDUP01"},
            "invitation_code",
            "使える回数の上限に達しています。",
        ),
        "another frame's code": (
            {"frame": general, "invitation_code": "KONDAN01"},
            None,
            "",
        ),
    }


@pytest.fixture
def refusing(app):
    now = utcnow()
    event = make_event(
        slug="refusing",
        frames=[
            frame("会員枠", 5, eligibility=FrameEligibility.members),
            frame("一般枠", 5),
            frame("招待枠", 5, eligibility=FrameEligibility.invitation),
            frame("締切の枠", 5, registration_closes_at=now - timedelta(minutes=1)),
        ],
    )
    make_invitation_code(event.frames[2], "KONDAN01", max_uses=3)
    used_up = make_invitation_code(event.frames[2], "USEDUP01", max_uses=1)
    make_registration(event, frame=event.frames[2], invitation_code_id=used_up.id)
    other = make_event(slug="other-event")
    db.session.commit()
    return event, other


BAD = [
    "no frame chosen",
    "another event's frame",
    "not a frame",
    "members' frame",
    "closed frame",
    "no code",
    "wrong code",
    "used-up code",
]


@pytest.mark.parametrize("case", BAD)
def test_a_frame_the_visitor_may_not_take_is_a_field_error_and_writes_nothing(
    app, client, refusing, case
):
    event, other = refusing
    data, field, message = _bad_choices(event, other)[case]
    before = (
        db.session.scalar(select(func.count(Registration.id))),
        db.session.scalar(select(func.count(OutboxMessage.id))),
        [(f.confirmed_count, f.waiting_count) for f in event.frames],
    )
    response = client.post(
        f"/events/{event.slug}/register?lang=ja", data=form(email="new@example.org", **data)
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert '<html lang="ja"' in page and 'class="site-header' in page  # the site's layout
    assert message in page
    assert f'id="{field}-error"' in page  # beside its field, tied to it
    assert 'aria-invalid="true"' in page or f'aria-describedby="{field}-error"' in page
    assert "横須賀 太郎" in page  # what they typed is kept
    db.session.expire_all()
    event = db.session.get(Event, event.id)
    assert before == (
        db.session.scalar(select(func.count(Registration.id))),
        db.session.scalar(select(func.count(OutboxMessage.id))),
        [(f.confirmed_count, f.waiting_count) for f in event.frames],
    )


def test_refusals_are_in_the_readers_language(app, client, refusing):
    event, _ = refusing
    response = client.post(
        f"/events/{event.slug}/register?lang=en",
        data=form(frame=str(event.frames[2].id), invitation_code="NOPE1234"),
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert '<html lang="en"' in page
    assert "This invitation code is not valid for this participation frame." in page


def test_a_code_of_one_frame_does_not_open_another_and_is_not_needed_there(app, client, refusing):
    event, other = refusing
    data, _, _ = _bad_choices(event, other)["another frame's code"]
    response = client.post(f"/events/{event.slug}/register", data=form(**data))
    assert response.status_code == 303
    registration = db.session.scalar(select(Registration).order_by(Registration.id.desc()))
    assert (registration.frame_id, registration.invitation_code_id) == (event.frames[1].id, None)


def test_a_frame_not_open_yet_refuses_with_its_own_words(app):
    event = make_event(
        frames=[
            frame("一般枠", 5),
            frame("後日の枠", 5, registration_opens_at=utcnow() + timedelta(days=1)),
        ]
    )
    db.session.commit()
    with pytest.raises(services.frames.FrameRefused) as refused:
        register(event, 1, 1)
    assert refused.value.field_errors == {"frame": services.frames.NOT_YET_OPEN}
    assert refused.value.http_status == 400


def test_a_frames_period_only_narrows_the_events(app):
    now = utcnow()
    event = make_event(
        registration_closes_at=now - timedelta(hours=1),
        frames=[frame("一般枠", 5, registration_closes_at=now + timedelta(days=1)), frame("B", 5)],
    )
    db.session.commit()
    assert event.frames[0].closes_at == event.registration_closes_at
    with pytest.raises(services.RegistrationNotOpen):
        register(event, 1, 0)


# Invitation codes ----------------------------------------------------------------------


def test_an_invitation_code_admits_its_uses_and_a_cancellation_gives_one_back(app, client):
    event = make_event(
        frames=[frame("一般枠", 10), frame("招待枠", 10, eligibility=FrameEligibility.invitation)]
    )
    code = make_invitation_code(event.frames[1], "KYOTO2026", max_uses=1)
    db.session.commit()
    invited = str(event.frames[1].id)
    url = f"/events/{event.slug}/register?lang=ja"
    # Full-width, lower case and a hyphen, as people type it.
    typed = "ｋｙｏｔｏ-２０２６"
    first = client.post(url, data=form(email="a@example.org", frame=invited, invitation_code=typed))
    assert first.status_code == 303
    registration = db.session.scalar(select(Registration))
    assert (registration.frame_id, registration.invitation_code_id) == (int(invited), code.id)

    second = client.post(
        url, data=form(email="b@example.org", frame=invited, invitation_code=typed)
    )
    assert second.status_code == 400
    assert "使える回数の上限に達しています" in second.get_data(as_text=True)

    services.cancel_registration(registration.id)
    third = client.post(url, data=form(email="b@example.org", frame=invited, invitation_code=typed))
    assert third.status_code == 303


def test_a_second_submit_with_its_now_used_up_code_shows_the_registration(app, client):
    event = make_event(
        frames=[frame("一般枠", 10), frame("招待枠", 10, eligibility=FrameEligibility.invitation)]
    )
    make_invitation_code(event.frames[1], "ONCEONLY", max_uses=1)
    db.session.commit()
    data = form(frame=str(event.frames[1].id), invitation_code="ONCEONLY")
    first = client.post(f"/events/{event.slug}/register", data=data)
    again = client.post(f"/events/{event.slug}/register", data=data)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert db.session.scalar(select(func.count(Registration.id))) == 1


def test_the_codes_last_use_is_taken_once_under_the_lock(app):
    """Two sign-ups for a code's last use: the second sees the first's registration
    (counted under the event lock) and is refused."""
    event = make_event(
        frames=[frame("一般枠", 10), frame("招待枠", 10, eligibility=FrameEligibility.invitation)]
    )
    make_invitation_code(event.frames[1], "LASTONE1", max_uses=2)
    db.session.commit()
    register(event, 1, 1, invitation_code="lastone1")
    register(event, 2, 1, invitation_code="LASTONE1")
    with pytest.raises(services.frames.FrameRefused):
        register(event, 3, 1, invitation_code="LASTONE1")


# Shown -----------------------------------------------------------------------------------


def test_the_event_page_shows_each_frame_with_its_seats_fee_and_who_may_take_it(app, client):
    event = two_frames()
    make_registration(event, frame=event.frames[1])
    db.session.commit()
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    facts = page[page.index('class="frame-list"') : page.index("</ul>", page.index("frame-list"))]
    assert "会員枠" in facts and "一般枠" in facts
    assert "残り3席" in facts and "残り1席" in facts
    assert "参加費: 無料" in facts and "参加費: 一般1,000円" in facts  # its own, the event's
    assert "会員限定" in facts
    english = client.get(f"/events/{event.slug}?lang=en").get_data(as_text=True)
    assert "Members" in english and "General" in english and "1 seat left" in english


def test_the_catalogue_card_gives_the_seats_left_and_says_there_are_several_frames(app, client):
    event = two_frames(title="フレームのある懇談会")
    make_registration(event, frame=event.frames[1])
    db.session.commit()
    page = client.get("/?lang=ja").get_data(as_text=True)
    card = page[
        page.index("フレームのある懇談会") - 1500 : page.index("フレームのある懇談会") + 1500
    ]
    assert "残り4席" in card
    assert "参加枠 2種類" in card


def test_the_personal_page_shows_the_frame_and_its_fee(app, client):
    event = two_frames()
    response = client.post(
        f"/events/{event.slug}/register?lang=ja", data=form(frame=str(event.frames[1].id))
    )
    page = client.get(response.headers["Location"] + "?lang=ja").get_data(as_text=True)
    assert "一般枠" in page and "一般1,000円" in page


def test_a_frame_changed_in_the_console_shows_on_the_event_page_at_once(app, client):
    event = two_frames()
    url = f"/events/{event.slug}?lang=ja"
    assert "一般枠" in client.get(url).get_data(as_text=True)
    data = frame_services.FrameData.from_frame(event.frames[1])
    data.name_ja = "ご家族枠"
    with app.test_request_context():
        frame_services.update_frame(event.id, event.frames[1].id, data)
    page = client.get(url).get_data(as_text=True)
    assert "ご家族枠" in page and "一般枠" not in page


# Public feeds ----------------------------------------------------------------------------

FEEDS = ("/calendar.ics", "/calendar.ics?lang=en")


def _feeds(client) -> list[tuple[bytes, str]]:
    answers = []
    for url in FEEDS:
        response = client.get(url)
        assert response.status_code == 200
        answers.append((response.data, response.headers["ETag"]))
    return answers


def test_frames_change_no_public_feed_bytes_or_etag(app, client):
    event = two_frames()
    general_id = event.frames[1].id
    before = _feeds(client)
    category_feed = client.get(f"/calendar/{event.category.slug}.ics")

    with app.test_request_context():
        added = frame_services.add_frame(
            event.id,
            frame_services.FrameData(name_ja="招待枠", capacity=4, eligibility="invitation"),
        )
        frame_services.add_invitation_code(
            event.id, added.id, frame_services.CodeData(code="FEEDS123", max_uses=2)
        )
        data = frame_services.FrameData.from_frame(fresh(Frame, event.frames[1].id))
        data.capacity, data.fee_text, data.name_ja = 9, "500円", "一般の方"
        frame_services.update_frame(event.id, event.frames[1].id, data)
        frame_services.move_frame(event.id, added.id, -1)
    register(fresh(Event, event.id), 1, 2)  # 一般の方, now third
    response = client.post(f"/events/{event.slug}/register", data=form(frame=str(general_id)))
    assert response.status_code == 303

    assert _feeds(client) == before
    again = client.get(f"/calendar/{event.category.slug}.ics")
    assert (again.data, again.headers["ETag"]) == (
        category_feed.data,
        category_feed.headers["ETag"],
    )
    revalidated = client.get(FEEDS[0], headers={"If-None-Match": before[0][1]})
    assert revalidated.status_code == 304


def test_a_registrations_emails_name_its_frame_and_fee(app, client):
    from cluster_events.mail.messages import OutboxMail

    event = two_frames()
    client.post(f"/events/{event.slug}/register?lang=ja", data=form(frame=str(event.frames[1].id)))
    message = db.session.scalar(select(OutboxMessage))
    with app.test_request_context():
        mail = OutboxMail(message)
    assert "■ 参加枠：一般枠" in mail.body and "一般1,000円" in mail.body
    assert "一般枠" in mail.html


def test_registration_statuses_stay_in_step_across_frames(app):
    """Registering, cancelling and promoting by hand in two frames keep every counter
    equal to the rows."""
    event = anyone_frames()
    people = [register(event, n, n % 2) for n in range(8)]
    services.cancel_registration(people[0].id)
    services.cancel_registration(people[7].id)
    waiting = [p for p in people if place(p.id)[0] == RegistrationStatus.waiting]
    assert waiting
    assert_seats_match_rows(event.id)
