"""The member list's import and download in a real browser: an admin imports an .xlsx
made by openpyxl here, the problems of a bad file are read from the page, and the new
pages pass axe-core in both languages and fit a 360px phone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from cluster_events.extensions import db
from cluster_events.models import Member, MemberPerson
from tests.e2e.test_console_flow import log_in
from tests.e2e.test_public_pages import _blocking_violations, _describe
from tests.factories import make_organizer
from tests.test_member_import import ROWS, _bad, xlsx

pytestmark = pytest.mark.browser

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def admin(live_server, new_page) -> Page:
    make_organizer(email="boss@example.org", role="admin", name="事務局長")
    db.session.commit()
    page = new_page()
    log_in(page, live_server("/admin/"), "boss@example.org")
    return page


def _choose(page: Page, content: bytes, name: str = "会員名簿.xlsx") -> None:
    page.locator("#file").set_input_files({"name": name, "mimeType": XLSX_TYPE, "buffer": content})
    page.get_by_role("button", name=re.compile("ファイルを確認する|Check the file")).click()


def _counts() -> tuple[int, int]:
    db.session.remove()
    return (
        db.session.scalar(select(func.count(Member.id))),
        db.session.scalar(select(func.count(MemberPerson.id))),
    )


def test_an_admin_imports_the_member_list_from_an_xlsx(live_server, admin: Page):
    admin.goto(live_server("/admin/members"))
    admin.get_by_role("link", name="取り込み（Excel・CSV）").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("会員名簿の取り込み")

    _choose(admin, xlsx(ROWS))
    expect(admin.get_by_role("heading", level=1)).to_have_text(
        "取り込む前に変更内容をご確認ください"
    )
    expect(admin.locator("#summary")).to_contain_text("会員")
    expect(admin.locator("#planned-changes")).to_contain_text("担当者を追加：鈴木花子")
    assert _counts() == (0, 0)

    admin.get_by_role("button", name="取り込む").click()
    expect(admin).to_have_url(re.compile(r"/admin/members$"))
    expect(admin.locator(".flash--success")).to_contain_text("会員：追加2件")
    expect(admin.get_by_role("link", name="株式会社さくら精機")).to_be_visible()
    assert _counts() == (2, 3)


def test_the_problems_of_a_bad_file_are_listed_by_row_and_column(live_server, admin: Page):
    admin.goto(live_server("/admin/members/import"))
    email = 8  # メールアドレス
    _choose(admin, xlsx(_bad({0: {email: "yamada@@example"}, 2: {1: "会社"}})))
    expect(admin.locator("#file-error")).to_contain_text("何も取り込んでいません")
    rows = admin.locator("#problems tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("2")
    expect(rows.nth(0)).to_contain_text("メールアドレス")
    expect(rows.nth(1)).to_contain_text("種別")
    admin.locator("#error-summary").get_by_role("link").first.click()
    expect(admin.locator("#file")).to_be_focused()
    assert _counts() == (0, 0)


def _new_pages(live_server: Any, page: Page, lang: str) -> dict[str, Any]:
    """Each new page, reached as an office would: a name and how to get there."""

    def upload_form() -> None:
        page.goto(live_server(f"/admin/members/import?lang={lang}"))

    def problems() -> None:
        upload_form()
        _choose(page, xlsx(_bad({0: {8: "nope"}})))
        expect(page.locator("#problems")).to_be_visible()

    def preview() -> None:
        upload_form()
        _choose(page, xlsx(ROWS))
        expect(page.locator("#summary")).to_be_visible()

    def export() -> None:
        page.goto(live_server(f"/admin/members/export?lang={lang}"))

    return {"import": upload_form, "problems": problems, "preview": preview, "export": export}


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_no_serious_accessibility_violations(live_server, admin: Page, lang: str):
    for name, open_page in _new_pages(live_server, admin, lang).items():
        open_page()
        violations = _blocking_violations(admin)
        assert not violations, f"axe-core on {name} ({lang}):\n{_describe(violations)}"


def test_the_pages_fit_a_360px_phone(live_server, admin: Page, artifacts_dir: Path):
    admin.set_viewport_size({"width": 360, "height": 740})
    for name, open_page in _new_pages(live_server, admin, "ja").items():
        open_page()
        admin.screenshot(path=artifacts_dir / f"member-{name}-360.png", full_page=True)
        overflow = admin.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} at 360px scrolls sideways by {overflow}px"


def demo_member_rows() -> list[list[str]]:
    """The demo member list (seed-demo's 19 companies and 29 individual members) as the
    office would type it into Excel: made in a transaction that is rolled back, so the
    list to import into stays empty."""
    from cluster_events import demo

    kinds = {"corporate": "法人", "individual": "個人"}
    statuses = {"active": "有効", "lapsed": "休会", "withdrawn": "退会"}
    demo._ensure_members()
    rows = []
    for member in db.session.scalars(select(Member).order_by(Member.number)):
        for person in member.current_people:
            rows.append(
                [
                    member.number,
                    kinds[member.kind],
                    member.name,
                    member.name_kana,
                    statuses[member.status],
                    member.joined_on.isoformat(),
                    person.name,
                    person.name_kana,
                    person.email,
                    person.phone,
                    person.department,
                    person.title,
                    member.note,
                ]
            )
    db.session.rollback()
    assert _counts() == (0, 0)
    return rows


def test_an_admin_imports_the_demo_member_list(live_server, admin: Page):
    rows = demo_member_rows()
    assert len({row[0] for row in rows}) == 48
    admin.goto(live_server("/admin/members/import"))
    _choose(admin, xlsx(rows), name="会員名簿2026.xlsx")
    expect(admin.get_by_role("heading", level=1)).to_have_text(
        "取り込む前に変更内容をご確認ください"
    )
    admin.get_by_role("button", name="取り込む").click()
    expect(admin).to_have_url(re.compile(r"/admin/members$"))
    expect(admin.locator(".flash--success")).to_contain_text("会員：追加48件")

    db.session.remove()
    imported = {
        (m.number, m.kind, m.name, m.status): sorted(p.email for p in m.current_people)
        for m in db.session.scalars(select(Member))
    }
    kinds = {"法人": "corporate", "個人": "individual"}
    statuses = {"有効": "active", "休会": "lapsed", "退会": "withdrawn"}
    expected: dict[tuple[str, str, str, str], list[str]] = {}
    for row in rows:
        key = (row[0], kinds[row[1]], row[2], statuses[row[4]])
        expected.setdefault(key, []).append(row[8])
    assert imported == {key: sorted(emails) for key, emails in expected.items()}
    corporate = sum(1 for number, kind, _, _ in imported if kind == "corporate")
    assert (corporate, len(imported) - corporate) == (19, 29)
