"""The office's day in a real browser: log in, create and publish an event, see it on
the public site, a visitor registers, the office finds them in the attendee list,
checks them in at the door and exports the list as CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import Event, EventStatus, Registration
from cluster_events.timefmt import to_tokyo
from tests.e2e.visitors import register_in_browser
from tests.factories import ORGANIZER_PASSWORD, make_category, make_organizer, make_venue

pytestmark = pytest.mark.browser

TITLE = "市民公益活動団体の広報力アップ講座"
SLUG = "pr-course-2027"


def log_in(page: Page, url: str, email: str) -> None:
    page.goto(url)
    expect(page).to_have_url(re.compile(r"/login"))
    page.locator("#email").fill(email)
    page.locator("#password").fill(ORGANIZER_PASSWORD)
    page.locator('form[action$="/login"] [type="submit"]').click()
    expect(page).to_have_url(re.compile(r"/admin/"))


def local_input(days_ahead: int, hour: int) -> str:
    """A datetime-local value in Tokyo time, as an organizer types it."""
    day = to_tokyo(utcnow() + timedelta(days=days_ahead))
    return day.replace(hour=hour, minute=0).strftime("%Y-%m-%dT%H:%M")


def test_office_publishes_an_event_then_checks_in_and_exports(live_server, new_page):
    category_id = str(make_category(slug="course", name_ja="講座・研修", name_en="Courses").id)
    venue_id = str(make_venue(name="YRP事務所").id)
    make_organizer(email="office@example.org")
    db.session.commit()

    # 1. The office logs in and writes a new event; it is saved as a draft.
    office = new_page()
    log_in(office, live_server("/admin/"), "office@example.org")
    office.goto(live_server("/admin/events/new"))
    form = office.locator("form.event-form")
    form.locator('[name="title"]').fill(TITLE)
    form.locator('[name="category_id"]').select_option(category_id)
    form.locator('[name="summary"]').fill("広報誌やSNSで活動を伝える力を身につける3回講座です。")
    form.locator('[name="body"]').fill("## 内容\n\n- 伝わる文章\n- 写真の撮り方\n- SNSの使い方")
    form.locator('[name="starts_at"]').fill(local_input(20, 14))
    form.locator('[name="ends_at"]').fill(local_input(20, 16))
    form.locator('[name="venue_id"]').select_option(venue_id)
    form.locator('[name="capacity"]').fill("20")
    form.locator('[name="fee_text"]').fill("無料")
    form.locator('[name="slug"]').fill(SLUG)
    form.locator('button[name="save"]').click()
    expect(office).to_have_url(re.compile(r"/admin/events/\d+$"))
    event_id = int(office.url.rsplit("/", 1)[1])
    db.session.remove()  # see what the server committed
    event = db.session.get(Event, event_id)
    assert (event.title, event.status, event.capacity) == (TITLE, EventStatus.draft, 20)
    assert to_tokyo(event.starts_at).hour == 14

    visitor = new_page()
    assert visitor.goto(live_server(f"/events/{SLUG}")).status == 404  # drafts stay hidden

    # 2. Published, it appears on the public site.
    office.locator('form[action$="/publish"] [type="submit"]').click()
    office.locator(f'a[href="/events/{SLUG}"]').click()
    expect(office.get_by_role("heading", level=1)).to_have_text(TITLE)
    visitor.goto(live_server("/"))
    visitor.get_by_role("link", name=TITLE).click()
    register_in_browser(
        visitor, visitor.url, name="逗子 三郎", kana="ずし さぶろう", email="saburo@example.org"
    )

    # 3. The office finds the registrant in the attendee list.
    office.goto(live_server(f"/admin/events/{event_id}"))
    office.locator(f'a[href^="/admin/events/{event_id}/attendees"]').first.click()
    expect(office.get_by_role("link", name="逗子 三郎")).to_be_visible()

    # 4. At the door: check-in from the reception page.
    office.goto(live_server(f"/admin/events/{event_id}/check-in"))
    office.locator(".checkin-search input[name=q]").fill("ずし")
    office.locator(".checkin-search [type=submit]").click()
    row = office.locator(".checkin-list li", has_text="逗子 三郎")
    row.locator('[type="submit"]').click()
    expect(office.locator(".checkin-list li.arrived", has_text="逗子 三郎")).to_be_visible()
    db.session.remove()
    registration = db.session.scalars(
        select(Registration).where(Registration.email == "saburo@example.org")
    ).one()
    assert registration.checked_in_at is not None

    # 5. The list goes out as a CSV that Excel opens (UTF-8 with a byte order mark).
    office.goto(live_server(f"/admin/events/{event_id}/export"))
    with office.expect_download() as download_info:
        office.locator('a[href*="attendees.csv"][href*="utf-8"]').click()
    data = download_info.value.path().read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    (saburo,) = [row for row in rows[1:] if "逗子 三郎" in row]
    assert "saburo@example.org" in saburo
    assert "ずし さぶろう" in saburo
