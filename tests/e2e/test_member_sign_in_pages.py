"""Member sign-in in a real browser: asking on a computer, opening the emailed link on a
phone-sized window of another browser, the header, signing out; axe-core on each page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from cluster_events.extensions import db
from tests.e2e.conftest import mailing_inline
from tests.e2e.test_public_pages import PHONE_WIDTH, _blocking_violations, _describe
from tests.e2e.test_registration_flow import wait_for_mail
from tests.members import first_person, make_member

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server: Any) -> dict[str, Any]:
    return {**app_config, **mailing_inline(smtp_server)}


@pytest.fixture
def member_email(app) -> str:
    person = first_person(make_member(name="横須賀 花子", number="I-0100"))
    db.session.commit()
    return person.email


def sign_in_link(message: Any, site_url: str) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = re.search(re.escape(site_url) + r"/members/login/[A-Za-z0-9_-]+", text)
    assert found, f"no sign-in link in:\n{text}"
    return found.group(0)


def ask_for_a_link(page: Page, live_server: Any, email: str) -> None:
    page.goto(live_server("/"))
    page.locator(".member-menu a").click()
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_role("button", name="ログイン用のリンクを受け取る").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("メールをご確認ください")


def test_a_member_signs_in_on_the_phone_with_the_emailed_link(
    live_server, smtp_server, new_page, member_email, artifacts_dir: Path
):
    computer = new_page()
    ask_for_a_link(computer, live_server, member_email)
    link = sign_in_link(wait_for_mail(smtp_server, member_email), live_server.url)

    phone = new_page(viewport={"width": PHONE_WIDTH, "height": 740}, is_mobile=True)
    phone.goto(link)
    phone.screenshot(path=artifacts_dir / "member-sign-in-link-360.png", full_page=True)
    phone.get_by_role("button", name="ログインする").click()
    expect(phone.locator(".member-menu__name")).to_have_text("横須賀 花子 様でログイン中")
    expect(phone.locator(".flash--success")).to_contain_text("ログインしました")
    phone.screenshot(path=artifacts_dir / "member-signed-in-360.png", full_page=True)
    overflow = phone.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the signed-in header scrolls sideways by {overflow}px"

    computer.reload()
    expect(computer.locator(".member-menu a")).to_have_text("会員ログイン")

    phone.get_by_role("button", name="ログアウト").click()
    expect(phone.locator(".member-menu a")).to_have_text("会員ログイン")
    phone.goto(link)  # used: the page says so, and how to get a new one
    expect(phone.get_by_role("heading", level=1)).to_have_text("ログインできませんでした")
    expect(phone.get_by_role("link", name="ログイン用のリンクをもう一度受け取る")).to_be_visible()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_no_serious_accessibility_violations(
    live_server, smtp_server, new_page, member_email, lang
):
    page = new_page(locale="ja-JP" if lang == "ja" else "en-US")
    found: list[str] = []

    def check(what: str) -> None:
        expect(page.locator("html")).to_have_attribute("lang", lang)
        violations = _blocking_violations(page)
        if violations:
            found.append(f"{what} ({lang}):\n{_describe(violations)}")

    page.goto(live_server(f"/members/login?lang={lang}"))
    check("the form")
    page.locator("#email").fill("not an address")
    page.locator("form.narrow-form button[type=submit]").click()
    expect(page.locator(".field-error")).to_be_visible()
    check("the form with an error")
    page.locator("#email").fill(member_email)
    page.locator("form.narrow-form button[type=submit]").click()
    check("check your email")
    link = sign_in_link(wait_for_mail(smtp_server, member_email), live_server.url)
    page.goto(f"{link}?lang={lang}")
    check("the link's page")
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".member-menu__name")).to_be_visible()
    check("signed in")
    page.goto(f"{link}?lang={lang}")
    check("a used link")
    page.goto(live_server(f"/members/login/{'A' * 43}?lang={lang}"))
    check("a forged link")
    assert not found, "\n".join(found)
