"""The attendee pages in a real browser: accessibility (axe-core) in both languages,
a 360px phone at the door, and the printed roster on A4."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from cluster_events.extensions import db
from cluster_events.models import RegistrationStatus
from tests.factories import ORGANIZER_PASSWORD, make_event, make_organizer, make_registration

pytestmark = pytest.mark.browser

PAGES = {
    "list": "/attendees",
    "detail": "/attendees/{rid}",
    "add": "/attendees/new",
    "checkin": "/check-in",
    "roster": "/roster",
    "export": "/export",
    "messages": "/messages",
}


def log_in(page: Page, url: str, email: str) -> None:
    page.goto(url)
    page.locator("#email").fill(email)
    page.locator("#password").fill(ORGANIZER_PASSWORD)
    page.locator('form[action$="/login"] [type="submit"]').click()
    expect(page).to_have_url(re.compile(r"/admin/"))


def blocking_violations(page: Page) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['impact']}: {v['id']}: {v['help']} at "
        + ", ".join(" ".join(map(str, node["target"])) for node in v["nodes"][:5])
        for v in violations
    )


@pytest.fixture
def office(live_server, new_page) -> tuple[Page, Any, Any]:
    event = make_event(title="経営研究・懇談会（第250回）", capacity=30)
    kana = ["あいざわ", "いのうえ", "うえだ", "えんどう", "おおた", "かとう", "きむら"]
    people = [
        make_registration(
            event,
            name=f"{reading}テスト 太郎{i}",
            name_kana=f"{reading} たろう",
            organization="株式会社ヨコスカ・ミウラ精密機械製作所 横浜営業所",
            job_title="代表取締役社長",
        )
        for i, reading in enumerate(kana * 5)
    ]
    make_registration(event, status=RegistrationStatus.waiting)
    make_organizer(email="office@example.org")
    db.session.commit()
    page = new_page()
    log_in(page, live_server("/admin/"), "office@example.org")
    return page, event, people[0]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_no_serious_accessibility_violations(live_server, office, lang):
    page, event, person = office
    for name, path in PAGES.items():
        url = f"/admin/events/{event.id}" + path.format(rid=person.id)
        page.goto(live_server(f"{url}?lang={lang}"))
        violations = blocking_violations(page)
        assert not violations, f"axe-core on {name} ({lang}):\n{describe(violations)}"


@pytest.mark.parametrize("width", [360, 1280])
def test_pages_fit_the_screen(live_server, office, artifacts_dir: Path, width):
    page, event, person = office
    page.set_viewport_size({"width": width, "height": 740})
    for name, path in PAGES.items():
        page.goto(live_server(f"/admin/events/{event.id}" + path.format(rid=person.id)))
        page.screenshot(path=artifacts_dir / f"attendees-{name}-{width}.png", full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} at {width}px scrolls sideways by {overflow}px"


def test_phone_at_the_door(live_server, office, artifacts_dir: Path):
    page, event, _ = office
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(live_server(f"/admin/events/{event.id}/check-in"))
    page.screenshot(path=artifacts_dir / "attendees-checkin-phone-top.png")
    expect(page.locator(".checkin-search input[type=search]")).to_be_in_viewport()

    button = page.locator(".checkin-list li").first.locator('[type="submit"]')
    box = button.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44  # WCAG 2.2 target size, generously
    button.click()
    expect(page.locator(".checkin-list li.arrived")).to_have_count(1)


def test_roster_prints_on_a4_with_the_header_on_every_page(live_server, office, artifacts_dir):
    page, event, _ = office
    page.goto(live_server(f"/admin/events/{event.id}/roster"))
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.locator(".attendee-nav")).to_be_hidden()
    pdf = page.pdf(prefer_css_page_size=True)
    (artifacts_dir / "attendees-roster.pdf").write_bytes(pdf)
    # A4 is 595 x 842 points; 36 people need more than one page.
    sizes = re.findall(rb"/MediaBox\s*\[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert len(sizes) > 1
    assert {(round(float(w)), round(float(h))) for w, h in sizes} == {(595, 842)}
    page.set_viewport_size({"width": 794, "height": 1123})
    page.screenshot(path=artifacts_dir / "attendees-roster-print.png", full_page=True)
    header_display = page.evaluate(
        "getComputedStyle(document.querySelector('.roster thead')).display"
    )
    assert header_display == "table-header-group"
    row_break = page.evaluate(
        "getComputedStyle(document.querySelector('.roster tbody tr')).breakInside"
    )
    assert row_break == "avoid"
