"""The console's own pages in a real browser: accessibility (axe-core) in both languages,
a 360px phone without sideways scrolling, and the form's errors reached from the summary."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry, MemberKind, OutboxMessage, RegistrationStatus
from cluster_events.timefmt import TOKYO
from tests.e2e.test_console_flow import log_in
from tests.e2e.test_public_pages import _blocking_violations, _describe
from tests.factories import make_event, make_organizer, make_registration
from tests.members import make_member

pytestmark = pytest.mark.browser

PAGES = {
    "dashboard": "/admin/",
    "events": "/admin/events",
    "event": "/admin/events/{eid}",
    "edit": "/admin/events/{eid}/edit",
    "new": "/admin/events/new",
    "cancel": "/admin/events/{eid}/cancel",
    "venues": "/admin/venues",
    "venue": "/admin/venues/{vid}/edit",
    "categories": "/admin/categories",
    "category": "/admin/categories/{cid}/edit",
    "accounts": "/admin/accounts",
    "account": "/admin/accounts/{oid}",
    "new-account": "/admin/accounts/new",
    "audit": "/admin/audit",
    "password": "/admin/password",
    "members": "/admin/members",
    "member": "/admin/members/{mid}",
    "new-member": "/admin/members/new",
    "edit-member": "/admin/members/{mid}/edit",
    "new-person": "/admin/members/{mid}/people/new",
    "edit-person": "/admin/members/{mid}/people/{pid}/edit",
}


@pytest.fixture
def admin(live_server, new_page) -> tuple[Page, dict[str, Any]]:
    event = make_event(
        title="経営研究・懇談会（第250回）　横須賀リサーチパーク特別会場",
        capacity=2,
        fee_text="1,000円（会員無料）",
    )
    for status in ("confirmed", "confirmed", "waiting"):
        make_registration(event, status=RegistrationStatus(status))
    boss = make_organizer(email="boss@example.org", role="admin", name="事務局長")
    db.session.add(
        AuditLogEntry(
            organizer=boss,
            action="event.update",
            target_type="event",
            target_id=event.id,
            event_id=event.id,
            before={"title": "旧題名", "capacity": 20},
            after={"title": event.title, "capacity": 2},
        )
    )
    db.session.commit()
    member = make_member(
        kind=MemberKind.corporate,
        name="株式会社横須賀テクノ",
        name_kana="よこすかてくの",
        people=[{"name": "山田 太郎", "name_kana": "やまだ たろう", "email": "yamada@example.org"}],
    )
    page = new_page()
    log_in(page, live_server("/admin/"), "boss@example.org")
    ids = {
        "eid": event.id,
        "vid": event.venue_id,
        "cid": event.category_id,
        "oid": boss.id,
        "mid": member.id,
        "pid": member.people[0].id,
    }
    return page, ids


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_no_serious_accessibility_violations(live_server, admin, lang):
    page, ids = admin
    for name, path in PAGES.items():
        page.goto(live_server(path.format(**ids) + f"?lang={lang}"))
        violations = _blocking_violations(page)
        assert not violations, f"axe-core on {name} ({lang}):\n{_describe(violations)}"


def test_login_page_is_accessible(live_server, page: Page):
    page.goto(live_server("/login"))
    assert not _blocking_violations(page)
    page.locator("#email").fill("nobody@example.org")
    page.locator("#password").fill("wrong password")
    page.locator('form[action$="/login"] [type="submit"]').click()
    expect(page.locator("#login-error")).to_contain_text("正しくありません")
    assert not _blocking_violations(page)


def test_pages_fit_a_360px_phone(live_server, admin, artifacts_dir: Path):
    page, ids = admin
    page.set_viewport_size({"width": 360, "height": 740})
    for name, path in PAGES.items():
        page.goto(live_server(path.format(**ids)))
        page.screenshot(path=artifacts_dir / f"console-{name}-360.png", full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} at 360px scrolls sideways by {overflow}px"


def test_errors_are_tied_to_their_fields(live_server, admin):
    page, ids = admin
    page.goto(live_server(f"/admin/events/{ids['eid']}/edit"))
    page.locator('[name="capacity"]').fill("1")
    page.locator('[name="ends_at"]').fill("2020-01-01T10:00")
    page.locator('button[name="save"]').click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(page.locator("#capacity")).to_have_attribute(
        "aria-describedby", "capacity-hint capacity-error"
    )
    expect(page.locator("#capacity-error")).to_contain_text("2")
    summary.get_by_role("link").first.click()
    expect(page.locator("#ends_at")).to_be_focused()


def test_next_months_meeting_by_duplicating_this_months(live_server, new_page):
    source = make_event(
        title="経営研究・懇談会（第12回）",
        slug="kondankai-2027-01",
        starts_at=datetime(2027, 1, 8, 18, 0, tzinfo=TOKYO),  # 2nd Friday
        ends_at=datetime(2027, 1, 8, 20, 0, tzinfo=TOKYO),
        capacity=20,
    )
    make_registration(source)
    make_organizer(email="office@example.org")
    db.session.commit()
    office = new_page()
    log_in(office, live_server(f"/admin/events/{source.id}"), "office@example.org")
    office.locator('form[action$="/duplicate"] [type="submit"]').click()
    expect(office).to_have_url(re.compile(r"/admin/events/\d+/edit$"))
    expect(office.locator('[name="title"]')).to_have_value("経営研究・懇談会（第13回）")
    expect(office.locator('[name="starts_at"]')).to_have_value("2027-02-12T18:00")
    office.locator('button[name="save"]').click()
    office.locator('form[action$="/publish"] [type="submit"]').click()
    expect(office.locator(".flash--success")).to_be_visible()
    visitor = new_page()
    visitor.goto(live_server("/events/kondankai-2027-02"))
    expect(visitor.get_by_role("heading", level=1)).to_have_text("経営研究・懇談会（第13回）")


def test_moving_an_event_asks_before_telling_registrants(live_server, admin):
    page, ids = admin
    page.goto(live_server(f"/admin/events/{ids['eid']}/edit"))
    starts = page.locator('[name="starts_at"]').input_value()
    later = starts[:11] + f"{(int(starts[11:13]) + 1) % 24:02d}" + starts[13:]
    page.locator('[name="starts_at"]').fill(later)
    page.locator('[name="ends_at"]').fill(later[:11] + "23:59")
    page.locator('button[name="save"]').click()
    panel = page.get_by_role("alert").filter(has_text="お知らせしますか")
    expect(panel).to_be_visible()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    panel.locator('button[value="yes"]').click()
    expect(page).to_have_url(re.compile(rf"/admin/events/{ids['eid']}$"))
    db.session.remove()
    kinds = db.session.scalars(select(OutboxMessage.kind))
    assert sorted(kinds) == ["event_changed"] * 3
