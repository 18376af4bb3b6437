"""Done means, for English content, courses and series (issue 13): in a real browser,
an English-speaking visitor reads the bilingual seminar entirely in English, registers
with a reading in Latin letters and gets an English email and calendar entry (an event
without English text says it is described in Japanese only); the office adds the
sessions of a three-session course in the console, a visitor registers, the office
moves the second session and the registrant is told about that session alone, while
the course's .ics changes in that session's entry only; and the office makes the next
six monthly 懇談会 from one in the console, 成人の日 skipped."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import holidays
import icalendar
import pytest
from dateutil.relativedelta import MO, relativedelta
from playwright.sync_api import Page, expect
from sqlalchemy import select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import Event, EventStatus, Registration
from cluster_events.timefmt import TOKYO, to_tokyo
from tests.e2e.conftest import LiveServer, mailing_inline
from tests.e2e.test_console_flow import local_input, log_in
from tests.e2e.test_registration_flow import wait_for_mail
from tests.e2e.visitors import register_in_browser
from tests.factories import make_category, make_event, make_organizer, make_venue

pytestmark = pytest.mark.browser

OFFICE = "office@example.org"

SEMINAR_SLUG = "beigun-nyusatsu-seminar"
SEMINAR_EN = "Seminar: bidding for US forces contracts in Japan"
SUMMARY_EN = (
    "How local businesses register for and bid on the procurement of the US forces in "
    "Japan, explained in Japanese and English."
)
BODY_EN = """\
How small and medium businesses near the bases can take part in the US forces' purchases
of goods, construction and services in Japan. Handouts are in Japanese and English.

## Programme
- How US forces procurement works, and where notices are published
- Registering in advance (SAM registration and others)
"""
FEE_EN = "2,000 yen (free for members)"
ACCESS_EN = "From Keikyu YRP-Nobi Station, take a Keikyu bus bound for YRP Center-mae."

COURSE = "市民公益活動団体の広報力アップ講座（全3回）"
COURSE_SLUG = "koho-ryoku-up-koza"

MEETING_SLUG = "kondankai-260"

#: Kana or kanji: a page or email "entirely in English" has none.
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff01-\uff5e]")


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server: Any) -> dict[str, Any]:
    return {**app_config, **mailing_inline(smtp_server)}


def plain_text(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def attached_calendar(message: EmailMessage) -> icalendar.Calendar:
    (part,) = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return icalendar.Calendar.from_ical(part.get_payload(decode=True))


def mail_to(smtp_server: Any, to: str) -> list[EmailMessage]:
    return [m for m in smtp_server.messages() if to in m["To"]]


def fetch_calendar(page: Page, url: str) -> icalendar.Calendar:
    response = page.request.get(url)
    assert response.ok, response.status
    assert response.headers["content-type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(response.body())


def in_tokyo(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TOKYO)


# --- a. English content and a reading in Latin letters ---------------------------------------


def test_an_english_speaker_reads_the_bilingual_seminar_in_english_and_registers(
    live_server: LiveServer, smtp_server: Any, new_page: Any
) -> None:
    seminar_day = to_tokyo(utcnow()).date() + timedelta(days=35)
    seminar_category = make_category(slug="seminar", name_ja="セミナー", name_en="Seminars")
    venue = make_venue(
        name="YRP事務所（YRPベンチャー棟209号）",
        name_en="YRP office (YRP Venture Building, room 209)",
        address_en="YRP Venture Building 209, 8-3 Hikarinooka, Yokosuka, Kanagawa",
        access_notes="京急線「YRP野比」駅から京急バス「YRPセンター前」行きで約10分。",
        access_notes_en=ACCESS_EN,
    )
    make_event(
        slug=SEMINAR_SLUG,
        category=seminar_category,
        venue=venue,
        title="米軍入札 参加支援セミナー",
        title_en=SEMINAR_EN,
        summary="在日米軍の調達に参加するための登録手続きと入札の流れを、日本語と英語でご説明します。",
        summary_en=SUMMARY_EN,
        body="## 内容\n\n- 米軍調達の仕組みと公告の探し方\n- 事前登録（SAM登録など）の手順",
        body_en=BODY_EN,
        fee_text="2,000円（会員無料）",
        fee_text_en=FEE_EN,
        capacity=40,
        starts_at=in_tokyo(seminar_day, 13).replace(minute=30),
        ends_at=in_tokyo(seminar_day, 16).replace(minute=30),
    )
    make_event(
        slug="tokkyo-sodankai",
        category=seminar_category,
        venue=venue,
        title="特許・知的財産 無料相談会",
        title_en="Free consultation on patents",
        summary="弁理士の会員が、特許や商標のご相談に無料でお答えします。",
        body="## ご相談の例\n\n- 特許が取れるか知りたい",
        starts_at=utcnow() + timedelta(days=21),
    )
    db.session.commit()

    # The catalogue in English, filtered to the events described in English.
    visitor = new_page(locale="en-US")
    visitor.goto(live_server("/?described=en"))
    expect(visitor.locator("html")).to_have_attribute("lang", "en")
    expect(visitor.get_by_role("link", name=SEMINAR_EN)).to_be_visible()
    expect(visitor.get_by_role("link", name="Free consultation on patents")).to_have_count(0)

    # The seminar's page is English from top to bottom: nothing in it is marked Japanese.
    visitor.get_by_role("link", name=SEMINAR_EN).click()
    expect(visitor).to_have_url(live_server(f"/events/{SEMINAR_SLUG}"))
    article = visitor.locator("article.event-detail")
    expect(article.get_by_role("heading", level=1)).to_have_text(SEMINAR_EN)
    expect(article.locator("p.lead")).to_have_text(SUMMARY_EN)
    expect(article.locator(".event-body")).to_contain_text(
        "Registering in advance (SAM registration and others)"
    )
    expect(article.locator(".event-body h3, .event-body h2")).to_contain_text(["Programme"])
    facts = article.locator("dl.event-facts")
    expect(facts).to_contain_text(FEE_EN)
    expect(facts).to_contain_text(ACCESS_EN)
    expect(facts).to_contain_text("YRP office (YRP Venture Building, room 209)")
    expect(article.locator(".notice--language")).to_have_count(0)
    expect(article.locator('[lang="ja"]')).to_have_count(0)
    facts_and_body = article.locator("dl.event-facts, h1, p.lead, .event-body").all_inner_texts()
    assert not [text for text in facts_and_body if JAPANESE.search(text)], facts_and_body

    # The English form takes a reading in Latin letters.
    form = visitor.locator("form.registration-form")
    expect(form.locator('label[for="name_kana"]')).to_contain_text(
        "Reading of your name, if you know it in kana"
    )
    form.locator('[name="name"]').fill("John Smith")
    form.locator('[name="name_kana"]').fill("Smith John")
    form.locator('[name="email"]').fill("john.smith@example.com")
    form.locator('[name="organization"]').fill("Smith Trading LLC")
    form.locator('[name="member_type"][value="general"]').check()
    form.locator('[name="agree_privacy"]').check()
    form.locator('[type="submit"]').click()
    expect(visitor).to_have_url(re.compile(r"/registrations/[^/?#]+"))
    expect(visitor.locator("html")).to_have_attribute("lang", "en")
    expect(visitor.locator("main")).to_contain_text(SEMINAR_EN)
    db.session.remove()
    registration = db.session.scalars(
        select(Registration).where(Registration.email == "john.smith@example.com")
    ).one()
    assert (registration.name, registration.name_kana) == ("John Smith", "Smith John")
    assert (registration.status, registration.locale) == ("confirmed", "en")

    # The confirmation email, and its calendar entry, are English.
    mail = wait_for_mail(smtp_server, "john.smith@example.com")
    # (A subject this long is folded before its first word; Python's parser keeps the
    # space of the fold, which mail clients drop.)
    assert mail["Subject"].strip() == f"Registration received: {SEMINAR_EN}"
    text = plain_text(mail)
    assert "Dear John Smith," in text
    assert "Your seat is confirmed." in text
    for english in (SEMINAR_EN, FEE_EN, ACCESS_EN, "YRP office (YRP Venture Building"):
        assert english in text, english
    assert "13:30–16:30 JST" in text
    # Only the office's postal address in the signature stays Japanese.
    assert [line for line in text.splitlines() if JAPANESE.search(line)] == [
        live_server.app.config["SITE_CONTACT_ADDRESS"]
    ]
    (entry,) = attached_calendar(mail).walk("VEVENT")
    assert str(entry["summary"]) == SEMINAR_EN
    description = str(entry["description"])
    assert SUMMARY_EN in description and FEE_EN in description
    assert "Japanese only" not in description
    assert not JAPANESE.search(str(entry["summary"]) + description), description

    # An event the office described in Japanese only says so on the English page, and
    # its Japanese text is marked as Japanese for screen readers.
    visitor.goto(live_server("/events/tokkyo-sodankai"))
    article = visitor.locator("article.event-detail")
    expect(article.get_by_role("heading", level=1)).to_have_text("Free consultation on patents")
    expect(article.locator(".notice--language")).to_have_text(
        "This event is described in Japanese only."
    )
    lead = article.locator("p.lead")
    expect(lead).to_have_attribute("lang", "ja")
    expect(lead).to_have_text("弁理士の会員が、特許や商標のご相談に無料でお答えします。")
    expect(article.locator('.event-body [lang="ja"]')).to_contain_text("特許が取れるか知りたい")


# --- b. A course of three sessions; the second one moves ------------------------------------


def add_session(office: Page, days_ahead: int, number: int) -> None:
    form = office.locator('section[aria-labelledby="add-session-title"] form')
    form.locator('[name="starts_at"]').fill(local_input(days_ahead, 14))
    form.locator('[name="ends_at"]').fill(local_input(days_ahead, 16))
    form.get_by_role("button", name="この回を追加する").click()
    expect(office.locator(".flash--success")).to_contain_text(f"第{number}回を追加しました。")


def sessions_by_uid(calendar: icalendar.Calendar) -> dict[str, icalendar.Event]:
    return {str(entry["uid"]): entry for entry in calendar.walk("VEVENT")}


def test_a_course_of_three_sessions_and_its_second_session_moved(
    live_server: LiveServer, smtp_server: Any, new_page: Any
) -> None:
    course = make_event(
        slug=COURSE_SLUG,
        title=COURSE,
        category=make_category(slug="course", name_ja="講座・研修", name_en="Courses"),
        starts_at=datetime.fromisoformat(local_input(20, 14)).replace(tzinfo=TOKYO),
        ends_at=datetime.fromisoformat(local_input(20, 16)).replace(tzinfo=TOKYO),
        capacity=25,
    )
    make_organizer(email=OFFICE)
    db.session.commit()

    # The office adds sessions 2 and 3 on the course's sessions page.
    office = new_page()
    log_in(office, live_server("/admin/"), OFFICE)
    office.goto(live_server(f"/admin/events/{course.id}"))
    office.get_by_role("link", name="各回（日程）を管理する").click()
    expect(office).to_have_url(live_server(f"/admin/events/{course.id}/sessions"))
    add_session(office, 27, 2)
    add_session(office, 34, 3)
    expect(office.locator("table.data tbody tr")).to_have_count(3)
    db.session.remove()
    first, second, third = db.session.get(Event, course.id).sessions
    assert [to_tokyo(s.starts_at).strftime("%Y-%m-%dT%H:%M") for s in (first, second, third)] == [
        local_input(20, 14),
        local_input(27, 14),
        local_input(34, 14),
    ]
    assert len({first.uid, second.uid, third.uid}) == 3

    # The public page lists the three sessions; one registration covers them all.
    visitor = new_page()
    visitor.goto(live_server(f"/events/{COURSE_SLUG}"))
    sessions = visitor.locator("article.event-detail ol.session-list li")
    expect(sessions).to_have_count(3)
    for number, item in enumerate(sessions.all(), start=1):
        expect(item).to_contain_text(f"第{number}回")
        expect(item).to_contain_text("14:00")
    expect(visitor.locator("article.event-detail")).to_contain_text(
        "1回のお申込みで、すべての回にご参加いただけます。"
    )
    register_in_browser(
        visitor, visitor.url, name="逗子 三郎", kana="ずし さぶろう", email="saburo@example.org"
    )
    confirmation = wait_for_mail(smtp_server, "saburo@example.org")
    assert COURSE in confirmation["Subject"]
    assert all(f"第{n}回" in plain_text(confirmation) for n in (1, 2, 3))
    assert list(sessions_by_uid(attached_calendar(confirmation))) == [
        first.uid,
        second.uid,
        third.uid,
    ]
    before = sessions_by_uid(fetch_calendar(visitor, live_server(f"/events/{COURSE_SLUG}.ics")))
    assert list(before) == [first.uid, second.uid, third.uid]

    # The office moves session 2 to the evening and tells the registrant.
    office.goto(live_server(f"/admin/events/{course.id}/sessions"))
    office.locator(f'a[href="/admin/events/{course.id}/sessions/{second.id}"]').first.click()
    expect(office.get_by_role("heading", level=1)).to_have_text("第2回")
    form = office.locator(f'form[action$="/sessions/{second.id}"]')
    form.locator('[name="starts_at"]').fill(local_input(27, 18))
    form.locator('[name="ends_at"]').fill(local_input(27, 20))
    expect(form.locator('[name="notify"]')).to_be_checked()
    form.get_by_role("button", name="保存する").click()
    expect(office).to_have_url(live_server(f"/admin/events/{course.id}/sessions"))
    expect(office.locator(".flash--success").last).to_have_text(
        "1 名のお申込者にメールでお知らせします。"
    )

    # One email, about session 2 alone, with session 2's entry alone.
    change = wait_for_mail(smtp_server, "saburo@example.org", 2)
    assert change["Subject"] == f"【日程変更（1回分）】{COURSE}"
    text = plain_text(change)
    assert "お申込みいただいた講座のうち、1回分の内容が変わりました。" in text
    moved_line = next(line for line in text.splitlines() if line.startswith("第2回"))
    assert "18:00" in moved_line, text
    (entry,) = attached_calendar(change).walk("VEVENT")
    assert str(entry["uid"]) == second.uid
    assert int(entry["sequence"]) == int(before[second.uid]["sequence"]) + 1
    time.sleep(2)  # an email about another session would have come by now
    assert len(mail_to(smtp_server, "saburo@example.org")) == 2

    # Subscribers: the course's .ics still has three entries; only session 2's changed.
    after = sessions_by_uid(fetch_calendar(visitor, live_server(f"/events/{COURSE_SLUG}.ics")))
    assert list(after) == [first.uid, second.uid, third.uid]
    assert [int(after[uid]["sequence"]) - int(before[uid]["sequence"]) for uid in after] == [
        0,
        1,
        0,
    ]
    assert to_tokyo(after[second.uid].decoded("dtstart")).hour == 18
    for unchanged in (first.uid, third.uid):
        assert after[unchanged].to_ical() == before[unchanged].to_ical()
    db.session.remove()
    moved = db.session.get(Event, course.id).sessions[1]
    assert (to_tokyo(moved.starts_at).hour, to_tokyo(moved.ends_at).hour) == (18, 20)


# --- c. The next six monthly 懇談会, a holiday skipped -------------------------------------


def second_monday(year: int, month: int) -> date:
    return date(year, month, 1) + relativedelta(weekday=MO(2))


def next_second_monday_of_december() -> date:
    """December 2026's, or a later December's when that one has passed: January's second
    Monday after it is always 成人の日."""
    today = to_tokyo(utcnow()).date()
    year = today.year
    while second_monday(year, 12) <= today + timedelta(days=1):
        year += 1
    return second_monday(year, 12)


def test_the_office_makes_the_next_six_monthly_meetings_skipping_a_holiday(
    live_server: LiveServer, new_page: Any
) -> None:
    source_day = next_second_monday_of_december()
    coming_of_age_day = second_monday(source_day.year + 1, 1)
    japan = holidays.Japan(years=range(source_day.year, source_day.year + 2), language="ja")
    assert japan.get(coming_of_age_day) == "成人の日"
    expected_days = [
        day
        for day in (second_monday(source_day.year + 1, month) for month in range(1, 13))
        if day not in japan
    ][:6]
    source = make_event(
        slug=MEETING_SLUG,
        title="経営研究・懇談会（第260回）",
        category=make_category(
            slug="study-meeting", name_ja="経営研究・懇談会", name_en="Management study meetings"
        ),
        starts_at=in_tokyo(source_day, 18),
        ends_at=in_tokyo(source_day, 20),
        capacity=30,
    )
    make_organizer(email=OFFICE)
    db.session.commit()
    source_id, source_uid = source.id, source.uid

    office = new_page()
    log_in(office, live_server("/admin/"), OFFICE)
    office.goto(live_server(f"/admin/events/{source_id}"))
    office.get_by_role("link", name="繰り返して作成（毎月・隔週など）").click()
    expect(office).to_have_url(live_server(f"/admin/events/{source_id}/series"))
    form = office.locator("main form")
    form.locator('[name="frequency"][value="monthly_by_weekday"]').check()
    form.locator('[name="interval"]').fill("1")
    form.locator('[name="count"]').fill("6")
    form.locator('[name="holiday_calendar"][value="JP"]').check()
    form.locator('button[name="preview"]').click()

    # The preview: six dates, and 成人の日 marked as not made.
    rows = office.locator("table.series-dates tbody tr")
    expect(rows).to_have_count(7)
    skipped = rows.filter(has_text="成人の日")
    expect(skipped).to_have_count(1)
    expect(skipped).to_have_class(re.compile(r"\bmuted\b"))
    expect(skipped).to_contain_text("作成しません")
    expect(skipped).to_contain_text(
        f"{coming_of_age_day.year}年{coming_of_age_day.month}月{coming_of_age_day.day}日"
    )
    made_rows = rows.filter(has_not_text="成人の日")
    expect(made_rows).to_have_count(6)
    for number, row in enumerate(made_rows.all(), start=261):
        expect(row).to_contain_text(f"経営研究・懇談会（第{number}回）")
    office.locator('button[name="create"]').click()

    # Six drafts, each its own event, listed in the console.
    expect(office).to_have_url(re.compile(r"/admin/events\?show=draft$"))
    expect(office.locator(".flash--success")).to_contain_text("第261回")
    db.session.remove()
    copies = db.session.scalars(
        select(Event).where(Event.id != source_id).order_by(Event.starts_at)
    ).all()
    assert [to_tokyo(e.starts_at).date() for e in copies] == expected_days
    assert coming_of_age_day not in [to_tokyo(e.starts_at).date() for e in copies]
    assert all(e.status == EventStatus.draft for e in copies)
    assert all((to_tokyo(e.starts_at).hour, to_tokyo(e.ends_at).hour) == (18, 20) for e in copies)
    uids = {e.uid for e in copies}
    assert len(uids) == 6 and source_uid not in uids
    assert [e.title for e in copies] == [f"経営研究・懇談会（第{n}回）" for n in range(261, 267)]
    for event in copies:
        expect(office.get_by_role("link", name=event.title, exact=True)).to_be_visible()
    assert db.session.get(Event, source_id).status == EventStatus.published
