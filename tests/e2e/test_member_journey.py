"""Done means, for a member: someone who has never used the site asks for a sign-in link,
opens it from the email on a phone-sized window, sees the members-only 交流会, registers
with the form filled in, finds it on My page, subscribes to "my events" (the test fetches
the feed and parses it), cancels, and sees the feed drop the event. axe-core checks each
of those pages in both languages."""

from __future__ import annotations

import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
from playwright.sync_api import Page, expect

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import MemberKind
from tests.e2e.conftest import mailing_inline
from tests.e2e.test_member_sign_in_pages import ask_for_a_link, sign_in_link
from tests.e2e.test_public_pages import PHONE_WIDTH, _blocking_violations, _describe
from tests.e2e.test_registration_flow import wait_for_mail
from tests.factories import make_event
from tests.members import first_person, make_member

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server: Any) -> dict[str, Any]:
    return {**app_config, **mailing_inline(smtp_server)}


@pytest.fixture
def meeting(app) -> Any:
    starts_at = utcnow().replace(second=0, microsecond=0) + timedelta(days=20)
    event = make_event(
        slug="kojin-kouryukai",
        title="個人会員交流会",
        title_en="Individual members' get-together",
        is_members_only=True,
        capacity=30,
        starts_at=starts_at,
        registration_closes_at=starts_at - timedelta(days=1),
    )
    make_event(slug="open-seminar", title="公開セミナー", starts_at=starts_at + timedelta(days=3))
    db.session.commit()
    return event


@pytest.fixture
def member(app) -> Any:
    person = first_person(
        make_member(
            kind=MemberKind.individual,
            name="三浦 文子",
            name_kana="みうら ふみこ",
            number="I-0042",
            people=[
                {
                    "name": "三浦 文子",
                    "name_kana": "みうら ふみこ",
                    "email": "fumiko@example.jp",
                    "phone": "046-800-1234",
                }
            ],
        )
    )
    db.session.commit()
    return person


def feed_events(url: str) -> dict[str, str]:
    """UID → SUMMARY of the feed at ``url``, fetched as a calendar program would."""
    with urllib.request.urlopen(url, timeout=20) as response:
        assert response.headers["Content-Type"].startswith("text/calendar")
        assert "private" in response.headers["Cache-Control"]
        calendar = icalendar.Calendar.from_ical(response.read())
    return {str(e["UID"]): str(e["SUMMARY"]) for e in calendar.walk("VEVENT")}


def signed_in_phone(new_page, live_server, smtp_server, email: str) -> Page:
    computer = new_page()
    ask_for_a_link(computer, live_server, email)
    link = sign_in_link(wait_for_mail(smtp_server, email), live_server.url)
    phone = new_page(viewport={"width": PHONE_WIDTH, "height": 740}, is_mobile=True)
    phone.goto(link)
    phone.get_by_role("button", name="ログインする").click()
    expect(phone).to_have_url(live_server("/members/me"))
    return phone


def test_a_new_member_registers_for_the_members_only_meeting_on_a_phone(
    live_server, smtp_server, new_page, meeting, member, artifacts_dir: Path
):
    visitor = new_page()
    visitor.goto(live_server("/"))
    expect(visitor.get_by_text("個人会員交流会")).to_have_count(0)

    phone = signed_in_phone(new_page, live_server, smtp_server, member.email)
    phone.goto(live_server("/"))
    card = phone.locator(".event-card", has_text="個人会員交流会")
    expect(card.locator(".badge--members")).to_have_text("会員限定")
    card.get_by_role("link", name="個人会員交流会").click()
    expect(phone).to_have_url(live_server(f"/events/{meeting.slug}"))

    form = phone.locator("form.registration-form")
    expect(form.locator('[name="name"]')).to_have_value("三浦 文子")
    expect(form.locator('[name="name_kana"]')).to_have_value("みうら ふみこ")
    expect(form.locator("#email")).to_have_value("fumiko@example.jp")
    expect(form.locator('[name="phone"]')).to_have_value("046-800-1234")
    form.locator('[name="agree_privacy"]').check()
    phone.screenshot(path=artifacts_dir / "member-journey-form-360.png", full_page=True)
    form.locator('[type="submit"]').click()
    expect(phone.locator(".notice--ok").first).to_be_visible()
    confirmation = wait_for_mail(smtp_server, member.email, 2)
    assert "個人会員交流会" in confirmation["Subject"]

    phone.goto(live_server("/members/me"))
    mine = phone.locator("article.event-card", has_text="個人会員交流会")
    expect(mine).to_have_count(1)
    expect(mine.locator(".badge--open")).to_be_visible()
    phone.screenshot(path=artifacts_dir / "member-journey-my-page-360.png", full_page=True)
    overflow = phone.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"My page scrolls sideways by {overflow}px on a phone"

    my_feed = phone.locator('input[id="feed-url-my"]').input_value()
    assert "/calendar/my/" in my_feed
    assert feed_events(my_feed) == {meeting.uid: "個人会員交流会"}

    mine.get_by_role("link", name="この申込みを取り消す").click()
    phone.get_by_role("button", name="はい、取り消します").click()
    phone.goto(live_server("/members/me"))
    expect(
        phone.locator("article.event-card", has_text="個人会員交流会").locator(".badge--closed")
    ).to_be_visible()
    assert feed_events(my_feed) == {}


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_members_pages_have_no_serious_accessibility_violations(
    live_server, smtp_server, new_page, meeting, member, lang
):
    phone = signed_in_phone(new_page, live_server, smtp_server, member.email)
    found: list[str] = []

    def check(what: str, path: str) -> None:
        phone.goto(live_server(f"{path}?lang={lang}"))
        expect(phone.locator("html")).to_have_attribute("lang", lang)
        violations = _blocking_violations(phone)
        if violations:
            found.append(f"{what} ({lang}):\n{_describe(violations)}")

    check("the catalogue as a member", "/")
    check("the members-only event with the filled-in form", f"/events/{meeting.slug}")
    form = phone.locator("form.registration-form")
    form.locator('[name="agree_privacy"]').check()
    form.locator('[type="submit"]').click()
    expect(phone.locator(".notice--ok").first).to_be_visible()
    check("My page", "/members/me")
    cancel = phone.locator('a[href*="/members/me/registrations/"]').first.get_attribute("href")
    check("the cancel step", cancel.split("?")[0])
    check("renewing a feed", "/members/me/feeds/my/renew")
    assert not found, "\n".join(found)
