"""The office's member pages with the demo member list, in a real browser: a member's
page with its people, registrations and attendance, and the member list, pass axe-core
in both languages and fit a 360px phone."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from cluster_events.demo import seed_demo
from cluster_events.extensions import db
from cluster_events.models import Member
from tests.e2e.test_console_flow import log_in
from tests.e2e.test_public_pages import _blocking_violations, _describe
from tests.factories import make_organizer

pytestmark = pytest.mark.browser


@pytest.fixture
def office(live_server, new_page):
    seed_demo()
    make_organizer(email="office@example.org")
    db.session.commit()
    page = new_page()
    log_in(page, live_server("/admin/"), "office@example.org")
    company = db.session.scalar(select(Member).where(Member.number == "C-001"))
    person = db.session.scalar(select(Member).where(Member.number == "I-001"))
    paths = {
        "members": "/admin/members",
        "company": f"/admin/members/{company.id}",
        "individual": f"/admin/members/{person.id}",
    }
    return page, paths


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_member_pages_have_no_serious_accessibility_violations(live_server, office, lang):
    page, paths = office
    for name, path in paths.items():
        page.goto(live_server(f"{path}?lang={lang}"))
        violations = _blocking_violations(page)
        assert not violations, f"axe-core on {name} ({lang}):\n{_describe(violations)}"


def test_member_pages_fit_a_360px_phone(live_server, office, artifacts_dir: Path):
    page, paths = office
    page.set_viewport_size({"width": 360, "height": 740})
    for name, path in paths.items():
        page.goto(live_server(path))
        page.screenshot(path=artifacts_dir / f"console-member-{name}-360.png", full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} at 360px scrolls sideways by {overflow}px"
    page.goto(live_server(paths["company"]))
    registrations = page.locator("table.stack-on-phone").nth(2)
    registrations.screenshot(path=artifacts_dir / "console-member-registrations-360.png")
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(live_server(paths["company"]))
    page.screenshot(path=artifacts_dir / "console-member-company-wide.png", full_page=True)
