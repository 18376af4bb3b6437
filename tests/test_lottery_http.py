"""Lotteries (抽選) over HTTP, with the real SMTP server where emails are read: the event
page and the form say 抽選受付中, the deadline and 「抽選結果はメールでお知らせします」;
an entry, a second one refused (letter case, full width) as a 400 beside the address
with nothing written, a withdrawal with the personal link; the console's frame form,
「抽選する」 refused before the deadline (409 in the layout) and done after it, the seed
and digest on the frame page, the recomputation page; the attendee list and the export;
a member's "my events" feed and My page; public feeds untouched. Both databases."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import icalendar
import pytest
from sqlalchemy import func, select, update

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.models import (
    CalendarVersion,
    Frame,
    FrameSelection,
    LotteryDraw,
    OutboxMessage,
    Registration,
)
from cluster_events.registration import lottery, services, tokens
from tests.conftest import sending_to
from tests.factories import frame, make_event, make_organizer
from tests.members import first_person, make_member, sign_in_member
from tests.test_lottery import details, enter, fresh, lottery_event, pass_deadline
from tests.test_member_feeds import entries, feed_paths
from tests.test_registration_http import form, token_from

FEEDS = ("/calendar.ics", "/calendar.ics?lang=en")


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {**app_config, **sending_to(smtp_server)}


@pytest.fixture
def organizer_client(client, logged_in_client):
    return logged_in_client("organizer")


def delivered(smtp_server) -> dict[str, Any]:
    """Send what is queued; the messages received, by recipient (the last one wins)."""
    outbox.deliver_due(limit=500)
    return {str(message["To"]): message for message in smtp_server.messages()}


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def registration_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Registration.id)))


# The event page and the form ------------------------------------------------------------------


def test_the_event_page_says_the_seats_are_drawn_by_lot(app, client):
    event = lottery_event(capacity=20)
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert "抽選受付中" in page and "定員20名（抽選）" in page
    assert "抽選結果はメールでお知らせします" in page
    deadline = re.search(r"締切（(\d{4}年[^）]+）[\d:]+)）の後に抽選を行います", page)
    assert deadline, page
    assert "抽選に応募する</button>" in page
    assert "残り20席" not in page
    english = client.get(f"/events/{event.slug}?lang=en").get_data(as_text=True)
    assert "Lottery – entries open" in english and "Enter the lottery</button>" in english


def test_a_frame_drawn_by_lot_beside_a_first_come_one(app, client):
    event = make_event(
        frames=[
            frame("一般枠", 5),
            frame(
                "抽選枠",
                10,
                selection=FrameSelection.lottery,
                registration_closes_at=utcnow() + timedelta(days=1),
            ),
        ]
    )
    db.session.commit()
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    item = page[page.index("<strong>抽選枠</strong>") :]
    item = item[: item.index("</li>")]
    assert "抽選受付中" in item and "抽選結果はメールでお知らせします" in item
    form_part = page[page.index('<form class="registration-form"') :]
    assert "定員10名（抽選）" in form_part and "受付中" in form_part
    assert "申し込む</button>" in form_part  # one of the frames is first come


# Entering, a second entry, withdrawing ----------------------------------------------------


def test_an_entry_over_the_form_and_its_email(app, client, smtp_server):
    event = lottery_event()
    response = client.post(
        f"/events/{event.slug}/register?lang=ja", data=form(email="taro@example.jp")
    )
    assert response.status_code == 303
    manage = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "抽選へのご応募を受け付けました" in manage
    assert "抽選に応募済みです（抽選待ち）" in manage and "応募を取り消す" in manage
    registration = db.session.scalar(select(Registration))
    assert registration.status == "entered"

    message = delivered(smtp_server)["taro@example.jp"]
    assert message["Subject"] == f"【抽選のお申込み受付】{event.title}"
    body = text_of(message)
    assert "まだ席は確定していません" in body and "の後に抽選を行い" in body
    assert "/registrations/" in body  # the personal link, filled in when sent
    kinds = [part.get_content_type() for part in message.walk()]
    assert "text/calendar" not in kinds and "image/png" not in kinds


@pytest.mark.parametrize(
    "second", ["TARO@EXAMPLE.JP", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "Taro@Example.jp"]
)
def test_a_second_entry_is_a_400_beside_the_address_with_nothing_written(
    app, client, smtp_server, second
):
    event = lottery_event()
    first = client.post(f"/events/{event.slug}/register", data=form(email="taro@example.jp"))
    assert first.status_code == 303
    other_browser = app.test_client()
    response = other_browser.post(
        f"/events/{event.slug}/register?lang=ja", data=form(email=second, name="別の人")
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert '<html lang="ja"' in page and "このメールアドレスで、この催しの抽選にすでに応募" in page
    assert "お一人様1回まで" in page
    assert 'aria-describedby="email-hint email-error"' in page
    assert 'id="email-error"' in page
    assert registration_count() == 1
    outbox.deliver_due()
    entry_email, link_email = smtp_server.messages()
    assert entry_email["Subject"] == f"【抽選のお申込み受付】{event.title}"
    # The first entry's owner gets its link again, and reads that it waits for the draw.
    assert link_email["Subject"] == f"【お申込み内容のご案内】{event.title}"
    assert link_email["To"] == "taro@example.jp"
    assert "ご応募は抽選待ちです" in text_of(link_email)
    assert "お席は確定" not in text_of(link_email)


def test_a_member_enters_once(app, client):
    member = make_member(name="葉山 次郎", name_kana="はやま じろう")
    person = first_person(member)
    event = lottery_event()
    sign_in_member(client, person)
    assert client.post(f"/events/{event.slug}/register", data=form()).status_code == 303
    again = client.post(f"/events/{event.slug}/register?lang=ja", data=form())
    assert again.status_code == 400
    assert "すでに応募されています" in again.get_data(as_text=True)
    assert registration_count() == 1


def test_an_entry_is_withdrawn_with_the_personal_link(app, client, smtp_server):
    event = lottery_event()
    response = client.post(f"/events/{event.slug}/register", data=form())
    token = token_from(response.headers["Location"])
    asking = client.get(f"/registrations/{token}?step=cancel&lang=ja").get_data(as_text=True)
    assert "応募を取り消してもよろしいですか" in asking and "はい、応募を取り消します" in asking
    withdrawn = client.post(f"/registrations/{token}/cancel?lang=ja")
    assert withdrawn.status_code == 303
    page = client.get(withdrawn.headers["Location"]).get_data(as_text=True)
    assert "抽選への応募を取り消しました" in page
    assert tokens.registration_by_token(token).status == "cancelled"
    kinds = db.session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
    assert kinds == ["lottery_entered", "cancellation_receipt"]


def test_an_entry_after_the_deadline_is_refused_like_any_closed_frame(app, client):
    event = lottery_event()
    pass_deadline(event)
    response = client.post(f"/events/{event.slug}/register?lang=ja", data=form())
    assert response.status_code in (400, 409)
    assert registration_count() == 0


# The console -----------------------------------------------------------------------------


def frame_form(**values) -> dict[str, str]:
    closes = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    data = {
        "name_ja": "抽選枠",
        "capacity": "2",
        "eligibility": "anyone",
        "selection": "lottery",
        "registration_closes_at": closes,
    }
    data.update(values)
    return {key: value for key, value in data.items() if value is not None}


def test_the_frame_form_makes_a_lottery_and_refuses_one_without_a_deadline(app, organizer_client):
    event = make_event(frames=[frame("一般枠", 5)])
    db.session.commit()
    page = organizer_client.get(f"/admin/events/{event.id}/frames?lang=ja").get_data(as_text=True)
    assert "参加者の決め方" in page and "先着順" in page and "抽選（締切後に当選者を決定）" in page
    refused = organizer_client.post(
        f"/admin/events/{event.id}/frames?lang=ja",
        data=frame_form(registration_closes_at=None),
    )
    assert refused.status_code == 400
    assert "抽選の参加枠には締切が必要です" in refused.get_data(as_text=True)
    added = organizer_client.post(f"/admin/events/{event.id}/frames", data=frame_form())
    assert added.status_code == 302
    lottery_frame = db.session.scalar(select(Frame).where(Frame.name_ja == "抽選枠"))
    assert lottery_frame.selection == "lottery"
    listing = organizer_client.get(f"/admin/events/{event.id}/frames?lang=ja")
    assert "応募0件" in listing.get_data(as_text=True)


def test_draw_now_before_the_deadline_is_a_409_and_after_it_draws(
    app, organizer_client, smtp_server, login
):
    event = lottery_event(capacity=2)
    ids = [enter(event, n) for n in range(5)]
    frame_id = event.frames[0].id
    url = f"/admin/events/{event.id}/frames/{frame_id}"
    before = organizer_client.get(f"{url}?lang=ja").get_data(as_text=True)
    assert "現在の応募数" in before and "抽選する</button>" not in before
    early = organizer_client.post(f"{url}/draw?lang=ja")
    assert early.status_code == 409
    page = early.get_data(as_text=True)
    assert '<html lang="ja"' in page and 'role="alert"' in page
    assert "抽選は締切" in page and "の後に行います" in page
    assert db.session.scalar(select(func.count(LotteryDraw.id))) == 0
    assert {fresh(Registration, i).status for i in ids} == {"entered"}

    pass_deadline(event)
    due = organizer_client.get(f"{url}?lang=ja").get_data(as_text=True)
    assert "抽選する</button>" in due
    drawn = organizer_client.post(f"{url}/draw?lang=ja")
    assert drawn.status_code == 302
    result = organizer_client.get(f"{url}?lang=ja").get_data(as_text=True)
    assert "抽選を行いました。当選 2名、キャンセル待ち 3名です。" in result
    draw = db.session.scalar(select(LotteryDraw))
    assert draw.seed in result and draw.entries_sha256 in result
    assert draw.organizer_id == organizer_client.organizer.id
    again = organizer_client.post(f"{url}/draw?lang=ja")
    assert again.status_code == 409 and "すでに行われています" in again.get_data(as_text=True)

    messages = list(delivered(smtp_server).values())
    subjects = sorted(str(message["Subject"]) for message in messages)
    assert subjects == sorted(
        [f"【抽選結果・当選】{event.title}"] * 2
        + [f"【抽選結果・落選（キャンセル待ち）】{event.title}"] * 3
    )
    lost = next(m for m in messages if "落選" in str(m["Subject"]))
    assert re.search(r"キャンセル待ちの順番（抽選の順）：[123]番目", text_of(lost))
    won = next(m for m in messages if "当選" in str(m["Subject"]))
    assert "当選されましたのでお知らせいたします" in text_of(won)
    assert "text/calendar" in [part.get_content_type() for part in won.walk()]

    check = organizer_client.get(f"{url}/lottery?lang=ja").get_data(as_text=True)
    assert "記録から再計算した抽選は、記録された結果と一致しました。" in check
    assert check.count("一致</span>") == 5
    admin = make_organizer(role="admin")
    db.session.commit()
    admin_client = login(admin, app.test_client())
    log = admin_client.get(f"/admin/audit?event={event.id}&lang=ja").get_data(as_text=True)
    assert "抽選を実施" in log and draw.seed in log and draw.entries_sha256 in log


def test_the_check_page_says_when_the_record_was_changed(app, organizer_client):
    event = lottery_event(capacity=1)
    for n in range(3):
        enter(event, n)
    pass_deadline(event)
    lottery.draw_frame(event.frames[0].id)
    db.session.execute(update(LotteryDraw).values(seed=lottery.new_seed()))
    db.session.commit()
    page = organizer_client.get(
        f"/admin/events/{event.id}/frames/{event.frames[0].id}/lottery?lang=ja"
    )
    assert page.status_code == 200
    assert "記録された結果と一致しません" in page.get_data(as_text=True)


def test_the_attendee_list_and_the_export_show_entries_and_results(app, organizer_client):
    event = lottery_event(capacity=1)
    for n in range(3):
        enter(event, n)
    listing = organizer_client.get(f"/admin/events/{event.id}/attendees?lang=ja")
    html = listing.get_data(as_text=True)
    table = html[html.index("<tbody>") :]
    assert table.count(">抽選応募") == 3
    assert "抽選応募: <strong>3</strong>" in html
    pass_deadline(event)
    lottery.draw_frame(event.frames[0].id)
    html = organizer_client.get(f"/admin/events/{event.id}/attendees?lang=ja").get_data(
        as_text=True
    )
    assert html.count("当選") == 1 and html.count("落選（キャンセル待ち）") == 2
    csv = organizer_client.get(f"/admin/events/{event.id}/attendees.csv?lang=ja")
    text = csv.data.decode("utf-8-sig")
    header, *rows = text.strip().split("\r\n")
    assert header.split(",")[-1] == "抽選結果"
    assert sorted(row.split(",")[-1] for row in rows) == [
        "当選",
        "落選（キャンセル待ち）",
        "落選（キャンセル待ち）",
    ]
    assert sum("参加確定" in row for row in rows) == 1


# Feeds -----------------------------------------------------------------------------------


def test_my_events_feed_marks_the_entry_until_it_wins(app, client):
    member = make_member(name="三浦 三郎", name_kana="みうら さぶろう")
    person = first_person(member)
    event = lottery_event(capacity=1, title="抽選セミナーA")
    services.register(event.id, details("member", person.email), member_person_id=person.id)
    paths = feed_paths(app, person)
    found = entries(client.get(paths["my"]))
    assert str(found[event.uid]["summary"]) == "【抽選待ち】抽選セミナーA"
    english = entries(client.get(paths["my"] + "?lang=en"))
    assert str(english[event.uid]["summary"]) == "[Lottery entry – awaiting the draw] 抽選セミナーA"
    my_page = app.test_client()
    sign_in_member(my_page, person)
    html = my_page.get("/members/me?lang=ja").get_data(as_text=True)
    assert "抽選待ち" in html and "この応募を取り消す" in html

    pass_deadline(event)
    lottery.draw_frame(event.frames[0].id)  # the only entry: it wins
    found = entries(client.get(paths["my"]))
    assert str(found[event.uid]["summary"]) == "抽選セミナーA"


def test_my_events_feed_says_not_drawn_for_a_lost_entry(app, client):
    member = make_member(name="三浦 四郎", name_kana="みうら しろう")
    person = first_person(member)
    event = lottery_event(capacity=1, title="抽選セミナーC")
    services.register(event.id, details("member", person.email), member_person_id=person.id)
    paths = feed_paths(app, person)
    pass_deadline(event)
    # No seat for anyone: the seats were set to 0 before the draw (the rows, by hand).
    db.session.execute(update(Frame).where(Frame.event_id == event.id).values(capacity=0))
    db.session.commit()
    lottery.draw_frame(event.frames[0].id)
    found = entries(client.get(paths["my"]))
    assert str(found[event.uid]["summary"]) == "【落選・キャンセル待ち】抽選セミナーC"
    english = entries(client.get(paths["my"] + "?lang=en"))
    assert str(english[event.uid]["summary"]) == "[Not drawn – waiting list] 抽選セミナーC"
    my_page = app.test_client()
    sign_in_member(my_page, person)
    html = my_page.get("/members/me?lang=ja").get_data(as_text=True)
    assert "落選・キャンセル待ち（1番目）" in html


def test_entries_and_draws_leave_public_feeds_alone(app, client):
    event = lottery_event(capacity=1)
    before = [(client.get(url).data, client.get(url).headers["ETag"]) for url in FEEDS]
    token = db.session.scalar(select(CalendarVersion.token))
    for n in range(3):
        enter(event, n)
    assert client.post(f"/events/{event.slug}/register", data=form()).status_code == 303
    pass_deadline(event)
    lottery.draw_frame(event.frames[0].id)
    db.session.expire_all()
    assert db.session.scalar(select(CalendarVersion.token)) == token
    after = [(client.get(url).data, client.get(url).headers["ETag"]) for url in FEEDS]
    assert after == before
    calendar = icalendar.Calendar.from_ical(after[0][0])
    titles = [str(component["summary"]) for component in calendar.walk("VEVENT")]
    assert titles == [event.title]


def test_the_demo_has_a_seminar_drawn_by_lot(app, client):
    from cluster_events.demo import seed_demo

    seed_demo()
    frame_row = db.session.scalar(select(Frame).where(Frame.selection == "lottery"))
    assert frame_row is not None and frame_row.capacity == 30 and frame_row.takes_entries
    page = client.get(f"/events/{frame_row.event.slug}?lang=ja").get_data(as_text=True)
    assert "抽選受付中" in page and "抽選に応募する</button>" in page
