"""The sign-up form with errors, the personal page and its cancel step in a real browser:
accessibility (axe-core), a 360px phone screen, and no JavaScript needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from cluster_events.extensions import db
from tests.e2e.visitors import register_in_browser
from tests.factories import make_event

pytestmark = pytest.mark.browser

BLOCKING_IMPACTS = ("serious", "critical")
PHONE = {"width": 360, "height": 800}


@pytest.fixture
def event(app) -> Any:
    event = make_event(slug="iso-seminar", title="ISO 9001・14001 認証取得セミナー", capacity=30)
    db.session.commit()
    return event


def blocking_violations(page: Page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['impact']}: {v['id']}: {[n['target'] for n in v['nodes'][:3]]}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING_IMPACTS
    ]


def sideways_overflow(page: Page) -> int:
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_form_errors_are_announced_and_tied_to_fields(
    live_server, event, page: Page, lang, artifacts_dir: Path
):
    page.set_viewport_size(PHONE)
    page.goto(live_server(f"/events/{event.slug}?lang={lang}"))
    form = page.locator("form.registration-form")
    form.locator('[name="email"]').fill("taro@")
    form.locator('[type="submit"]').click()

    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_have_attribute("role", "alert")
    email = page.locator("#email")
    expect(email).to_have_value("taro@")
    expect(email).to_have_attribute("aria-invalid", "true")
    described = email.get_attribute("aria-describedby").split()
    assert "email-error" in described
    expect(page.locator("#email-error")).to_be_visible()
    summary.locator('a[href="#name"]').click()
    expect(page).to_have_url(f"{live_server.url}/events/{event.slug}/register#name")

    page.screenshot(path=artifacts_dir / f"registration-errors-{lang}-360.png", full_page=True)
    assert sideways_overflow(page) <= 0
    assert blocking_violations(page) == []


def test_personal_page_and_cancel_step_work_without_javascript(
    live_server, event, browser, artifacts_dir: Path
):
    context = browser.new_context(locale="ja-JP", java_script_enabled=False, viewport=PHONE)
    try:
        page = context.new_page()
        register_in_browser(
            page,
            live_server(f"/events/{event.slug}"),
            name="三浦 一郎",
            kana="ミウラ イチロウ",
            email="ichiro@example.jp",
        )
        expect(page.locator(".flash--success")).to_contain_text("受付が完了しました")
        assert sideways_overflow(page) <= 0
        page.screenshot(path=artifacts_dir / "registration-personal-360.png", full_page=True)

        page.locator('a[href*="step=cancel"]').click()
        confirm = page.locator('form[action$="/cancel"] [type="submit"]')
        expect(confirm).to_be_visible()
        page.screenshot(path=artifacts_dir / "registration-cancel-step-360.png", full_page=True)
        confirm.click()
        expect(page.locator("#status .notice--cancelled")).to_be_visible()
        expect(page.locator('a[href*="step=cancel"]')).to_have_count(0)
    finally:
        context.close()


def test_personal_page_has_no_serious_accessibility_violations(live_server, event, page: Page):
    register_in_browser(
        page,
        live_server(f"/events/{event.slug}"),
        name="三浦 一郎",
        kana="みうら いちろう",
        email="ichiro@example.jp",
    )
    assert blocking_violations(page) == []
    page.locator('a[href*="step=cancel"]').click()
    assert blocking_violations(page) == []
