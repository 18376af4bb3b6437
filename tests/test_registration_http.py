"""The sign-up form, the personal page and cancelling, over HTTP, with every kind of bad input."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import Event, EventStatus, OutboxMessage, Registration
from cluster_events.registration import tokens
from tests.factories import make_event

VALID = {
    "name": "横須賀 太郎",
    "name_kana": "よこすか たろう",
    "email": "taro@example.jp",
    "organization": "横須賀精機株式会社",
    "title": "代表取締役",
    "phone": "046-847-6355",
    "member_type": "corporate",
    "remarks": "駐車場はありますか。",
    "agree_privacy": "y",
}


def form(**changes) -> dict[str, str]:
    data = {**VALID, **changes}
    return {key: value for key, value in data.items() if value is not None}


def committed_event(**values) -> Event:
    event = make_event(**values)
    db.session.commit()
    return event


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def register_url(event: Event, lang: str = "ja") -> str:
    return f"/events/{event.slug}/register?lang={lang}"


def token_from(location: str) -> str:
    found = re.search(r"/registrations/([A-Za-z0-9_-]+)", location)
    assert found, location
    return found.group(1)


def test_event_page_shows_the_form_with_every_field(client):
    event = committed_event(capacity=20)
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    for name in (*VALID, "website"):
        assert f'name="{name}"' in page
    assert f'action="/events/{event.slug}/register#register"' in page
    assert 'href="/privacy"' in page
    assert re.search(r'<div class="honeypot" aria-hidden="true">', page)
    assert 'tabindex="-1"' in page
    assert "法人会員" in page and "個人会員" in page and "一般" in page
    assert "受付中" in page and "20" in page


def test_registering_redirects_to_the_personal_page(client):
    event = committed_event(capacity=20)
    response = client.post(register_url(event), data=form())
    assert response.status_code == 303
    token = token_from(response.headers["Location"])
    page = client.get(response.headers["Location"])
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "受付が完了しました" in text
    assert "横須賀精機株式会社" in text and "法人会員" in text
    assert page.headers["Cache-Control"] == "private, no-store"
    registration = tokens.registration_by_token(token)
    assert registration.status == "confirmed"
    assert registration.job_title == "代表取締役"
    assert registration.locale == "ja"
    assert registration.token_hash != token
    assert count(OutboxMessage) == 1
    assert db.session.get(Event, event.id).confirmed_count == 1


def test_full_event_puts_people_on_the_waiting_list(client):
    event = committed_event(capacity=1)
    client.post(register_url(event), data=form(email="first@example.jp"))
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert "満席" in page and "キャンセル待ちに申し込む" in page
    response = client.post(register_url(event), data=form(email="second@example.jp"))
    text = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "キャンセル待ち" in text and "1番" in text
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert "キャンセル待ちの方: 1名" in page


def test_full_width_input_is_normalised_and_kana_stored_in_hiragana(client):
    event = committed_event(capacity=20)
    response = client.post(
        register_url(event),
        data=form(
            name="　山田　　花子　",
            name_kana="ヤマダ　ハナコ",
            email="ＨＡＮＡＫＯ＠ＥＸＡＭＰＬＥ．ＪＰ",
            phone="０９０ー１２３４ー５６７８",
            organization="ｶﾌﾞｼｷｶﾞｲｼｬ　三浦",
        ),
    )
    assert response.status_code == 303
    registration = db.session.scalar(select(Registration))
    assert registration.name == "山田 花子"
    assert registration.name_kana == "やまだ はなこ"
    assert registration.email == "HANAKO@example.jp"  # as email-validator normalises it
    assert registration.email_normalized == "hanako@example.jp"
    assert registration.phone == "090-1234-5678"
    assert registration.organization == "カブシキガイシャ 三浦"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("(046) 847-6355", "(046) 847-6355"),
        ("+81 46-847-6355", "+81 46-847-6355"),
        ("０４６（８４７）６３５５", "046(847)6355"),
        ("090‐1234‐5678", "090-1234-5678"),
    ],
)
def test_phone_numbers_as_people_write_them(client, typed, stored):
    event = committed_event(capacity=20)
    assert client.post(register_url(event), data=form(phone=typed)).status_code == 303
    assert db.session.scalar(select(Registration.phone)) == stored


def test_half_width_katakana_reading_is_accepted(client):
    event = committed_event(capacity=20)
    response = client.post(register_url(event), data=form(name_kana="ﾖｺｽｶ ﾀﾛｳ"))
    assert response.status_code == 303
    assert db.session.scalar(select(Registration.name_kana)) == "よこすか たろう"


def test_empty_form_shows_every_error_beside_its_field(client):
    event = committed_event(capacity=20)
    response = client.post(register_url(event), data={})
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'class="error-summary"' in text
    for field in ("name", "name_kana", "email", "agree_privacy"):
        assert f'id="{field}-error"' in text
        assert f'href="#{field}"' in text
        tag = re.search(rf'<input[^>]*id="{field}"[^>]*>', text).group(0)
        assert 'aria-invalid="true"' in tag
        assert f"{field}-error" in re.search(r'aria-describedby="([^"]*)"', tag).group(1)
    assert "お名前を入力してください" in text
    assert count(Registration) == 0 and count(OutboxMessage) == 0


def test_errors_belong_to_the_submission_only(client):
    event = committed_event(capacity=20)
    assert client.post(register_url(event), data=form(email="x")).status_code == 400
    page = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert 'class="error-summary"' not in page
    assert 'value="x"' not in page


def test_errors_are_in_the_pages_language_and_values_are_kept(client):
    event = committed_event(capacity=20)
    response = client.post(
        register_url(event, "en"), data=form(email="not-an-address", name_kana="横須賀")
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Please enter a valid email address" in text
    # The English form takes a reading in kana or Latin letters, not in kanji.
    assert "Please write the reading in kana or in Latin letters." in text
    assert 'value="not-an-address"' in text
    assert 'value="横須賀精機株式会社"' in text
    assert "駐車場はありますか。</textarea>" in text
    assert re.search(r'id="member_type-0"[^>]*checked|checked[^>]*id="member_type-0"', text)
    assert count(Registration) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "あ" * 101),
        ("name_kana", "あ" * 101),
        ("email", "a" * 250 + "@example.jp"),
        ("organization", "会" * 201),
        ("title", "役" * 101),
        ("phone", "0" * 31),
        ("remarks", "x" * 2001),
    ],
)
def test_overlong_fields_are_refused(client, field, value):
    event = committed_event(capacity=20)
    response = client.post(register_url(event, "en"), data=form(**{field: value}))
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert f'id="{field}-error"' in text
    assert "Please keep this within" in text or "valid email" in text
    assert count(Registration) == 0


def test_a_huge_submission_is_refused_in_the_layout(client):
    event = committed_event(capacity=20)
    response = client.post(register_url(event), data=form(remarks="あ" * 300_000))
    assert response.status_code in (400, 413)
    assert 'class="site-header"' in response.get_data(as_text=True)
    assert count(Registration) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "taro@"),
        ("email", "taro example.jp"),
        ("email", "たろう@example.jp"),
        ("email", "taro@example..jp"),
        ("phone", "call me"),
        ("member_type", "vip"),
        ("name_kana", "yokosuka"),
        ("agree_privacy", None),
        ("name", "　　"),
    ],
)
def test_malformed_fields_are_refused(client, field, value):
    event = committed_event(capacity=20)
    response = client.post(register_url(event), data=form(**{field: value}))
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert count(Registration) == 0


def test_script_is_stored_as_text_and_shown_escaped(client):
    event = committed_event(capacity=20)
    script = '<script>alert("x")</script>'
    response = client.post(
        register_url(event), data=form(name=script, organization=script, remarks=script)
    )
    assert response.status_code == 303
    assert db.session.scalar(select(Registration.name)) == script
    text = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
    invalid = client.post(register_url(event), data=form(name=script, email="x"))
    assert "<script>alert" not in invalid.get_data(as_text=True)


def test_honeypot_pretends_success_and_stores_nothing(client):
    event = committed_event(capacity=20)
    response = client.post(register_url(event), data=form(website="http://spam.example"))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/events/{event.slug}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "お申込みを受け付けました" in page
    assert count(Registration) == 0 and count(OutboxMessage) == 0


@pytest.mark.parametrize(
    ("values", "status", "message"),
    [
        ({"status": EventStatus.draft}, 404, "ページが見つかりません"),
        # Only a signed-in member may (tests/test_member_registration.py).
        ({"is_members_only": True}, 403, "この催しは会員限定です"),
        ({"status": EventStatus.cancelled}, 409, "この催しは中止になりました"),
        ({"starts_at": utcnow() - timedelta(days=1)}, 409, "受付は終了しました"),
        ({"registration_closes_at": utcnow() - timedelta(hours=1)}, 409, "受付は終了しました"),
        ({"registration_opens_at": utcnow() + timedelta(days=3)}, 409, "まだ始まっていません"),
        ({"accepts_registrations": False}, 409, "このサイトでは"),
    ],
)
def test_registration_refused_for_events_that_do_not_take_it(client, values, status, message):
    event = committed_event(capacity=20, **values)
    response = client.post(register_url(event), data=form())
    text = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in text
    assert 'class="site-header"' in text
    assert count(Registration) == 0 and count(OutboxMessage) == 0


def test_unknown_event_is_404(client):
    response = client.post("/events/no-such-event/register", data=form())
    assert response.status_code == 404
    assert 'class="site-header"' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ({"status": EventStatus.cancelled}, "中止"),
        ({"registration_closes_at": utcnow() - timedelta(hours=1)}, "受付は終了しました"),
        ({"registration_opens_at": utcnow() + timedelta(days=3)}, "お申込みの受付は"),
        ({"accepts_registrations": False}, "このサイトでは"),
    ],
)
def test_event_page_says_why_there_is_no_form(client, values, shown):
    event = committed_event(capacity=20, **values)
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert shown in page
    assert 'name="name_kana"' not in page


def test_same_address_twice_from_the_same_browser_shows_the_first(client):
    event = committed_event(capacity=20)
    first = client.post(register_url(event), data=form())
    second = client.post(register_url(event), data=form(email="TARO@example.jp", name="別人"))
    assert second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    text = client.get(second.headers["Location"]).get_data(as_text=True)
    assert "すでにお申込みいただいています" in text
    assert count(Registration) == 1 and count(OutboxMessage) == 1


def test_same_address_from_another_browser_reveals_nothing(app, client):
    event = committed_event(capacity=20)
    client.post(register_url(event), data=form(phone="090-1111-2222"))
    stranger = app.test_client()
    response = stranger.post(register_url(event), data=form(name="なりすまし"))
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "メールをご確認ください" in text and 'class="site-header"' in text
    assert "090-1111-2222" not in text and "/registrations/" not in text
    assert "横須賀 太郎" not in text and "なりすまし" not in text
    # The link goes to the address's owner, never to the page.
    assert count(Registration) == 1 and count(OutboxMessage) == 2


def test_personal_page_with_wrong_token_is_a_polite_404(client):
    for token in ("A" * 43, "short", "A" * 200):
        response = client.get(f"/registrations/{token}?lang=ja")
        assert response.status_code == 404
        assert "ページが見つかりません" in response.get_data(as_text=True)


def test_cancel_with_a_forged_token_is_404_and_changes_nothing(client):
    event = committed_event(capacity=20)
    location = client.post(register_url(event), data=form()).headers["Location"]
    token = token_from(location)
    forged = ("B" if token[0] == "A" else "A") + token[1:]
    response = client.post(f"/registrations/{forged}/cancel")
    assert response.status_code == 404
    assert db.session.scalar(select(Registration.status)) == "confirmed"


def test_cancel_is_post_only(client):
    event = committed_event(capacity=20)
    location = client.post(register_url(event), data=form()).headers["Location"]
    response = client.get(f"/registrations/{token_from(location)}/cancel")
    assert response.status_code == 405
    assert db.session.scalar(select(Registration.status)) == "confirmed"


def test_cancel_with_confirmation_step_promotes_the_first_waiting(app, client):
    event = committed_event(capacity=1)
    location = client.post(register_url(event), data=form()).headers["Location"]
    other = app.test_client()
    waiting_location = other.post(
        register_url(event), data=form(email="hanako@example.jp")
    ).headers["Location"]
    token = token_from(location)

    page = client.get(location).get_data(as_text=True)
    assert f'href="/registrations/{token}?step=cancel#cancel"' in page
    assert f'action="/registrations/{token}/cancel"' not in page
    confirm = client.get(f"{location}?step=cancel").get_data(as_text=True)
    assert f'action="/registrations/{token}/cancel"' in confirm

    response = client.post(f"/registrations/{token}/cancel?lang=ja")
    assert response.status_code == 303
    text = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "キャンセルしました" in text
    assert f"/registrations/{token}/cancel" not in text

    promoted = tokens.registration_by_token(token_from(waiting_location))
    assert promoted.status == "confirmed" and promoted.waiting_position is None
    kinds = db.session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
    assert kinds == ["confirmation", "waitlisted", "cancellation_receipt", "promoted"]

    again = client.post(f"/registrations/{token}/cancel?lang=ja")
    assert again.status_code == 409
    assert "すでにキャンセルされています" in again.get_data(as_text=True)
    assert count(OutboxMessage) == 4


def test_waiting_person_leaves_the_list_with_the_same_link(app, client):
    event = committed_event(capacity=1)
    app.test_client().post(register_url(event), data=form(email="first@example.jp"))
    location = client.post(register_url(event), data=form()).headers["Location"]
    page = client.get(location).get_data(as_text=True)
    assert "キャンセル待ちをやめる" in page
    response = client.post(f"/registrations/{token_from(location)}/cancel")
    assert response.status_code == 303
    event = db.session.get(Event, event.id)
    assert (event.confirmed_count, event.waiting_count) == (1, 0)


def test_no_cancelling_online_once_the_event_has_started(client):
    event = committed_event(capacity=5)
    location = client.post(register_url(event), data=form()).headers["Location"]
    event = db.session.get(Event, event.id)
    event.starts_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    page = client.get(location).get_data(as_text=True)
    assert "step=cancel" not in page
    response = client.post(f"/registrations/{token_from(location)}/cancel?lang=ja")
    assert response.status_code == 409
    assert "お申込みを取り消せませんでした" in response.get_data(as_text=True)
    assert db.session.scalar(select(Registration.status)) == "confirmed"


def test_english_registration_is_remembered_for_emails(client):
    event = committed_event(capacity=5)
    response = client.post(register_url(event, "en"), data=form())
    text = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your registration is complete" in text
    assert db.session.scalar(select(Registration.locale)) == "en"


class TestWithCsrf:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    def test_missing_token_is_refused_in_the_layout(self, client):
        event = committed_event(capacity=5)
        response = client.post(register_url(event), data=form())
        text = response.get_data(as_text=True)
        assert response.status_code == 400
        assert "読み込み直して" in text and 'class="site-header"' in text
        assert count(Registration) == 0

    def test_stale_token_is_refused(self, app, client):
        event = committed_event(capacity=5)
        page = app.test_client().get(f"/events/{event.slug}").get_data(as_text=True)
        foreign = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = client.post(register_url(event), data=form(csrf_token=foreign))
        assert response.status_code == 400
        assert count(Registration) == 0

    def test_token_from_the_page_works(self, client):
        event = committed_event(capacity=5)
        page = client.get(f"/events/{event.slug}").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = client.post(register_url(event), data=form(csrf_token=token))
        assert response.status_code == 303
        location = response.headers["Location"]
        cancel_page = client.get(f"{location}?step=cancel").get_data(as_text=True)
        cancel_token = re.search(r'name="csrf_token" value="([^"]+)"', cancel_page).group(1)
        path = f"/registrations/{token_from(location)}/cancel"
        assert client.post(path).status_code == 400
        assert client.post(path, data={"csrf_token": cancel_token}).status_code == 303
