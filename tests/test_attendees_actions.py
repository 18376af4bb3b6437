"""Organizer actions on one registration: add by hand, cancel, promote, correct, note.
Each one is checked in the database and in the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cluster_events.extensions import db
from cluster_events.models import OutboxMessage, Registration, RegistrationStatus
from tests.factories import make_event, make_registration, set_capacity
from tests.records import audit_entries

FORM = {
    "name": "山田　太郎",  # ideographic space, as people type it
    "name_kana": "ヤマダ タロウ",
    "email": "ＴＡＲＯ＠example.org",
    "organization": "株式会社　三浦製作所",
    "job_title": "代表取締役",
    "phone": "０４６－８４７－６３５５",
    "member_type": "corporate",
    "remarks": "FAXで申込み",
    "locale": "ja",
}


def _outbox_count(registration_id: int | None = None) -> int:
    statement = select(func.count()).select_from(OutboxMessage)
    if registration_id is not None:
        statement = statement.where(OutboxMessage.registration_id == registration_id)
    return db.session.scalar(statement)


@pytest.mark.parametrize("send", [True, False])
def test_add_by_hand_normalises_and_chooses_the_email(app, logged_in_client, send):
    client = logged_in_client()
    event = make_event(capacity=10)
    db.session.commit()
    form = {**FORM, **({"send_confirmation": "y"} if send else {})}
    response = client.post(f"/admin/events/{event.id}/attendees/new", data=form)
    assert response.status_code == 302
    registration = db.session.scalar(select(Registration))
    assert response.headers["Location"].endswith(
        f"/admin/events/{event.id}/attendees/{registration.id}"
    )
    assert registration.name == "山田 太郎"
    assert registration.name_kana == "やまだ たろう"
    assert registration.email == "TARO@example.org"
    assert registration.email_normalized == "taro@example.org"
    assert registration.phone == "046-847-6355"
    assert registration.source == "organizer"
    assert registration.status == RegistrationStatus.confirmed
    assert _outbox_count(registration.id) == (1 if send else 0)
    [entry] = audit_entries("registration.add")
    assert entry.organizer_id == client.organizer.id
    assert entry.target_id == registration.id
    assert entry.event_id == event.id
    assert entry.after["email"] == "TARO@example.org"
    assert entry.after["notify"] is send


def test_add_by_hand_when_full_joins_waiting_list(app, logged_in_client):
    client = logged_in_client()
    event = make_event(capacity=1)
    make_registration(event)
    db.session.commit()
    response = client.post(
        f"/admin/events/{event.id}/attendees/new", data=FORM, follow_redirects=True
    )
    assert response.status_code == 200
    registration = db.session.scalar(select(Registration).where(Registration.source == "organizer"))
    assert registration.status == RegistrationStatus.waiting
    assert registration.waiting_position == 1
    db.session.refresh(event)
    assert (event.confirmed_count, event.waiting_count) == (1, 1)


def test_add_by_hand_twice_does_not_duplicate(app, logged_in_client):
    client = logged_in_client()
    event = make_event(capacity=10)
    db.session.commit()
    client.post(f"/admin/events/{event.id}/attendees/new", data=FORM)
    response = client.post(
        f"/admin/events/{event.id}/attendees/new", data=FORM, follow_redirects=True
    )
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 1
    assert "すでに申込み済みです" in response.get_data(as_text=True)
    assert len(audit_entries("registration.add")) == 1


def test_add_by_hand_with_bad_input_shows_the_form_again(app, logged_in_client):
    client = logged_in_client()
    event = make_event()
    db.session.commit()
    response = client.post(
        f"/admin/events/{event.id}/attendees/new",
        data={**FORM, "email": "not an address", "name_kana": "山田"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'aria-describedby="email-error"' in html
    assert 'aria-describedby="name_kana-hint name_kana-error"' in html
    assert 'value="山田 太郎"' in html  # what was typed is kept
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 0


def test_add_to_cancelled_event_is_refused_with_a_message(app, logged_in_client):
    client = logged_in_client()
    event = make_event(status="cancelled")
    db.session.commit()
    response = client.post(
        f"/admin/events/{event.id}/attendees/new", data=FORM, follow_redirects=True
    )
    assert response.status_code == 200
    assert "flash--error" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 0


def test_cancel_promotes_the_first_waiting_person_and_is_audited(app, logged_in_client):
    client = logged_in_client()
    event = make_event(capacity=1)
    seated = make_registration(event)
    first = make_registration(event, status=RegistrationStatus.waiting)
    second = make_registration(event, status=RegistrationStatus.waiting)
    db.session.commit()
    url = f"/admin/events/{event.id}/attendees/{seated.id}/cancel"
    confirm_page = client.get(url)
    assert confirm_page.status_code == 200
    assert seated.name in confirm_page.get_data(as_text=True)
    assert client.post(url, data={"notify": "yes"}).status_code == 302
    db.session.expire_all()
    assert seated.status == RegistrationStatus.cancelled
    assert first.status == RegistrationStatus.confirmed
    assert (second.status, second.waiting_position) == (RegistrationStatus.waiting, 1)
    assert (event.confirmed_count, event.waiting_count) == (1, 1)
    [entry] = audit_entries("registration.cancel")
    assert entry.organizer_id == client.organizer.id
    assert entry.before == {"status": "confirmed"}
    assert entry.after == {"status": "cancelled"}
    assert _outbox_count(seated.id) == 1  # cancellation receipt
    assert _outbox_count(first.id) == 1  # promotion notice


def test_cancel_without_email_still_tells_the_person_who_moves_up(app, logged_in_client):
    client = logged_in_client()
    event = make_event(capacity=1)
    seated = make_registration(event)
    first = make_registration(event, status=RegistrationStatus.waiting)
    second = make_registration(event, status=RegistrationStatus.waiting)
    db.session.commit()
    url = f"/admin/events/{event.id}/attendees/{seated.id}/cancel"
    assert client.post(url, data={"notify": "no"}).status_code == 302
    db.session.expire_all()
    assert first.status == RegistrationStatus.confirmed
    assert _outbox_count(seated.id) == 0  # no receipt: the office told them by phone
    notices = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.registration_id == first.id)
    ).all()
    assert [n.kind for n in notices] == ["promoted"]
    assert _outbox_count(second.id) == 0


def test_cancel_twice_says_so(app, logged_in_client):
    client = logged_in_client()
    event = make_event()
    registration = make_registration(event, status=RegistrationStatus.cancelled)
    db.session.commit()
    response = client.post(
        f"/admin/events/{event.id}/attendees/{registration.id}/cancel",
        data={"notify": "no"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "flash--error" in response.get_data(as_text=True)


def test_promote_by_hand(app, logged_in_client):
    client = logged_in_client()
    event = make_event(capacity=1)
    make_registration(event, status=RegistrationStatus.waiting)  # placed before capacity rose
    second = make_registration(event, status=RegistrationStatus.waiting)
    set_capacity(event, 2)
    db.session.commit()
    url = f"/admin/events/{event.id}/attendees/{second.id}/promote"
    assert client.post(url, data={"notify": "yes"}).status_code == 302
    db.session.expire_all()
    assert second.status == RegistrationStatus.confirmed
    assert (event.confirmed_count, event.waiting_count) == (1, 1)
    [entry] = audit_entries("registration.promote")
    assert entry.before["waiting_position"] == 2


def test_promote_without_a_free_seat_is_refused(app, logged_in_client):
    client = logged_in_client()
    event = make_event(capacity=1)
    make_registration(event)
    waiting = make_registration(event, status=RegistrationStatus.waiting)
    db.session.commit()
    response = client.post(
        f"/admin/events/{event.id}/attendees/{waiting.id}/promote", follow_redirects=True
    )
    assert "flash--error" in response.get_data(as_text=True)
    db.session.expire_all()
    assert waiting.status == RegistrationStatus.waiting
    assert audit_entries("registration.promote") == []


def test_edit_contact_details_records_before_and_after(app, logged_in_client):
    client = logged_in_client()
    event = make_event()
    registration = make_registration(
        event, name="山田 太郎", name_kana="やまだ たろう", email="old@example.org"
    )
    db.session.commit()
    response = client.post(
        f"/admin/events/{event.id}/attendees/{registration.id}/contact",
        data={**FORM, "email": "New@Example.org", "organization": ""},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert registration.email == "New@example.org"  # as email-validator normalises it
    assert registration.email_normalized == "new@example.org"
    [entry] = audit_entries("registration.edit")
    assert entry.before["email"] == "old@example.org"
    assert entry.after["email"] == "New@example.org"
    assert "name" not in entry.after  # unchanged fields are not listed


def test_edit_to_an_address_already_registered_is_refused(app, logged_in_client):
    client = logged_in_client()
    event = make_event()
    make_registration(event, email="taken@example.org")
    registration = make_registration(event, email="mine@example.org")
    db.session.commit()
    response = client.post(
        f"/admin/events/{event.id}/attendees/{registration.id}/contact",
        data={**FORM, "email": "TAKEN@example.org"},
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "別の申込みで使われています" in html
    assert 'value="TAKEN@example.org"' in html
    db.session.expire_all()
    assert registration.email == "mine@example.org"
    assert audit_entries("registration.edit") == []


def test_private_note_is_saved_audited_and_not_on_the_personal_page(app, logged_in_client):
    client = logged_in_client()
    event = make_event()
    registration = make_registration(event)
    db.session.commit()
    note = "車椅子でご来場。入口近くの席を用意。"
    response = client.post(
        f"/admin/events/{event.id}/attendees/{registration.id}/note",
        data={"organizer_note": note},
        follow_redirects=True,
    )
    assert note in response.get_data(as_text=True)
    db.session.expire_all()
    assert registration.organizer_note == note
    [entry] = audit_entries("registration.note")
    assert entry.after == {"organizer_note": note}
    from cluster_events.registration.tokens import personal_token

    personal_page = app.test_client().get(f"/registrations/{personal_token(registration)}")
    assert note not in personal_page.get_data(as_text=True)


class TestEndedSessionKeepsWhatWasTyped:
    """A phone sign-up typed while the session ran out is shown again after logging in."""

    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    def test_add_form_survives_a_lost_session(self, app, client):
        import re

        from tests.factories import ORGANIZER_PASSWORD, make_organizer

        event = make_event()
        make_organizer(email="e@example.org")
        db.session.commit()
        url = f"/admin/events/{event.id}/attendees/new"
        response = client.post(url, data={**FORM, "csrf_token": "stale"})
        assert response.status_code == 401
        page = response.get_data(as_text=True)
        login_token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
        resume = dict(re.findall(r'name="(resume:[^"]+)" value="([^"]*)"', page))
        response = client.post(
            "/login",
            data={
                "csrf_token": login_token,
                "email": "e@example.org",
                "password": ORGANIZER_PASSWORD,
                "next": url,
                **resume,
            },
        )
        page = response.get_data(as_text=True)
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
        assert fields["_resume"] == "1"

        response = client.post(url, data=fields)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert 'value="山田　太郎"' in page or 'value="山田 太郎"' in page
        assert 'value="046-847-6355"' in page or 'value="０４６－８４７－６３５５"' in page
        assert "まだ保存していません" in page or "not saved yet" in page
        assert db.session.scalar(select(func.count()).select_from(Registration)) == 0
