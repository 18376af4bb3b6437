"""The public catalogue in a real browser: language switch, navigation, accessibility
(axe-core) and how the pages look on a phone and a desktop screen."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from cluster_events.registration.status import RegistrationState, registration_state

pytestmark = pytest.mark.browser

BLOCKING_IMPACTS = ("serious", "critical")
PHONE_WIDTH = 360
DESKTOP_WIDTH = 1280


def open_event(catalogue: list[Any]) -> Any:
    """The first upcoming event taking registrations: the page with the most on it."""
    for event in catalogue:
        if registration_state(event) == RegistrationState.open:
            return event
    raise AssertionError("the catalogue has no event open for registration")


def page_lang(page: Page) -> Any:
    return expect(page.locator("html"))


def test_visitor_switches_language_and_follows_an_event(live_server, catalogue, page: Page):
    page.goto(live_server("/"))
    page_lang(page).to_have_attribute("lang", "ja")
    japanese_heading = page.get_by_role("heading", level=1).inner_text()
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", japanese_heading), japanese_heading

    page.get_by_role("link", name="English", exact=True).click()
    page_lang(page).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Upcoming events")

    page.goto(live_server("/"))
    page_lang(page).to_have_attribute("lang", "en")  # the choice is remembered

    page.get_by_role("link", name="日本語", exact=True).click()
    page_lang(page).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text(japanese_heading)

    link = page.locator(".event-card__title a").first
    title = link.inner_text()
    link.click()
    expect(page).to_have_url(re.compile(r"/events/[^/?]+$"))
    page_lang(page).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".event-facts")).to_be_visible()


def _blocking_violations(page: Page) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['impact']}: {violation['id']}: {violation['help']}")
        for node in violation["nodes"][:5]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['failureSummary']}")
    return "\n".join(lines)


def public_path(which: str, catalogue: list[Any]) -> str:
    event = open_event(catalogue)
    return {
        "index": "/",
        "event": f"/events/{event.slug}",
        "past": "/events/past",
        "category": f"/categories/{event.category.slug}",
        "search": "/?q=セミナー",
        "privacy": "/privacy",
        "about": "/about",
        "not-found": "/events/no-such-event",
    }[which]


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize(
    "which", ["index", "event", "past", "category", "search", "privacy", "about", "not-found"]
)
def test_no_serious_accessibility_violations(live_server, catalogue, page: Page, which, lang):
    path = public_path(which, catalogue)
    separator = "&" if "?" in path else "?"
    page.goto(live_server(f"{path}{separator}lang={lang}"))
    page_lang(page).to_have_attribute("lang", lang)

    violations = _blocking_violations(page)

    assert not violations, f"axe-core on {path} ({lang}):\n{_describe(violations)}"


@pytest.mark.parametrize("width", [PHONE_WIDTH, DESKTOP_WIDTH])
def test_pages_fit_the_screen(live_server, catalogue, page: Page, artifacts_dir: Path, width):
    """Screenshots for a person to look at; the test itself checks that nothing
    forces sideways scrolling."""
    page.set_viewport_size({"width": width, "height": 800})
    for name, path in [("index", "/"), ("event", f"/events/{open_event(catalogue).slug}")]:
        page.goto(live_server(path))
        page.screenshot(path=artifacts_dir / f"{name}-{width}.png", full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} at {width}px scrolls sideways by {overflow}px"


def test_event_page_prints(live_server, catalogue, page: Page, artifacts_dir: Path):
    page.goto(live_server(f"/events/{open_event(catalogue).slug}"))
    page.emulate_media(media="print")
    page.screenshot(path=artifacts_dir / "event-print.png", full_page=True)

    expect(page.locator(".site-nav")).to_be_hidden()
    expect(page.locator("form.registration-form")).to_be_hidden()
    expect(page.locator(".add-to-calendar")).to_be_hidden()
    expect(page.locator(".event-facts")).to_be_visible()


FOCUS_STYLE = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {tag: el.tagName, text: el.textContent.trim(), outline: style.outlineStyle,
          width: parseFloat(style.outlineWidth), inView: box.left >= 0 && box.top >= 0
          && box.right <= innerWidth && box.width > 0};
}"""


def test_keyboard_user_skips_to_the_content_and_sees_the_focus(live_server, catalogue, page):
    page.goto(live_server("/"))

    page.keyboard.press("Tab")
    skip = page.evaluate(FOCUS_STYLE)
    assert skip["tag"] == "A" and skip["inView"], skip
    assert skip["outline"] != "none" and skip["width"] >= 2, skip

    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    in_card = "document.activeElement.closest('.event-card') !== null"
    for _ in range(40):  # on through the search form to the first event
        page.keyboard.press("Tab")
        if page.evaluate(in_card):
            break
    assert page.evaluate(in_card), "Tab never reached an event"
    focused = page.evaluate(FOCUS_STYLE)
    assert focused["tag"] == "A" and focused["inView"], focused
    assert focused["outline"] != "none" and focused["width"] >= 2, focused


def test_pages_load_nothing_from_other_hosts(live_server, catalogue, page):
    """System fonts only, no CDN: the pages work on a closed network and leak no visits."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    for path in ("/", f"/events/{open_event(catalogue).slug}", "/calendar"):
        page.goto(live_server(path))
        page.wait_for_load_state("networkidle")

    foreign = [url for url in requested if not url.startswith(live_server.url)]
    assert requested and not foreign, foreign


def test_search_and_filter_work_without_javascript(live_server, catalogue, new_page):
    page = new_page(java_script_enabled=False)
    event = open_event(catalogue)
    page.goto(live_server("/"))

    page.locator("#category").select_option(event.category.slug)
    page.locator("form.filter-form [type=submit]").click()
    expect(page).to_have_url(re.compile(rf"category={event.category.slug}"))
    titles = page.locator(".event-card__title a")
    expect(titles.filter(has_text=event.title)).to_have_count(1)
    assert titles.count() < len(catalogue)

    page.locator("#q").fill(event.title)
    page.locator("form.filter-form [type=submit]").click()
    expect(titles.filter(has_text=event.title)).to_have_count(1)

    page.get_by_role("link", name="English", exact=True).click()
    page_lang(page).to_have_attribute("lang", "en")
    expect(page.locator("#q")).to_have_value(event.title)


def test_a_visitor_pages_through_the_lists_without_javascript(
    app, live_server, catalogue, new_page
):
    """Plain links between the pages of the catalogue and of the archive."""
    app.config["CATALOGUE_EVENTS_PER_PAGE"] = 2
    app.config["EVENTS_PER_PAGE"] = 1
    page = new_page(java_script_enabled=False)
    titles = page.locator(".event-card__title a")

    page.goto(live_server("/"))
    first = titles.all_inner_texts()
    assert len(first) == 2
    page.get_by_role("link", name="次の2件 →").click()
    expect(page).to_have_url(re.compile(r"/\?after="))
    expect(page).to_have_title(re.compile("（続き）"))
    second = titles.all_inner_texts()
    assert second and not set(second) & set(first)
    nav = page.get_by_role("navigation", name="これからの催しのページ送り")
    nav.get_by_role("link", name="← 前のページ").click()
    expect(page).to_have_url(live_server("/"))
    assert titles.all_inner_texts() == first

    page.goto(live_server("/events/past"))
    newest = titles.all_inner_texts()
    page.get_by_role("link", name="以前の催し →").click()
    expect(page).to_have_url(re.compile(r"/events/past\?after="))
    assert titles.all_inner_texts() != newest
    page.get_by_role("link", name="最新の催しに戻る").click()
    expect(page).to_have_url(live_server("/events/past"))
    assert titles.all_inner_texts() == newest


@pytest.mark.parametrize("width", [PHONE_WIDTH, DESKTOP_WIDTH])
def test_the_page_links_fit_the_screen_and_pass_axe(
    app, live_server, catalogue, page: Page, artifacts_dir: Path, width
):
    app.config["CATALOGUE_EVENTS_PER_PAGE"] = 2
    app.config["EVENTS_PER_PAGE"] = 1
    page.set_viewport_size({"width": width, "height": 800})
    for name, path in (("index", "/"), ("past", "/events/past")):
        page.goto(live_server(path))
        page.locator('.pagination a[rel="next"]').click()
        expect(page.locator('.pagination a[rel="prev"]')).to_be_visible()
        page.screenshot(path=artifacts_dir / f"{name}-page-2-{width}.png", full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the second page of {path} at {width}px scrolls sideways"
        violations = _blocking_violations(page)
        assert not violations, f"axe-core on {page.url}:\n{_describe(violations)}"
