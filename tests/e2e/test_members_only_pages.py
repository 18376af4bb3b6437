"""Members-only events in a real browser: the page anyone else gets, and a signed-in
member's filled-in form sent as it is, on a 360px phone screen, with axe-core."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from cluster_events.extensions import db
from cluster_events.members.sessions import SESSION_KEY
from cluster_events.models import MemberKind, MemberLink, Registration
from tests.e2e.test_registration_pages import PHONE, blocking_violations, sideways_overflow
from tests.factories import make_event
from tests.members import first_person, make_member

pytestmark = pytest.mark.browser


@pytest.fixture
def meetup(app) -> Any:
    event = make_event(slug="members-meetup", title="個人会員交流会", is_members_only=True)
    db.session.commit()
    return event


def sign_in_browser(live_server, page: Page, person) -> None:
    """The browser carries a member session, as after following a sign-in link."""
    app = live_server.app
    value = app.session_interface.get_signing_serializer(app).dumps(
        {SESSION_KEY: f"{person.id}:{person.session_generation}"}
    )
    page.context.add_cookies(
        [{"name": app.config["SESSION_COOKIE_NAME"], "value": value, "url": live_server.url}]
    )


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_members_only_page_for_anyone_else(
    live_server, meetup, page: Page, lang, artifacts_dir: Path
):
    page.set_viewport_size(PHONE)
    response = page.goto(live_server(f"/events/members-meetup?lang={lang}"))
    assert response.status == 403
    expect(page.locator("h1")).to_have_text(
        "この催しは会員限定です" if lang == "ja" else "This event is for members only"
    )
    assert "個人会員交流会" not in page.content()
    page.screenshot(path=artifacts_dir / f"members-only-{lang}-360.png", full_page=True)
    assert sideways_overflow(page) <= 0
    assert blocking_violations(page) == []


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_member_registers_with_the_form_filled_in(
    live_server, meetup, page: Page, lang, artifacts_dir: Path
):
    member = make_member(
        kind=MemberKind.corporate,
        name="青木工業株式会社",
        name_kana="あおきこうぎょう",
        people=[
            {
                "name": "青木 一郎",
                "name_kana": "あおき いちろう",
                "email": f"aoki-{lang}@example.org",
                "title": "営業部長",
                "phone": "046-800-1234",
            }
        ],
    )
    page.set_viewport_size(PHONE)
    sign_in_browser(live_server, page, first_person(member))
    page.goto(live_server(f"/events/members-meetup?lang={lang}"))
    form = page.locator("form.registration-form")
    expect(form.locator("#name")).to_have_value("青木 一郎")
    expect(form.locator("#email")).to_have_value(f"aoki-{lang}@example.org")
    expect(form.locator("#email")).to_have_attribute("readonly", "")
    page.screenshot(path=artifacts_dir / f"member-form-{lang}-360.png", full_page=True)
    assert sideways_overflow(page) <= 0
    assert blocking_violations(page) == []

    form.locator("#agree_privacy").check()
    form.locator('[type="submit"]').click()
    page.wait_for_url("**/registrations/**")
    db.session.remove()  # see what the server committed
    [registration] = db.session.scalars(select(Registration)).all()
    assert registration.member_link == MemberLink.verified
    assert registration.email == f"aoki-{lang}@example.org"
