"""What a visitor does in the browser, shared by the browser tests."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


def register_in_browser(page: Page, url: str, *, name: str, kana: str, email: str) -> None:
    page.goto(url)
    form = page.locator("form.registration-form")
    form.locator('[name="name"]').fill(name)
    form.locator('[name="name_kana"]').fill(kana)
    form.locator('[name="email"]').fill(email)
    form.locator('[name="organization"]').fill("株式会社三浦製作所")
    form.locator('[name="member_type"][value="general"]').check()
    form.locator('[name="agree_privacy"]').check()
    form.locator('[type="submit"]').click()
    expect(page).to_have_url(re.compile(r"/registrations/[^/?#]+"))
