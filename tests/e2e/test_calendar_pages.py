"""The calendar pages in a real browser: the subscription page on a phone and a
desktop screen, accessibility (axe-core), and downloading an event's .ics file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import icalendar
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_public_pages import _blocking_violations, _describe

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_subscription_page_has_no_serious_accessibility_violations(
    live_server, catalogue, page: Page, lang
):
    page.goto(live_server(f"/calendar?lang={lang}"))
    expect(page.locator("html")).to_have_attribute("lang", lang)
    violations = _blocking_violations(page)
    assert not violations, f"axe-core on /calendar?lang={lang}:\n{_describe(violations)}"


@pytest.mark.parametrize("width", [360, 1280])
def test_subscription_page_fits_the_screen(
    live_server, catalogue, page: Page, artifacts_dir: Path, width
):
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(live_server("/calendar"))
    expect(page.get_by_role("heading", level=1)).to_have_text("催しのカレンダーを登録する")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"page is {scroll_width}px wide on a {width}px screen"
    expect(page.locator("svg.qr-code")).to_be_visible()
    expect(
        page.get_by_label("「NPO法人 産業クラスター研究会」のカレンダーのアドレス（URL）")
    ).to_have_value(live_server("/calendar.ics"))
    page.screenshot(path=artifacts_dir / f"calendar-{width}.png", full_page=True)


def test_menu_leads_to_the_subscription_page(live_server, catalogue, page: Page):
    page.goto(live_server("/"))
    page.get_by_role("navigation").get_by_role("link", name="カレンダー").click()
    expect(page).to_have_url(live_server("/calendar"))
    subscribe = page.get_by_role("link", name="カレンダーに登録する", exact=True)
    expect(subscribe).to_have_attribute(
        "href", live_server("/calendar.ics").replace("http", "webcal", 1)
    )


def test_event_file_downloads_with_its_japanese_name(live_server, catalogue, page: Page):
    event: Any = catalogue[0]
    page.goto(live_server(f"/events/{event.slug}"))
    block = page.locator(".add-to-calendar")
    expect(block.get_by_role("heading", level=2)).to_have_text("カレンダーに追加")
    expect(block.get_by_role("link", name="Googleカレンダーに追加")).to_have_attribute(
        "href", re.compile(r"^https://calendar\.google\.com/calendar/render\?action=TEMPLATE&")
    )
    expect(block.get_by_role("link", name="Outlook.com に追加")).to_have_attribute(
        "href", re.compile(r"^https://outlook\.live\.com/calendar/0/action/compose\?")
    )
    with page.expect_download() as download_info:
        block.get_by_role("link", name="カレンダー用ファイル（.ics）をダウンロード").click()
    download = download_info.value
    assert download.suggested_filename == f"{event.title}.ics"
    calendar = icalendar.Calendar.from_ical(Path(download.path()).read_bytes())
    (component,) = calendar.walk("VEVENT")
    assert str(component["uid"]) == event.uid
    assert str(component["url"]) == live_server(f"/events/{event.slug}")
