"""Every page of the site, public and console, under its Content-Security-Policy in
Chromium: no violation reported, no Permissions-Policy complaint, and the scripts and
style sheets that replaced the inline ones do load."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from cluster_events.extensions import db
from cluster_events.models import RegistrationStatus
from cluster_events.registration import tokens
from tests.e2e.test_console_flow import log_in
from tests.e2e.visitors import register_in_browser
from tests.factories import make_event, make_organizer, make_registration

pytestmark = pytest.mark.browser

#: Runs before the page's own code, and init scripts are exempt from the page's CSP.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__csp.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || ""}:${event.lineNumber}`);
});
"""
POLICY_MESSAGES = re.compile(r"Content[- ]Security[- ]Policy|Permissions[- ]Policy", re.I)


class PolicyWatch:
    """What a page reported about the policies: violation events and console messages."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        self.visited: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if POLICY_MESSAGES.search(message.text):
            self.console.append(f"{self.page.url}: {message.text}")

    def check(self, name: str) -> None:
        """Call once the page has loaded (goto or a form's answer)."""
        self.page.wait_for_load_state("load")
        reported = self.page.evaluate("window.__csp")
        assert reported == [], f"{name} ({self.page.url}): {reported}"
        assert self.console == [], "\n".join(self.console)
        self.visited.append(name)

    def visit(self, name: str, url: str) -> Any:
        response = self.page.goto(url)
        self.check(name)
        return response


@pytest.fixture
def site(app, live_server) -> dict[str, Any]:
    event = make_event(
        slug="iso-seminar",
        title="ISO 9001 入門セミナー",
        capacity=3,
        online_url="https://meet.example.org/iso",
    )
    confirmed = make_registration(event, name="相沢 花子", name_kana="あいざわ はなこ")
    make_registration(event, status=RegistrationStatus.waiting)
    boss = make_organizer(email="boss@example.org", role="admin", name="事務局長")
    db.session.commit()
    return {
        "event": event,
        "eid": event.id,
        "rid": confirmed.id,
        "vid": event.venue_id,
        "cid": event.category_id,
        "oid": boss.id,
        "slug": event.slug,
        "category": event.category.slug,
        "checkin": f"/admin/check-in/{tokens.checkin_code(confirmed)}",
    }


PUBLIC = {
    "front page": "/",
    "front page in English": "/?lang=en",
    "search": "/?q=セミナー",
    "past events": "/events/past",
    "category": "/categories/{category}",
    "event page": "/events/{slug}",
    "calendar page": "/calendar",
    "about": "/about",
    "privacy": "/privacy",
    "login": "/login",
    "404": "/events/no-such-event",
}
CONSOLE = {
    "dashboard": "/admin/",
    "events": "/admin/events",
    "event": "/admin/events/{eid}",
    "event edit": "/admin/events/{eid}/edit",
    "new event": "/admin/events/new",
    "event cancel": "/admin/events/{eid}/cancel",
    "venues": "/admin/venues",
    "venue": "/admin/venues/{vid}/edit",
    "new venue": "/admin/venues/new",
    "categories": "/admin/categories",
    "category": "/admin/categories/{cid}/edit",
    "accounts": "/admin/accounts",
    "account": "/admin/accounts/{oid}",
    "new account": "/admin/accounts/new",
    "audit log": "/admin/audit",
    "own password": "/admin/password",
    "attendee list": "/admin/events/{eid}/attendees",
    "attendee": "/admin/events/{eid}/attendees/{rid}",
    "add attendee": "/admin/events/{eid}/attendees/new",
    "cancel attendee": "/admin/events/{eid}/attendees/{rid}/cancel",
    "check-in": "/admin/events/{eid}/check-in",
    "check-in search": "/admin/events/{eid}/check-in?q=あいざわ",
    "scan": "{checkin}",
    "roster": "/admin/events/{eid}/roster",
    "export": "/admin/events/{eid}/export",
    "messages": "/admin/events/{eid}/messages",
    "purge": "/admin/events/{eid}/purge",
    "console 404": "/admin/events/999999",
}


def test_no_page_of_the_site_violates_its_policies(live_server, site, new_page):
    visitor = PolicyWatch(new_page())
    for name, path in PUBLIC.items():
        visitor.visit(name, live_server(path.format(**site)))

    # The registration form refused (its errors shown), then sent, then the personal page.
    visitor.visit("event page", live_server(f"/events/{site['slug']}"))
    form = visitor.page.locator("form.registration-form")
    form.evaluate("form => { form.noValidate = true; }")
    form.locator('[type="submit"]').click()
    expect(visitor.page.locator(".error-summary, .field-error").first).to_be_visible()
    visitor.check("registration form with errors")
    register_in_browser(
        visitor.page,
        live_server(f"/events/{site['slug']}"),
        name="横須賀 太郎",
        kana="よこすか たろう",
        email="taro@example.jp",
    )
    visitor.check("personal page")
    personal_url = visitor.page.url.split("#")[0]
    visitor.visit("personal page, cancelling", personal_url + "?step=cancel")
    visitor.page.locator("#cancel [type=submit]").click()
    expect(visitor.page).to_have_url(re.compile(r"/registrations/[^/?#]+#status"))
    visitor.check("personal page after cancelling")

    office = PolicyWatch(new_page())
    log_in(office.page, live_server("/admin/"), "boss@example.org")
    office.check("console after logging in")
    for name, path in CONSOLE.items():
        office.visit(name, live_server(path.format(**site)))
    office.visit("messages", live_server(f"/admin/events/{site['eid']}/messages"))
    office.page.locator("#subject").fill("会場のご案内")
    office.page.locator("#body").fill("3階の第2会議室です。")
    office.page.locator('form[action$="/messages/preview"] [type="submit"]').click()
    expect(office.page.locator('button[formaction$="/messages/send"]')).to_be_visible()
    office.check("message preview")

    assert len(visitor.visited) + len(office.visited) > 40


def test_the_roster_loads_its_script_and_style_sheets(live_server, site, new_page):
    office = PolicyWatch(new_page())
    log_in(office.page, live_server("/admin/"), "boss@example.org")
    office.visit("roster", live_server(f"/admin/events/{site['eid']}/roster"))
    expect(office.page.locator("button[data-print]")).to_be_visible()  # print.js ran
    roster = office.page.locator("table.roster")
    assert roster.evaluate("table => getComputedStyle(table).borderCollapse") == "collapse"
    nav = office.page.locator(".attendee-nav ul")
    assert nav.evaluate("list => getComputedStyle(list).display") == "flex"


def test_without_javascript_the_roster_offers_no_dead_print_button(live_server, site, new_page):
    page = new_page(java_script_enabled=False)
    log_in(page, live_server("/admin/"), "boss@example.org")
    page.goto(live_server(f"/admin/events/{site['eid']}/roster"))
    expect(page.locator("button[data-print]")).to_be_hidden()
    expect(page.get_by_text("印刷機能")).to_be_visible()


def test_the_watch_sees_a_violation(live_server, site, new_page):
    """The check above can fail: an inline style added by the page is reported."""
    visitor = PolicyWatch(new_page())
    visitor.visit("front page", live_server("/"))
    visitor.page.evaluate(
        "() => { const s = document.createElement('style'); s.textContent = 'p {}';"
        " document.head.append(s); }"
    )
    visitor.page.wait_for_function("window.__csp.length > 0")
    assert any("style-src" in entry for entry in visitor.page.evaluate("window.__csp"))
