"""Approval (承認制, issue 12, point 5, and its part of point 6): in a frame that needs the
office's approval a sign-up on the web waits as pending (申込み受付・承認待ち), holds no
seat and is told so by email; the office approves or declines on the attendee list
(several at once: ticked boxes and one POST) or the detail page, each decision with its
email (over a real SMTP server) and its audit entry; approval takes the seat under the
event lock, or the frame's waiting list when it filled up meanwhile. Approving or
declining a cancelled or already decided registration is a 409 page saying which, with
nothing changed. The personal page, My page and the member's own feed show the pending
state; public feeds never change with it."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import parseaddr

import icalendar
import pytest
from sqlalchemy import func, select

from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.models import (
    AuditLogEntry,
    Event,
    Frame,
    MemberLink,
    OutboxMessage,
    Registration,
)
from cluster_events.registration import services
from cluster_events.registration.services import Companion, FrameChoice, RegistrationDetails
from tests.conftest import sending_to
from tests.factories import frame, make_event, make_registration
from tests.members import first_person, make_member, sign_in_member
from tests.records import audit_entries
from tests.test_registration_http import form, token_from


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, **sending_to(smtp_server)}


def approval_event(capacity: int | None = 2, **values) -> Event:
    """A school visit (小中学校エコ教育 出前授業) whose one frame the office approves."""
    values.setdefault(
        "frames", [frame("学校枠", capacity, requires_approval=True, max_companions=2)]
    )
    event = make_event(title="エコ教育 出前授業", **values)
    db.session.commit()
    return event


def fresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def apply(event: Event, number: int, companions: int = 0) -> Registration:
    """A sign-up on the web (through the service): pending."""
    details = RegistrationDetails(
        f"申込者{number}",
        "もうしこみしゃ",
        f"school{number}@example.jp",
        companions=tuple(Companion(f"引率{n}", "いんそつ") for n in range(companions)),
    )
    return services.register(event.id, details).registration


def kinds(registration_id: int) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(OutboxMessage.kind)
            .where(OutboxMessage.registration_id == registration_id)
            .order_by(OutboxMessage.id)
        )
    )


def delivered(smtp_server) -> dict[str, EmailMessage]:
    assert outbox.deliver_due().failed == 0
    return {parseaddr(m["To"])[1]: m for m in smtp_server.messages()}


def decide(client, event: Event, decision: str, *registrations, **extra):
    data = {"decision": decision, **extra}
    ids = [str(r.id) if hasattr(r, "id") else str(r) for r in registrations]
    return client.post(
        f"/admin/events/{event.id}/attendees/decide?lang=ja",
        data={**data, "registration_id": ids},
    )


def state(event_id: int) -> tuple:
    """Everything a refused decision must leave as it was."""
    db.session.expire_all()
    event = db.session.get(Event, event_id)
    rows = db.session.execute(
        select(Registration.id, Registration.status, Registration.waiting_position)
        .where(Registration.event_id == event_id)
        .order_by(Registration.id)
    ).all()
    return (
        tuple(rows),
        tuple((f.confirmed_count, f.waiting_count, f.waiting_parties) for f in event.frames),
        (event.confirmed_count, event.waiting_count),
        db.session.scalar(select(func.count()).select_from(OutboxMessage)),
        db.session.scalar(select(func.count()).select_from(AuditLogEntry)),
    )


# Pending ---------------------------------------------------------------------------------


def test_a_sign_up_waits_for_approval_without_a_seat_and_is_told_so(app, client, smtp_server):
    event = approval_event()
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert "事務局がお申込みを確認してからお席を確定します（承認制）" in page
    response = client.post(f"/events/{event.slug}/register?lang=ja", data=form())
    assert response.status_code == 303
    token = token_from(response.headers["Location"])
    registration = db.session.scalar(select(Registration))
    assert (registration.status, registration.waiting_position) == ("pending", None)
    frame_row = fresh(Frame, event.frames[0].id)
    assert (frame_row.confirmed_count, frame_row.waiting_count) == (0, 0)
    assert fresh(Event, event.id).confirmed_count == 0

    personal = client.get(f"/registrations/{token}?lang=ja").get_data(as_text=True)
    assert "お申込みを受け付けました。事務局の承認をお待ちください。" in personal
    assert "お申込みを取り下げる" in personal
    assert "事務局で確認のうえ、結果をメールでお知らせします" in personal  # the flash

    message = delivered(smtp_server)["taro@example.jp"]
    assert message["Subject"] == "【お申込み受付・承認待ち】エコ教育 出前授業"
    text = message.get_body(("plain",)).get_content()
    assert "まだお席は確定していません" in text and f"/registrations/{token}" in text
    types = {part.get_content_type() for part in message.walk()}
    assert "text/calendar" not in types and "image/png" not in types


def test_a_full_frame_still_takes_applications_for_the_office_to_decide(app, client):
    event = approval_event(capacity=1)
    make_registration(event)
    db.session.commit()
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert "キャンセル待ちに申し込む" not in page
    response = client.post(f"/events/{event.slug}/register", data=form())
    assert response.status_code == 303
    assert (
        db.session.scalar(
            select(Registration.status).where(Registration.email == "taro@example.jp")
        )
        == "pending"
    )


def test_the_office_adds_to_an_approval_frame_without_approval(app, logged_in_client):
    client = logged_in_client()
    event = approval_event()
    response = client.post(
        f"/admin/events/{event.id}/attendees/new",
        data={
            "name": "横須賀 太郎",
            "name_kana": "よこすか たろう",
            "email": "taro@example.jp",
            "member_type": "general",
            "locale": "ja",
            "frame": str(event.frames[0].id),
        },
    )
    assert response.status_code == 302
    assert db.session.scalar(select(Registration.status)) == "confirmed"


# Approving and declining ------------------------------------------------------------------


def test_approving_on_the_detail_page_seats_the_party_with_its_email(
    app, logged_in_client, smtp_server
):
    client = logged_in_client()
    event = approval_event(capacity=5)
    pending = apply(event, 1, companions=2)
    detail = client.get(f"/admin/events/{event.id}/attendees/{pending.id}?lang=ja")
    page = detail.get_data(as_text=True)
    assert "承認する（メールでお知らせ）" in page and "申込み受付・承認待ち" in page
    response = decide(client, event, "approve", pending, back_to=str(pending.id))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/attendees/{pending.id}")
    registration = fresh(Registration, pending.id)
    assert registration.status == "confirmed" and registration.decided_at is not None
    assert fresh(Frame, event.frames[0].id).confirmed_count == 3
    (entry,) = audit_entries("registration.approve")
    assert entry.organizer_id == client.organizer.id
    assert (entry.before, entry.after) == (
        {"status": "pending"},
        {"status": "confirmed", "waiting_position": None, "party_size": 3},
    )
    assert kinds(pending.id) == ["pending", "approved"]
    assert outbox.deliver_due().sent == 2
    subjects = [m["Subject"] for m in smtp_server.messages()]
    assert subjects == [
        "【お申込み受付・承認待ち】エコ教育 出前授業",
        "【承認・参加確定】エコ教育 出前授業",
    ]
    message = smtp_server.messages()[-1]
    text = message.get_body(("plain",)).get_content()
    assert "お申込みを承認いたしました。お席が確定しました" in text
    assert "■ ご同伴者：引率0, 引率1 (計3名)" in text
    types = {part.get_content_type() for part in message.walk()}
    assert {"text/calendar", "image/png"} <= types


def test_several_at_once_are_seated_in_order_and_the_rest_wait(app, logged_in_client, smtp_server):
    client = logged_in_client()
    event = approval_event(capacity=4)
    first = apply(event, 1)
    party = apply(event, 2, companions=1)
    last = apply(event, 3, companions=1)
    # Meanwhile the office seats someone by phone: one seat fewer.
    make_registration(event, name="電話 太郎")
    db.session.commit()
    page = client.get(f"/admin/events/{event.id}/attendees?lang=ja").get_data(as_text=True)
    for registration in (first, party, last):
        assert f'name="registration_id" value="{registration.id}"' in page
    assert page.count('name="registration_id"') == 3  # not for the confirmed one
    assert "選んだお申込みを承認する" in page

    response = decide(client, event, "approve", last, first, party)  # any order
    assert response.status_code == 302
    assert [fresh(Registration, r.id).status for r in (first, party, last)] == [
        "confirmed",
        "confirmed",
        "waiting",
    ]
    assert fresh(Registration, last.id).waiting_position == 1
    frame_row = fresh(Frame, event.frames[0].id)
    assert (frame_row.confirmed_count, frame_row.waiting_count) == (4, 2)
    listed = client.get(response.headers["Location"] + "&lang=ja").get_data(as_text=True)
    assert "3件のお申込みを承認しました" in listed
    assert "キャンセル待ちになりました：申込者3 (学校枠 1)" in listed
    assert len(audit_entries("registration.approve")) == 3
    assert kinds(last.id) == ["pending", "approved_waitlisted"]
    outbox.deliver_due()
    subjects = {(parseaddr(m["To"])[1], m["Subject"]) for m in smtp_server.messages()}
    assert ("school3@example.jp", "【承認・キャンセル待ち】エコ教育 出前授業") in subjects
    assert ("school2@example.jp", "【承認・参加確定】エコ教育 出前授業") in subjects

    # Seats freed later go to them in turn, as for anyone waiting: both of theirs.
    phone = db.session.scalar(select(Registration).where(Registration.name == "電話 太郎"))
    services.cancel_registration(phone.id)
    assert fresh(Registration, last.id).status == "waiting"  # one seat: too few for two
    services.cancel_registration(first.id)
    assert fresh(Registration, last.id).status == "confirmed"


def test_declining_asks_first_then_tells_the_person(app, logged_in_client, client, smtp_server):
    office = logged_in_client()
    event = approval_event()
    response = client.post(f"/events/{event.slug}/register?lang=ja", data=form())
    token = token_from(response.headers["Location"])
    pending = db.session.scalar(select(Registration))
    before = state(event.id)

    asked = decide(office, event, "decline", pending)
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert "次の1件のお申込みを本当にお断りしますか" in page and "横須賀 太郎" in page
    assert 'name="confirmed" value="yes"' in page
    assert state(event.id) == before

    done = decide(office, event, "decline", pending, confirmed="yes")
    assert done.status_code == 302
    registration = fresh(Registration, pending.id)
    assert (registration.status, registration.is_active) == ("declined", False)
    (entry,) = audit_entries("registration.decline")
    assert entry.after["status"] == "declined"
    assert kinds(pending.id) == ["pending", "declined"]
    outbox.deliver_due()
    declined = [m for m in smtp_server.messages() if "ご連絡" in m["Subject"]]
    assert [m["Subject"] for m in declined] == ["【お申込みについてのご連絡】エコ教育 出前授業"]
    text = declined[0].get_body(("plain",)).get_content()
    assert "今回はお申込みをお受けすることができませんでした" in text

    personal = client.get(f"/registrations/{token}?lang=ja").get_data(as_text=True)
    assert "今回はお申込みをお受けできませんでした" in personal
    assert "お申込みを取り下げる" not in personal
    # The address stays taken for the event: the same browser sees its registration.
    again = client.post(f"/events/{event.slug}/register?lang=ja", data=form())
    assert again.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 1
    refused = client.post(f"/registrations/{token}/cancel?lang=ja")
    assert refused.status_code == 409
    assert "事務局がお断りしたため" in refused.get_data(as_text=True)


def test_a_pending_registration_is_withdrawn_on_the_personal_page(app, client, smtp_server):
    event = approval_event()
    response = client.post(f"/events/{event.slug}/register?lang=ja", data=form())
    token = token_from(response.headers["Location"])
    confirm = client.get(f"/registrations/{token}?step=cancel&lang=ja").get_data(as_text=True)
    assert "お申込みを取り下げてもよろしいですか" in confirm
    assert client.post(f"/registrations/{token}/cancel").status_code == 303
    registration = db.session.scalar(select(Registration))
    assert fresh(Registration, registration.id).status == "cancelled"
    assert kinds(registration.id) == ["pending", "cancellation_receipt"]
    frame_row = fresh(Frame, event.frames[0].id)
    assert (frame_row.confirmed_count, frame_row.waiting_count) == (0, 0)


def test_a_pending_registration_moves_to_another_frame_still_pending(app):
    from tests.factories import make_organizer

    event = approval_event(frames=[frame("学校枠", 2, requires_approval=True), frame("見学枠", 1)])
    pending = services.register(
        event.id,
        RegistrationDetails("申込者", "もうしこみしゃ", "a@example.jp"),
        choice=FrameChoice(frame_id=event.frames[0].id),
    ).registration
    organizer = make_organizer()
    db.session.commit()
    moved = services.move_to_frame(
        pending.id, event.frames[1].id, event_id=event.id, organizer_id=organizer.id
    )
    assert (moved.status, moved.frame_id) == ("pending", event.frames[1].id)
    assert fresh(Frame, event.frames[1].id).confirmed_count == 0


# Bad input -------------------------------------------------------------------------------


@pytest.fixture
def decided(app):
    """One of each: pending, approved, declined, withdrawn (cancelled)."""
    event = approval_event(capacity=5)
    people = {
        name: apply(event, n)
        for n, name in enumerate(("pending", "approved", "declined", "withdrawn"))
    }
    services.approve_registrations(event.id, [people["approved"].id], organizer_id=None)
    services.decline_registrations(event.id, [people["declined"].id], organizer_id=None)
    services.cancel_registration(people["withdrawn"].id)
    return event, people


@pytest.mark.parametrize("decision", ["approve", "decline"])
@pytest.mark.parametrize("which", ["approved", "declined", "withdrawn"])
def test_deciding_again_or_for_a_cancelled_one_is_a_409_naming_it(
    app, logged_in_client, decided, decision, which
):
    client = logged_in_client()
    event, people = decided
    before = state(event.id)
    extra = {"confirmed": "yes"} if decision == "decline" else {}
    response = decide(client, event, decision, people["pending"], people[which], **extra)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "承認待ちではありません" in page and "何も変更していません" in page
    assert people[which].name in page and people["pending"].name + "、" not in page
    assert '<html lang="ja">' in page
    assert state(event.id) == before  # the pending one was not decided either
    if decision == "decline":  # the confirmation step refuses as well
        asked = decide(client, event, "decline", people[which])
        assert asked.status_code == 409
        assert state(event.id) == before


def test_a_decision_without_a_tick_or_with_a_forged_one_is_refused(app, logged_in_client, decided):
    client = logged_in_client()
    event, people = decided
    other = approval_event()
    stranger = apply(other, 9)
    before = state(event.id)
    nothing = decide(client, event, "approve")
    assert nothing.status_code == 400
    assert "承認待ちのお申込みを一つ以上選んでください" in nothing.get_data(as_text=True)
    assert decide(client, event, "approve", "1; drop").status_code == 400
    assert decide(client, event, "maybe", people["pending"]).status_code == 400
    assert decide(client, event, "approve", people["pending"], stranger).status_code == 404
    assert state(event.id) == before
    assert fresh(Registration, stranger.id).status == "pending"


def test_the_services_refuse_in_the_same_words(app, decided):
    event, people = decided
    with pytest.raises(services.NotPending) as refused:
        services.approve_registrations(event.id, [people["withdrawn"].id], organizer_id=None)
    assert refused.value.http_status == 409
    with pytest.raises(services.AlreadyDeclined):
        services.cancel_registration(people["declined"].id)
    with pytest.raises(services.NothingChosen):
        services.decline_registrations(event.id, [], organizer_id=None)


# My page and feeds ------------------------------------------------------------------------


def _feeds(client) -> list[tuple[bytes, str]]:
    answers = []
    for url in ("/calendar.ics", "/calendar.ics?lang=en"):
        response = client.get(url)
        assert response.status_code == 200
        answers.append((response.data, response.headers["ETag"]))
    return answers


MY_FEED = re.compile(r"http://localhost(/calendar/my/[A-Za-z0-9_-]{43}\.ics)")


def test_my_page_and_my_feed_show_the_pending_state(app, client, logged_in_client):
    person = first_person(make_member())
    event = approval_event()
    public_before = _feeds(app.test_client())
    sign_in_member(client, person)
    response = client.post(f"/events/{event.slug}/register?lang=ja", data=form())
    assert response.status_code == 303
    registration = db.session.scalar(select(Registration))
    assert registration.member_link == MemberLink.verified

    page = client.get("/members/me?lang=ja").get_data(as_text=True)
    assert "申込み受付・承認待ち" in page and "このお申込みを取り下げる" in page
    (feed,) = MY_FEED.findall(page)
    pending = client.get(feed + "?lang=ja")
    calendar = icalendar.Calendar.from_ical(pending.data)
    (entry,) = calendar.walk("VEVENT")
    assert str(entry["summary"]) == "【承認待ち】エコ教育 出前授業"

    office = logged_in_client()
    assert decide(office, event, "approve", registration).status_code == 302
    approved = client.get(feed + "?lang=ja", headers={"If-None-Match": pending.headers["ETag"]})
    assert approved.status_code == 200
    (entry,) = icalendar.Calendar.from_ical(approved.data).walk("VEVENT")
    assert str(entry["summary"]) == "エコ教育 出前授業"

    # Nothing of it reaches the public feeds.
    assert _feeds(app.test_client()) == public_before


def test_a_declined_registration_leaves_my_feed(app, client):
    person = first_person(make_member())
    event = approval_event()
    sign_in_member(client, person)
    client.post(f"/events/{event.slug}/register", data=form())
    registration = db.session.scalar(select(Registration))
    services.decline_registrations(event.id, [registration.id], organizer_id=None)
    page = client.get("/members/me?lang=ja").get_data(as_text=True)
    assert "お断り" in page
    (feed,) = MY_FEED.findall(page)
    assert icalendar.Calendar.from_ical(client.get(feed).data).walk("VEVENT") == []


def test_two_organizers_approving_at_once_decide_once(app):
    """Under the event lock: one approval wins, the other is told it was decided."""
    from tests.concurrency import run_at_once

    event = approval_event(capacity=1)
    pending = apply(event, 1)
    db.session.commit()
    event_id, registration_id = event.id, pending.id

    def approve() -> str:
        try:
            services.approve_registrations(event_id, [registration_id], organizer_id=None)
        except services.NotPending:
            return "refused"
        return "approved"

    assert sorted(run_at_once(app, 2, approve)) == ["approved", "refused"]
    db.session.rollback()  # end the read snapshot SQLite kept since the commit
    assert fresh(Registration, registration_id).status == "confirmed"
    assert fresh(Frame, event.frames[0].id).confirmed_count == 1
    assert kinds(registration_id) == ["pending", "approved"]


def test_the_console_makes_a_frame_need_approval(app, logged_in_client, client):
    office = logged_in_client()
    event = make_event(frames=[frame("一般枠", 5)])
    db.session.commit()
    url = f"/admin/events/{event.id}/frames/{event.frames[0].id}"
    page = office.get(url + "?lang=ja").get_data(as_text=True)
    assert "事務局がお申込みを一件ずつ承認する（承認制）" in page
    values = {"name_ja": "一般枠", "capacity": "5", "eligibility": "anyone"}
    assert office.post(url, data={**values, "requires_approval": "y"}).status_code == 302
    assert fresh(Frame, event.frames[0].id).requires_approval is True
    (entry,) = audit_entries("frame.update")
    assert (entry.before["requires_approval"], entry.after["requires_approval"]) == (False, True)
    listed = office.get(f"/admin/events/{event.id}/frames?lang=ja").get_data(as_text=True)
    assert "承認制" in listed
    anonymous = app.test_client()
    response = anonymous.post(f"/events/{event.slug}/register", data=form())
    assert response.status_code == 303
    assert db.session.scalar(select(Registration.status)) == "pending"
