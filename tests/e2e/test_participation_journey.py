"""Done means, for the ways to take part (issue 12): in a real browser, the office sets
up next month's 懇談会 with a 会員枠 of 15 and a 一般枠 of 5 (taking companions) and one
question, and a seminar whose seats are drawn by lot, all through the console. A member
signs in with the emailed link and takes the 会員枠; a visitor takes the 一般枠 with a
companion; a visitor is not offered the 会員枠, and a form sent for it anyway is
refused. Visitors enter the lottery, its deadline passes, the office draws it with
「抽選する」 and the 当選 / 落選 emails reach the SMTP server. The attendee list and the
.xlsx show frames, answers and companions (one row per person)."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import (
    Event,
    EventQuestion,
    EventStatus,
    Frame,
    FrameEligibility,
    FrameSelection,
    LotteryDraw,
    Registration,
)
from tests.e2e.conftest import LiveServer, mailing_inline
from tests.e2e.test_console_flow import local_input, log_in
from tests.e2e.test_member_sign_in_pages import ask_for_a_link, sign_in_link
from tests.e2e.test_registration_flow import wait_for_mail
from tests.e2e.visitors import register_in_browser
from tests.factories import make_category, make_organizer, make_venue
from tests.members import first_person, make_member

pytestmark = pytest.mark.browser

MEETING = "経営研究・懇談会（第240回）"
MEETING_SLUG = "kondankai-240"
SEMINAR = "特許取得セミナー"
SEMINAR_SLUG = "patent-seminar"
QUESTION = "懇親会に出席されますか"
ATTENDING, NOT_ATTENDING = "出席します", "欠席します"
MEMBER_EMAIL = "fumiko@example.jp"
GUEST_EMAIL = "zushi@example.org"
ENTRANTS = ["entrant1@example.org", "entrant2@example.org", "entrant3@example.org"]


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server: Any) -> dict[str, Any]:
    return {**app_config, **mailing_inline(smtp_server)}


def fresh_event(slug: str) -> Event:
    db.session.remove()  # see what the server committed
    return db.session.scalars(select(Event).where(Event.slug == slug)).one()


def fresh_event_by_id(event_id: int) -> Event:
    db.session.remove()
    return db.session.get(Event, event_id)


def registration_of(email: str) -> Registration:
    db.session.remove()
    return db.session.scalars(select(Registration).where(Registration.email == email)).one()


def write_event(
    office: Page, live_server: LiveServer, *, title: str, slug: str, category_id: int, **values
) -> int:
    """The office's new-event form, filled and saved as a draft; the event's id."""
    office.goto(live_server("/admin/events/new"))
    form = office.locator("form.event-form")
    form.locator('[name="title"]').fill(title)
    form.locator('[name="category_id"]').select_option(str(category_id))
    form.locator('[name="summary"]').fill(values["summary"])
    form.locator('[name="starts_at"]').fill(local_input(values["days_ahead"], values["hour"]))
    form.locator('[name="ends_at"]').fill(local_input(values["days_ahead"], values["hour"] + 2))
    form.locator('[name="venue_id"]').select_option(str(values["venue_id"]))
    form.locator('[name="capacity"]').fill(str(values["capacity"]))
    form.locator('[name="fee_text"]').fill(values["fee"])
    form.locator('[name="slug"]').fill(slug)
    form.locator('button[name="save"]').click()
    expect(office).to_have_url(re.compile(r"/admin/events/\d+$"))
    return int(office.url.rsplit("/", 1)[1])


def edit_only_frame(office: Page, live_server: LiveServer, event_id: int) -> Any:
    """Opens the console's page of the event's one frame (made with the event) from the
    event's page; returns its form."""
    office.goto(live_server(f"/admin/events/{event_id}"))
    office.locator(f'a[href="/admin/events/{event_id}/frames"]').click()
    frame_id = fresh_event_by_id(event_id).frames[0].id
    office.locator(f'a[href="/admin/events/{event_id}/frames/{frame_id}"]').first.click()
    return office.locator(f'form[action$="/frames/{frame_id}"]')


def publish(office: Page, live_server: LiveServer, event_id: int) -> None:
    office.goto(live_server(f"/admin/events/{event_id}"))
    office.locator('form[action$="/publish"] [type="submit"]').click()
    expect(office.locator('form[action$="/unpublish"]')).to_be_visible()


def set_up_the_meeting(
    office: Page, live_server: LiveServer, category_id: int, venue_id: int
) -> int:
    event_id = write_event(
        office,
        live_server,
        title=MEETING,
        slug=MEETING_SLUG,
        category_id=category_id,
        summary="会員の皆さまと、会員の紹介でお越しの方の懇談会です。",
        days_ahead=30,
        hour=18,
        venue_id=venue_id,
        capacity=15,
        fee="会員無料・一般1,000円",
    )
    # The frame made with the event becomes the 会員枠 of 15 seats.
    form = edit_only_frame(office, live_server, event_id)
    form.locator('[name="name_ja"]').fill("会員枠")
    form.locator('[name="name_en"]').fill("Member seats")
    form.locator('[name="capacity"]').fill("15")
    form.locator(f'[name="eligibility"][value="{FrameEligibility.members.value}"]').check()
    form.locator('[type="submit"]').click()
    expect(office).to_have_url(live_server(f"/admin/events/{event_id}/frames"))

    # A 一般枠 of 5 for anyone, each registrant bringing up to two companions.
    add = office.locator('section[aria-labelledby="add-frame-title"] form')
    add.locator('[name="name_ja"]').fill("一般枠")
    add.locator('[name="name_en"]').fill("General seats")
    add.locator('[name="capacity"]').fill("5")
    add.locator(f'[name="eligibility"][value="{FrameEligibility.anyone.value}"]').check()
    add.locator('[name="fee_text"]').fill("1,000円")
    add.locator('[name="max_companions"]').fill("2")
    add.locator('[type="submit"]').click()
    expect(office).to_have_url(live_server(f"/admin/events/{event_id}/frames"))
    table = office.locator("table.frame-table")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").nth(0)).to_contain_text("会員枠")
    expect(table.locator("tbody tr").nth(1)).to_contain_text("一般枠")
    expect(table.locator("tfoot")).to_contain_text("20")

    # One question for everyone: attending the dinner after the meeting.
    office.goto(live_server(f"/admin/events/{event_id}"))
    office.locator(f'a[href="/admin/events/{event_id}/questions"]').click()
    office.locator(f'a[href="/admin/events/{event_id}/questions/new"]').click()
    form = office.locator("form", has=office.locator('[name="label_ja"]'))
    form.locator('[name="kind"]').select_option("one_choice")
    form.locator('[name="label_ja"]').fill(QUESTION)
    form.locator('[name="label_en"]').fill("Will you join the dinner?")
    form.locator('[name="choices"]').fill(f"{ATTENDING}\n{NOT_ATTENDING}")
    form.locator('[name="choices_en"]').fill("Yes\nNo")
    form.locator('[name="is_required"]').check()
    form.locator('[type="submit"]').click()
    expect(office).to_have_url(re.compile(rf"/admin/events/{event_id}/questions"))
    expect(office.get_by_role("link", name=QUESTION)).to_be_visible()
    publish(office, live_server, event_id)

    event = fresh_event(MEETING_SLUG)
    assert event.status == EventStatus.published
    assert (event.capacity, event.frame_count) == (20, 2)
    assert [
        (f.name_ja, f.capacity, f.eligibility, f.max_companions, f.selection) for f in event.frames
    ] == [
        ("会員枠", 15, FrameEligibility.members, 0, FrameSelection.first_come),
        ("一般枠", 5, FrameEligibility.anyone, 2, FrameSelection.first_come),
    ]
    (question,) = db.session.scalars(
        select(EventQuestion).where(EventQuestion.event_id == event.id)
    ).all()
    assert (question.kind, question.is_required, question.frame_id) == ("one_choice", True, None)
    assert [c["ja"] for c in question.choices] == [ATTENDING, NOT_ATTENDING]
    return event_id


def set_up_the_seminar(
    office: Page, live_server: LiveServer, category_id: int, venue_id: int
) -> int:
    event_id = write_event(
        office,
        live_server,
        title=SEMINAR,
        slug=SEMINAR_SLUG,
        category_id=category_id,
        summary="弁理士による特許取得の基礎講座です。応募多数の場合は抽選です。",
        days_ahead=14,
        hour=14,
        venue_id=venue_id,
        capacity=2,
        fee="無料",
    )
    form = edit_only_frame(office, live_server, event_id)
    form.locator('[name="name_ja"]').fill("抽選枠")
    form.locator(f'[name="selection"][value="{FrameSelection.lottery.value}"]').check()
    form.locator('[name="registration_closes_at"]').fill(local_input(2, 12))
    form.locator('[type="submit"]').click()
    expect(office).to_have_url(live_server(f"/admin/events/{event_id}/frames"))
    publish(office, live_server, event_id)

    event = fresh_event(SEMINAR_SLUG)
    (frame,) = event.frames
    assert event.status == EventStatus.published
    assert (frame.selection, frame.capacity, frame.drawn_at) == (FrameSelection.lottery, 2, None)
    assert frame.draw_at is not None and frame.draw_at > utcnow() + timedelta(days=1)
    return event_id


def answer_and_send(form: Any, answer: str) -> None:
    form.get_by_label(answer, exact=True).check()
    form.locator('[name="agree_privacy"]').check()
    form.locator('[type="submit"]').click()


def fill_visitor(form: Any, *, name: str, kana: str, email: str) -> None:
    form.locator('[name="name"]').fill(name)
    form.locator('[name="name_kana"]').fill(kana)
    form.locator('[name="email"]').fill(email)
    form.locator('[name="member_type"][value="general"]').check()


def test_frames_a_lottery_questions_and_companions_from_the_console_to_the_xlsx(
    live_server, smtp_server, new_page
):
    meeting_category = make_category(
        slug="kondankai", name_ja="経営研究・懇談会", name_en="Management study meetings"
    ).id
    seminar_category = make_category(slug="seminar", name_ja="セミナー", name_en="Seminars").id
    venue = make_venue(name="YRP事務所").id
    make_organizer(email="office@example.org")
    db.session.commit()  # the member service below starts a transaction of its own
    make_member(
        name="三浦 文子",
        name_kana="みうら ふみこ",
        number="I-0042",
        people=[{"name": "三浦 文子", "name_kana": "みうら ふみこ", "email": MEMBER_EMAIL}],
    )
    db.session.commit()

    # a, b. The office sets up both events in the console and publishes them.
    office = new_page()
    log_in(office, live_server("/admin/"), "office@example.org")
    meeting_id = set_up_the_meeting(office, live_server, meeting_category, venue)
    seminar_id = set_up_the_seminar(office, live_server, seminar_category, venue)
    member_frame, guest_frame = (f.id for f in fresh_event_by_id(meeting_id).frames)

    # c1. A member signs in with the emailed link and takes the 会員枠.
    member = new_page()
    ask_for_a_link(member, live_server, MEMBER_EMAIL)
    member.goto(sign_in_link(wait_for_mail(smtp_server, MEMBER_EMAIL), live_server.url))
    member.get_by_role("button", name="ログインする").click()
    expect(member).to_have_url(live_server("/members/me"))
    member.goto(live_server(f"/events/{MEETING_SLUG}"))
    form = member.locator("form.registration-form")
    expect(form.locator('[name="frame"]')).to_have_count(2)
    expect(form.locator('[name="name"]')).to_have_value("三浦 文子")
    form.get_by_label("会員枠", exact=True).check()
    answer_and_send(form, ATTENDING)
    expect(member).to_have_url(re.compile(r"/registrations/[^/?#]+"))
    expect(member.locator(".notice--ok").first).to_be_visible()
    mine = registration_of(MEMBER_EMAIL)
    assert (mine.status, mine.frame_id, mine.party_size) == ("confirmed", member_frame, 1)
    assert mine.member_person_id == first_person(mine.member_person.member).id
    assert [[c["ja"] for c in a.choices] for a in mine.answers] == [[ATTENDING]]
    confirmation = wait_for_mail(smtp_server, MEMBER_EMAIL, 2)
    assert MEETING in confirmation["Subject"]
    assert ATTENDING in confirmation.get_body(preferencelist=("plain",)).get_content()

    # c2. A visitor is offered the 一般枠 only, and takes it with a companion.
    guest = new_page()
    guest.goto(live_server(f"/events/{MEETING_SLUG}"))
    form = guest.locator("form.registration-form")
    expect(form.locator('[name="frame"]')).to_have_count(1)
    expect(form.locator(f'[name="frame"][value="{member_frame}"]')).to_have_count(0)
    expect(form.get_by_label("一般枠", exact=True)).to_be_checked()
    expect(form.locator('[name="companion_3_name"]')).to_have_count(0)
    fill_visitor(form, name="逗子 次郎", kana="ずし じろう", email=GUEST_EMAIL)
    form.locator('[name="organization"]').fill("逗子精工株式会社")
    form.locator('[name="companion_1_name"]').fill("逗子 花子")
    form.locator('[name="companion_1_kana"]').fill("ズシ ハナコ")
    answer_and_send(form, NOT_ATTENDING)
    expect(guest).to_have_url(re.compile(r"/registrations/[^/?#]+"))
    expect(guest.get_by_text("逗子 花子")).to_be_visible()
    party = registration_of(GUEST_EMAIL)
    assert (party.status, party.frame_id, party.party_size) == ("confirmed", guest_frame, 2)
    assert [(c.name, c.name_kana) for c in party.companions] == [("逗子 花子", "ずし はなこ")]
    assert [[c["ja"] for c in a.choices] for a in party.answers] == [[NOT_ATTENDING]]
    assert MEETING in wait_for_mail(smtp_server, GUEST_EMAIL)["Subject"]

    # c3. A visitor who sends the form for the 会員枠 anyway (the radio's value changed
    # in the page) is refused beside the frame, and nothing is written.
    outsider = new_page()
    outsider.goto(live_server(f"/events/{MEETING_SLUG}"))
    form = outsider.locator("form.registration-form")
    fill_visitor(form, name="葉山 三郎", kana="はやま さぶろう", email="hayama@example.org")
    form.locator('[name="frame"]').evaluate("(radio, id) => { radio.value = id; }", member_frame)
    with outsider.expect_response(lambda r: r.request.method == "POST") as posted:
        answer_and_send(form, ATTENDING)
    assert posted.value.status == 400
    expect(outsider.locator("#frame")).to_contain_text("この参加枠は会員限定です")
    db.session.remove()
    assert (
        db.session.scalar(select(Registration.id).where(Registration.email == "hayama@example.org"))
        is None
    )
    meeting = fresh_event_by_id(meeting_id)
    assert [(f.confirmed_count, f.waiting_count) for f in meeting.frames] == [(1, 0), (2, 0)]
    assert meeting.confirmed_count == 3

    # d. Three visitors enter the lottery for two seats; the deadline passes.
    for number, email in enumerate(ENTRANTS, start=1):
        entrant = new_page()
        entrant.goto(live_server(f"/events/{SEMINAR_SLUG}"))
        expect(entrant.get_by_role("button", name="抽選に応募する")).to_be_visible()
        register_in_browser(
            entrant, entrant.url, name=f"応募 {number}郎", kana="おうぼ", email=email
        )
        assert registration_of(email).status == "entered"
        assert "抽選のお申込み受付" in wait_for_mail(smtp_server, email)["Subject"]
    seminar = fresh_event_by_id(seminar_id)
    lottery_frame = seminar.frames[0].id
    assert (seminar.confirmed_count, seminar.waiting_count) == (0, 0)
    db.session.execute(
        update(Frame)
        .where(Frame.id == lottery_frame)
        .values(registration_closes_at=utcnow() - timedelta(minutes=5))
    )
    db.session.commit()

    # The office draws it now from the frame's page («抽選する»).
    office.goto(live_server(f"/admin/events/{seminar_id}/frames/{lottery_frame}"))
    office.get_by_role("button", name="抽選する").click()
    expect(office.locator(".flash--success")).to_have_text(
        "抽選を行いました。当選 2名、キャンセル待ち 1名です。全員に結果をメールでお知らせします。"
    )
    draw = db.session.scalars(
        select(LotteryDraw).where(LotteryDraw.frame_id == lottery_frame)
    ).one()
    expect(office.locator("#lottery")).to_contain_text(draw.seed)
    expect(office.locator("#lottery")).to_contain_text(draw.entries_sha256)
    results = {email: registration_of(email) for email in ENTRANTS}
    winners = sorted(e for e, r in results.items() if r.lottery_result == "won")
    (loser,) = [e for e, r in results.items() if r.lottery_result == "lost"]
    assert len(winners) == 2
    assert all(results[e].status == "confirmed" for e in winners)
    assert (results[loser].status, results[loser].waiting_position) == ("waiting", 1)
    for email in winners:
        assert wait_for_mail(smtp_server, email, 2)["Subject"] == f"【抽選結果・当選】{SEMINAR}"
    assert (
        wait_for_mail(smtp_server, loser, 2)["Subject"]
        == f"【抽選結果・落選（キャンセル待ち）】{SEMINAR}"
    )
    # The cron command finds nothing left to draw: a lottery is drawn once.
    outcome = live_server.app.test_cli_runner().invoke(args=["draw-lotteries"])
    assert outcome.exit_code == 0, outcome.output
    assert "Drew 0 lotteries." in outcome.output
    db.session.remove()
    assert len(db.session.scalars(select(LotteryDraw)).all()) == 1

    # e. The attendee list shows each registration's frame and the companion; the
    # detail page the answer.
    office.goto(live_server(f"/admin/events/{meeting_id}"))
    office.locator(f'a[href^="/admin/events/{meeting_id}/attendees"]').first.click()
    rows = office.locator("table.attendee-table tbody tr")
    expect(rows).to_have_count(2)
    member_row = rows.filter(has_text="三浦 文子")
    expect(member_row).to_contain_text("会員枠")
    guest_row = rows.filter(has_text="逗子 次郎")
    expect(guest_row).to_contain_text("一般枠")
    expect(guest_row.locator(".party")).to_have_text("同伴者: 逗子 花子 (2名)")
    guest_row.get_by_role("link", name="逗子 次郎").click()
    expect(office.locator("main")).to_contain_text(QUESTION)
    expect(office.locator("main")).to_contain_text(NOT_ATTENDING)
    expect(office.locator("main")).to_contain_text("逗子 花子")

    office.goto(live_server(f"/admin/events/{meeting_id}/export"))
    with office.expect_download() as download:
        office.locator('a[href*="attendees.xlsx"]').click()
    assert download.value.suggested_filename.endswith(".xlsx")
    data = download.value.path().read_bytes()
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    header, *people = [[cell.value for cell in row] for row in sheet.iter_rows()]
    column = {name: header.index(name) for name in ("氏名", "申込者", "参加枠", QUESTION)}
    assert sorted(
        (
            row[column["氏名"]],
            row[column["申込者"]] or "",
            row[column["参加枠"]],
            row[column[QUESTION]] or "",
        )
        for row in people
    ) == sorted(
        [
            ("三浦 文子", "", "会員枠", ATTENDING),
            ("逗子 次郎", "", "一般枠", NOT_ATTENDING),
            ("逗子 花子", "逗子 次郎", "一般枠", ""),
        ]
    )
