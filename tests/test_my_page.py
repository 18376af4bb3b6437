"""My page (/members/me): the member's registrations with their status, cancelling one
with the personal link's rules, the details read only, the private feeds' links, and
the headers of a page that holds secrets."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.models import (
    EventStatus,
    MemberKind,
    MemberLink,
    MemberPerson,
    Registration,
    RegistrationStatus,
)
from tests.conftest import sending_to
from tests.factories import make_event, make_registration
from tests.members import first_person, make_member, sign_in_member

FEED_URL = re.compile(r"http://localhost/calendar/(members|my)/([A-Za-z0-9_-]{43})\.ics")


def _main(html: str) -> str:
    """The page's own content, without the site header."""
    return html.split("<main", 1)[1].split("</main>", 1)[0]


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {**app_config, **sending_to(smtp_server)}


def _person(**values: Any) -> MemberPerson:
    return first_person(make_member(**values))


def _mine(event, person: MemberPerson, **values: Any) -> Registration:
    values.setdefault("email", person.email)
    return make_registration(
        event, member_person_id=person.id, member_link=MemberLink.verified, **values
    )


def _signed_in(client, person: MemberPerson):
    db.session.commit()
    sign_in_member(client, person)
    return client


def _sections(html: str) -> tuple[str, str, str]:
    """The upcoming list, the past list, and the rest of the page."""
    upcoming_start = html.index('id="upcoming"')
    past_start = html.index('id="past"')
    details_start = html.index('id="details"')
    return html[upcoming_start:past_start], html[past_start:details_start], html[details_start:]


def _reloaded(registration_id: int) -> Registration:
    db.session.expire_all()
    return db.session.get(Registration, registration_id)


def test_anonymous_visitors_are_sent_to_sign_in(app, client):
    person = _person()
    event = make_event()
    registration = _mine(event, person)
    db.session.commit()
    for method, path in [
        ("GET", "/members/me"),
        ("GET", f"/members/me/registrations/{registration.id}/cancel"),
        ("POST", f"/members/me/registrations/{registration.id}/cancel"),
        ("GET", "/members/me/feeds/my/renew"),
        ("POST", "/members/me/feeds/members/renew"),
    ]:
        response = client.open(path, method=method)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/members/login?next="), path
        assert response.headers["Cache-Control"] == "private, no-store"
    assert _reloaded(registration.id).status == RegistrationStatus.confirmed
    assert db.session.get(MemberPerson, person.id).my_feed_salt is None


def test_my_page_lists_upcoming_and_past_registrations_with_their_status(app, client):
    person = _person()
    other = _person(name="逗子 太郎", name_kana="ずし たろう")
    now = utcnow()
    full = make_event(title="経営研究・懇談会", capacity=1)
    make_registration(full)  # someone else holds the seat
    make_registration(full, status=RegistrationStatus.waiting)
    _mine(full, person, status=RegistrationStatus.waiting)  # number 2
    confirmed = make_event(title="ISO 9001 認証取得セミナー", starts_at=now + timedelta(days=3))
    _mine(confirmed, person)
    members_only = make_event(title="個人会員交流会", is_members_only=True)
    _mine(members_only, person)
    dropped = make_event(title="省エネ・環境経営セミナー")
    _mine(dropped, person, status=RegistrationStatus.cancelled, cancelled_at=now)
    called_off = make_event(title="工場見学会", status=EventStatus.cancelled)
    _mine(called_off, person)
    past = make_event(title="新年賀詞交歓会", starts_at=now - timedelta(days=30))
    _mine(past, person)
    draft = make_event(title="準備中の催し", status=EventStatus.draft)
    _mine(draft, person)
    others = make_event(title="他の人の催し")
    _mine(others, other)
    client = _signed_in(client, person)

    response = client.get("/members/me")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    upcoming, past_list, _rest = _sections(html)
    for title in ("経営研究・懇談会", "ISO 9001 認証取得セミナー", "個人会員交流会"):
        assert title in upcoming
    assert "省エネ・環境経営セミナー" in upcoming and "キャンセル済み" in upcoming
    assert "【中止】工場見学会" in upcoming
    assert "キャンセル待ち（2番目）" in upcoming
    assert "申込み済み" in upcoming
    assert "会員限定" in upcoming
    # The soonest first; links to the event pages.
    assert upcoming.index("ISO 9001") < upcoming.index("経営研究・懇談会")
    assert f'href="/events/{confirmed.slug}"' in upcoming
    assert "新年賀詞交歓会" in past_list and "新年賀詞交歓会" not in upcoming
    assert "準備中の催し" not in html
    assert "他の人の催し" not in html
    # A cancel action for each upcoming active registration, none for the cancelled one
    # or the past one.
    cancel_links = re.findall(r"/members/me/registrations/(\d+)/cancel", html)
    mine = {
        r.event_id: r.id
        for r in db.session.scalars(
            select(Registration).where(Registration.member_person_id == person.id)
        )
    }
    assert set(map(int, cancel_links)) == {
        mine[full.id],
        mine[confirmed.id],
        mine[members_only.id],
        mine[called_off.id],
    }
    assert "キャンセル待ちをやめる" in upcoming


def test_an_empty_my_page_says_so(app, client):
    client = _signed_in(client, _person())
    html = client.get("/members/me").get_data(as_text=True)
    assert "これからの催しのお申込みはありません。" in html
    assert "過去の催しのお申込みはありません。" in html


def test_details_are_read_only_with_the_office_to_contact(app, client):
    member = make_member(
        kind=MemberKind.corporate,
        name="株式会社テスト工業",
        name_kana="てすとこうぎょう",
        number="C-0042",
        people=[
            {
                "name": "久里浜 一郎",
                "name_kana": "くりはま いちろう",
                "email": "ichiro@example.org",
                "phone": "046-000-0000",
                "department": "総務部",
                "title": "部長",
            }
        ],
    )
    client = _signed_in(client, first_person(member))
    html = client.get("/members/me").get_data(as_text=True)
    _, _, details = _sections(html)
    for value in (
        "C-0042",
        "法人会員",
        "株式会社テスト工業",
        "久里浜 一郎",
        "くりはま いちろう",
        "ichiro@example.org",
        "046-000-0000",
        "総務部",
        "部長",
        "変更はお手数ですが事務局までご連絡ください。",
        app.config["SITE_CONTACT_EMAIL"],
        app.config["SITE_CONTACT_PHONE"],
    ):
        assert value in details, value
    # Nothing to edit: no form at all, and the only inputs are the read-only feed URLs.
    main = _main(html)  # the header holds the sign-out form
    assert "<form" not in main
    inputs = re.findall(r"<input[^>]*>", main)
    assert len(inputs) == 2 and all("readonly" in tag for tag in inputs)


def test_my_page_headers_keep_the_secrets_private(app, client):
    client = _signed_in(client, _person())
    response = client.get("/members/me")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["X-Robots-Tag"] == "noindex"
    # Its error pages too: another person's registration.
    missing = client.get("/members/me/registrations/999999/cancel")
    assert missing.status_code == 404
    assert missing.headers["Referrer-Policy"] == "no-referrer"
    assert missing.headers["Cache-Control"] == "private, no-store"


def test_feeds_are_made_on_the_first_visit_and_shown_again_the_same(app, client):
    person = _person()
    client = _signed_in(client, person)
    assert person.members_feed_salt is None and person.my_feed_salt is None

    html = client.get("/members/me").get_data(as_text=True)
    found = dict(FEED_URL.findall(html))
    assert set(found) == {"members", "my"}
    assert found["members"] != found["my"]
    for kind, token in found.items():
        assert f"webcal://localhost/calendar/{kind}/{token}.ics" in html
    assert html.count('class="qr-code"') == 2
    stored = db.session.get(MemberPerson, person.id)
    db.session.refresh(stored)
    # Only the hashes are kept, never the tokens.
    assert stored.members_feed_salt and stored.my_feed_salt
    assert found["members"] not in str(vars(stored).values())

    again = client.get("/members/me").get_data(as_text=True)
    assert dict(FEED_URL.findall(again)) == found

    english = client.get("/members/me?lang=en").get_data(as_text=True)
    assert f"/calendar/my/{found['my']}.ics?lang=en" in english
    assert "My page" in english


def test_cancelling_asks_first_then_cancels_and_promotes_the_next_person(app, client, smtp_server):
    person = _person()
    event = make_event(title="経営研究・懇談会", capacity=1)
    registration = _mine(event, person)
    waiting = make_registration(event, status=RegistrationStatus.waiting)
    client = _signed_in(client, person)
    url = f"/members/me/registrations/{registration.id}/cancel"

    confirm = client.get(url)
    assert confirm.status_code == 200
    page = confirm.get_data(as_text=True)
    assert "お申込みを取り消してもよろしいですか" in page
    assert f'action="{url}"' in page
    assert _reloaded(registration.id).status == RegistrationStatus.confirmed

    done = client.post(url)
    assert done.status_code == 303
    assert done.headers["Location"] == "/members/me#upcoming"
    assert _reloaded(registration.id).status == RegistrationStatus.cancelled
    promoted = _reloaded(waiting.id)
    assert promoted.status == RegistrationStatus.confirmed
    assert promoted.waiting_position is None
    assert db.session.get(type(event), event.id).confirmed_count == 1

    after = client.get("/members/me").get_data(as_text=True)
    assert "お申込みをキャンセルしました" in after
    upcoming, _, _ = _sections(after)
    assert "キャンセル済み" in upcoming
    assert url not in after

    report = outbox.deliver_due()
    assert report.failed == 0
    recipients = sorted(message["To"] for message in smtp_server.messages())
    assert recipients == sorted([person.email, waiting.email])


def test_leaving_the_waiting_list_closes_up_the_positions(app, client):
    person = _person()
    event = make_event(capacity=1)
    make_registration(event)
    mine = _mine(event, person, status=RegistrationStatus.waiting)
    behind = make_registration(event, status=RegistrationStatus.waiting)
    client = _signed_in(client, person)
    url = f"/members/me/registrations/{mine.id}/cancel"
    assert "キャンセル待ちをやめてもよろしいですか" in client.get(url).get_data(as_text=True)
    assert client.post(url).status_code == 303
    assert _reloaded(mine.id).status == RegistrationStatus.cancelled
    assert _reloaded(behind.id).waiting_position == 1


def test_another_persons_registration_is_not_found(app, client):
    person = _person()
    other = _person(name="逗子 太郎", name_kana="ずし たろう")
    event = make_event()
    theirs = _mine(event, other)
    unlinked = make_registration(event)  # nobody's
    client = _signed_in(client, person)
    for registration in (theirs, unlinked):
        url = f"/members/me/registrations/{registration.id}/cancel"
        assert client.get(url).status_code == 404
        refused = client.post(url)
        assert refused.status_code == 404
        assert '<header class="site-header">' in refused.get_data(as_text=True)
        assert _reloaded(registration.id).status == RegistrationStatus.confirmed
    for path in (
        "/members/me/registrations/0/cancel",
        "/members/me/registrations/2147483648/cancel",
        f"/members/me/registrations/{2**64 + 1}/cancel",
        "/members/me/registrations/-1/cancel",
        "/members/me/registrations/abc/cancel",
        "/members/me/feeds/other/renew",
    ):
        assert client.get(path).status_code == 404, path
        assert client.post(path).status_code == 404, path


def test_a_started_event_cannot_be_cancelled_here(app, client):
    person = _person()
    now = utcnow()
    under_way = make_event(
        title="開催中のセミナー",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
    )
    registration = _mine(under_way, person)
    client = _signed_in(client, person)

    upcoming, _, _ = _sections(client.get("/members/me").get_data(as_text=True))
    assert "開催中のセミナー" in upcoming
    assert f"/members/me/registrations/{registration.id}/cancel" not in upcoming
    assert "事務局までご連絡ください" in upcoming

    url = f"/members/me/registrations/{registration.id}/cancel"
    shown = client.get(url)
    assert shown.status_code == 409
    assert "<form" not in _main(shown.get_data(as_text=True))
    refused = client.post(url)
    assert refused.status_code == 409
    assert "すでに始まっている" in refused.get_data(as_text=True)
    assert _reloaded(registration.id).status == RegistrationStatus.confirmed


def test_cancelling_twice_is_a_conflict(app, client):
    person = _person()
    registration = _mine(make_event(), person)
    client = _signed_in(client, person)
    url = f"/members/me/registrations/{registration.id}/cancel"
    assert client.post(url).status_code == 303
    again = client.post(url)
    assert again.status_code == 409
    assert "すでにキャンセルされています" in again.get_data(as_text=True)
    assert client.get(url).status_code == 409


def test_posts_without_a_csrf_token_are_refused(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    person = _person()
    registration = _mine(make_event(), person)
    client = _signed_in(client, person)
    client.get("/members/me")
    salt = db.session.get(MemberPerson, person.id).my_feed_salt
    assert client.post(f"/members/me/registrations/{registration.id}/cancel").status_code == 400
    assert client.post("/members/me/feeds/my/renew").status_code == 400
    assert _reloaded(registration.id).status == RegistrationStatus.confirmed
    db.session.expire_all()
    assert db.session.get(MemberPerson, person.id).my_feed_salt == salt

    # With the token from the confirmation page the same request goes through.
    page = client.get(f"/members/me/registrations/{registration.id}/cancel")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))[1]
    done = client.post(
        f"/members/me/registrations/{registration.id}/cancel", data={"csrf_token": token}
    )
    assert done.status_code == 303


def test_renewing_asks_first_and_says_the_old_address_stops_working(app, client):
    person = _person()
    client = _signed_in(client, person)
    before = dict(FEED_URL.findall(client.get("/members/me").get_data(as_text=True)))

    confirm = client.get("/members/me/feeds/my/renew")
    assert confirm.status_code == 200
    text = confirm.get_data(as_text=True)
    assert "今のURLはすぐに使えなくなります" in text
    assert 'action="/members/me/feeds/my/renew"' in text
    assert "URLを作り直す" in text
    assert confirm.headers["Cache-Control"] == "private, no-store"

    done = client.post("/members/me/feeds/my/renew")
    assert done.status_code == 303
    assert done.headers["Location"] == "/members/me#feed-my"
    after_page = client.get("/members/me").get_data(as_text=True)
    after = dict(FEED_URL.findall(after_page))
    assert after["my"] != before["my"]
    assert after["members"] == before["members"]
    assert "新しいURL" in after_page
