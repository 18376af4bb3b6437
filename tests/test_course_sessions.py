"""Courses of several sessions (全N回) and all-day events: the console's sessions pages and
their bad input, the pages and emails that list every session, a moved or cancelled
session told about alone, check-in, export and reminders per session, and duplicates."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import icalendar
import pytest
from sqlalchemy import func, select

from cluster_events.events import services as event_services
from cluster_events.events import sessions
from cluster_events.extensions import db
from cluster_events.mail.messages import _content
from cluster_events.models import (
    AuditLogEntry,
    Event,
    EventSession,
    OutboxMessage,
    SessionAttendance,
)
from cluster_events.registration import checkin, exports
from cluster_events.registration.reminders import queue_due_reminders
from cluster_events.timefmt import TOKYO, format_all_day, tokyo_midnight
from tests.factories import make_event, make_registration, make_venue

DAY = (datetime.now(TOKYO) + timedelta(days=40)).date()


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TOKYO)


def week(n: int) -> date:
    return DAY + timedelta(days=7 * n)


@pytest.fixture
def course(app) -> Event:
    """Three afternoons a week apart, one registrant with a companion."""
    event = make_event(
        title="広報力アップ講座", starts_at=at(DAY, 14), ends_at=at(DAY, 16), capacity=10
    )
    make_registration(event, name="渡辺 健", name_kana="わたなべ けん", email="ken@example.jp")
    db.session.commit()
    for n in (1, 2):
        sessions.add_session(event.id, sessions.SessionData(at(week(n), 14), at(week(n), 16)))
    db.session.expire_all()
    return db.session.get(Event, event.id)


def _session_form(starts: str = "", ends: str = "", **values: str) -> dict[str, str]:
    return {"starts_at": starts, "ends_at": ends, "venue_id": "", **values}


def _local(value: datetime) -> str:
    return value.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")


# --- the span of a course and its numbers ---------------------------------------------------


def test_a_course_keeps_its_first_start_and_last_end(course):
    assert course.session_count == 3
    assert [s.position for s in course.sessions] == [1, 2, 3]
    assert course.starts_at == at(DAY, 14)
    assert course.ends_at == at(week(2), 16)
    assert len({s.uid for s in course.sessions} | {course.uid}) == 4


def test_all_day_dates_read_the_japanese_and_the_english_way():
    start, end = tokyo_midnight(date(2027, 3, 1)), tokyo_midnight(date(2027, 3, 4))
    assert format_all_day(start, end, "ja") == "2027年3月1日（月）〜3月3日（水）"
    assert format_all_day(start, end, "en") == "Mon 1 Mar – Wed 3 Mar 2027"
    one = tokyo_midnight(date(2027, 3, 2))
    assert format_all_day(start, one, "ja") == "2027年3月1日（月）終日"
    assert format_all_day(start, one, "en") == "Mon 1 Mar 2027, all day"
    year_end = (tokyo_midnight(date(2026, 12, 31)), tokyo_midnight(date(2027, 1, 2)))
    assert format_all_day(*year_end, "ja") == "2026年12月31日（木）〜2027年1月1日（金）"


# --- bad input: field errors in the page's language, nothing written -----------------------


def _counts() -> tuple[int, int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(EventSession)),
        db.session.scalar(select(func.count()).select_from(Event)),
        db.session.scalar(select(func.count()).select_from(OutboxMessage)),
    )


@pytest.mark.parametrize(
    ("values", "field", "ja", "en"),
    [
        (
            lambda: _session_form(_local(at(week(3), 16)), _local(at(week(3), 14))),
            "ends_at",
            "終了は開始より後にしてください。",
            "The end must be after the start.",
        ),
        (
            lambda: _session_form(_local(at(week(1), 15)), _local(at(week(1), 17))),
            "starts_at",
            "順序が違います。第4回は第3回",
            "Out of order: session 4 cannot start before session 3",
        ),
        (
            lambda: _session_form(_local(at(week(2), 15)), _local(at(week(2), 17))),
            "starts_at",
            "第3回",
            "This overlaps session 3",
        ),
        (
            lambda: _session_form(
                _local(at(week(3), 10)), "", is_all_day="y", first_day=week(3).isoformat()
            ),
            "starts_at",
            "終日の催しには日付だけを入力し、時刻は入れません。",
            "An all-day event has dates only, no time.",
        ),
        (
            lambda: _session_form(
                is_all_day="y",
                first_day=week(3).isoformat(),
                last_day=(week(3) - timedelta(days=1)).isoformat(),
            ),
            "last_day",
            "最終日は初日より前にできません。",
            "The last day cannot be before the first day.",
        ),
    ],
)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_bad_sessions_get_a_field_error_and_nothing_is_written(
    course, logged_in_client, values, field, ja, en, lang
):
    client = logged_in_client()
    before = _counts()
    response = client.post(f"/admin/events/{course.id}/sessions?lang={lang}", data=values())
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = page[page.index(f'id="{field}-error"') :].split("</p>")[0]
    assert (ja if lang == "ja" else en) in error
    db.session.expire_all()
    assert _counts() == before


def test_moving_a_session_out_of_order_is_refused_at_its_field(course, logged_in_client):
    client = logged_in_client()
    second = course.sessions[1]
    response = client.post(
        f"/admin/events/{course.id}/sessions/{second.id}?lang=en",
        data=_session_form(_local(at(week(2), 18)), _local(at(week(2), 19))),
    )
    assert response.status_code == 400
    assert "Out of order: session 2 cannot start after session 3" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(EventSession, second.id).starts_at == at(week(1), 14)
    assert db.session.get(EventSession, second.id).sequence == 0


def test_an_all_day_event_with_a_time_is_refused_on_the_event_form(app, logged_in_client):
    from tests.factories import make_category

    category = make_category()
    db.session.commit()
    client = logged_in_client()
    data = {
        "title": "終日の研修",
        "category_id": str(category.id),
        "starts_at": "2027-03-01T10:00",
        "ends_at": "2027-03-03T17:00",
        "is_all_day": "y",
        "first_day": "2027-03-01",
        "last_day": "2027-03-03",
    }
    response = client.post("/admin/events/new", data=data)
    assert response.status_code == 400
    assert "終日の催しには日付だけを入力し" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0
    # Without the times, it is saved as whole days, the end exclusive.
    del data["starts_at"], data["ends_at"]
    assert client.post("/admin/events/new", data=data).status_code == 302
    event = db.session.scalars(select(Event)).one()
    assert event.is_all_day
    assert event.starts_at == tokyo_midnight(date(2027, 3, 1))
    assert event.ends_at == tokyo_midnight(date(2027, 3, 4))


def test_the_service_refuses_an_all_day_span_with_a_time(app):
    errors = sessions.time_errors(at(DAY, 10), at(DAY, 12), True)
    assert "starts_at" in errors


# --- the office's pages ----------------------------------------------------------------------


def test_the_office_adds_an_all_day_session_on_the_sessions_page(course, logged_in_client):
    client = logged_in_client()
    venue = make_venue(name="横浜事務所")
    db.session.commit()
    data = _session_form(
        is_all_day="y",
        first_day=week(3).isoformat(),
        last_day=(week(3) + timedelta(days=1)).isoformat(),
        venue_id=str(venue.id),
    )
    response = client.post(f"/admin/events/{course.id}/sessions", data=data)
    assert response.status_code == 302
    db.session.expire_all()
    event = db.session.get(Event, course.id)
    fourth = event.sessions[3]
    assert (fourth.position, fourth.is_all_day, fourth.venue_id) == (4, True, venue.id)
    assert event.ends_at == tokyo_midnight(week(3) + timedelta(days=2))
    assert not event.is_all_day  # not every session is
    page = client.get(f"/admin/events/{course.id}/sessions").get_data(as_text=True)
    assert "第4回" in page and "横浜事務所" in page


def test_an_event_of_one_date_becomes_session_one(app):
    event = make_event(starts_at=at(DAY, 10), ends_at=at(DAY, 12))
    db.session.commit()
    old_uid = event.uid
    sessions.add_session(event.id, sessions.SessionData(at(week(1), 10), at(week(1), 12)))
    db.session.expire_all()
    event = db.session.get(Event, event.id)
    assert [(s.position, s.starts_at) for s in event.sessions] == [
        (1, at(DAY, 10)),
        (2, at(week(1), 10)),
    ]
    assert event.uid == old_uid and event.ends_at == at(week(1), 12)


def test_removing_a_session_of_a_draft_renumbers_the_later_ones(app):
    event = make_event(status="draft", starts_at=at(DAY, 10), ends_at=at(DAY, 12))
    db.session.commit()
    for n in (1, 2):
        sessions.add_session(event.id, sessions.SessionData(at(week(n), 10), at(week(n), 12)))
    db.session.expire_all()
    event = db.session.get(Event, event.id)
    sessions.remove_session(event.id, event.sessions[1].id)
    db.session.expire_all()
    event = db.session.get(Event, event.id)
    assert [s.position for s in event.sessions] == [1, 2]
    assert event.sessions[1].starts_at == at(week(2), 10)
    assert event.session_count == 2


def test_a_session_of_a_course_with_registrants_is_cancelled_not_removed(course):
    from cluster_events.errors import Conflict

    with pytest.raises(Conflict):
        sessions.remove_session(course.id, course.sessions[1].id)


# --- pages and emails list every session -----------------------------------------------------


def test_the_event_page_and_the_catalogue_list_every_session(course, client):
    page = client.get(f"/events/{course.slug}").get_data(as_text=True)
    for n in (1, 2, 3):
        assert f"第{n}回" in page
    assert "（全3回）" in page
    assert "1回のお申込みで、すべての回にご参加いただけます。" in page
    catalogue = client.get("/").get_data(as_text=True)
    assert "第2回" in catalogue and "第3回" in catalogue
    english = client.get(f"/events/{course.slug}?lang=en").get_data(as_text=True)
    assert "Session 3:" in english and "(3 sessions)" in english


def test_a_confirmation_email_lists_every_session_and_carries_each_entry(course, app):
    from cluster_events.registration.services import RegistrationDetails, register

    details = RegistrationDetails(
        name="相沢 花子", name_kana="あいざわ はなこ", email="hanako@example.jp"
    )
    register(course.id, details)
    message = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == "hanako@example.jp")
    ).one()
    text, _html, attachments = _content(message)
    assert "第1回" in text and "第3回" in text
    data = next(a for a in attachments if a["filename"].endswith(".ics"))["data"]
    uids = [str(e["uid"]) for e in icalendar.Calendar.from_ical(data).walk("VEVENT")]
    assert uids == [s.uid for s in course.sessions]


def test_a_moved_session_is_told_about_alone(course, app):
    second = course.sessions[1]
    result = sessions.update_session(
        course.id,
        second.id,
        sessions.SessionData(at(week(1), 18), at(week(1), 20)),
    )
    assert result.notified == 1
    message = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "session_changed")
    ).one()
    assert message.subject == "【日程変更（1回分）】広報力アップ講座"
    assert "第2回" in message.body_text and "18:00" in message.body_text
    assert "ほかの回は変わりません" in message.body_text
    (attachment,) = [a for a in message.attachments if a["filename"].endswith(".ics")]
    entries = icalendar.Calendar.from_ical(attachment["data"]).walk("VEVENT")
    assert [str(e["uid"]) for e in entries] == [second.uid]
    assert int(entries[0]["sequence"]) == course.sequence + 1
    db.session.expire_all()
    first, moved, third = db.session.get(Event, course.id).sessions
    assert (first.sequence, moved.sequence, third.sequence) == (0, 1, 0)


def test_a_cancelled_session_is_told_about_alone_and_marked_in_the_feed(course, client):
    third = course.sessions[2]
    _session, count = sessions.cancel_session(course.id, third.id, "講師の体調不良のため")
    assert count == 1
    message = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "session_cancelled")
    ).one()
    assert message.subject == "【1回分の中止】広報力アップ講座"
    assert "第3回" in message.body_text and "講師の体調不良のため" in message.body_text
    assert "ほかの回は予定どおり行い" in message.body_text
    (attachment,) = [a for a in message.attachments if a["filename"].endswith(".ics")]
    cancel = icalendar.Calendar.from_ical(attachment["data"])
    assert str(cancel["method"]) == "CANCEL"
    assert [str(e["uid"]) for e in cancel.walk("VEVENT")] == [third.uid]
    feed = icalendar.Calendar.from_ical(client.get("/calendar.ics").data)
    statuses = {str(e["uid"]): str(e["status"]) for e in feed.walk("VEVENT")}
    assert statuses[third.uid] == "CANCELLED"
    assert statuses[course.sessions[0].uid] == "CONFIRMED"
    page = client.get(f"/events/{course.slug}").get_data(as_text=True)
    assert "【中止】" in page and "講師の体調不良のため" in page


# --- the door, the export, reminders, duplicates --------------------------------------------


def test_check_in_and_the_export_are_per_session(course, logged_in_client):
    registration = course.registrations[0]
    first, second, _third = course.sessions
    checkin.check_in(course.id, registration.id, session_id=second.id)
    checkin.check_in(course.id, registration.id, session_id=second.id)  # twice: once
    assert db.session.scalar(select(func.count()).select_from(SessionAttendance)) == 1
    assert registration.checked_in_at is None
    client = logged_in_client()
    page = client.get(f"/admin/events/{course.id}/check-in?session={second.id}").get_data(
        as_text=True
    )
    assert "受付の回" in page
    assert page.count('name="session"') >= 2
    assert client.get(f"/admin/events/{course.id}/check-in?session=999999").status_code == 404
    response = client.post(
        f"/admin/events/{course.id}/attendees/{registration.id}/check-in",
        data={"session": str(first.id), "back": "checkin"},
    )
    assert response.status_code == 302 and f"session={first.id}" in response.location
    arrivals = checkin.event_arrivals(course.id)
    assert set(arrivals) == {(first.id, registration.id, 0), (second.id, registration.id, 0)}

    header, rows = exports.attendee_table(course, [registration])
    columns = [h for h in header if "受付時刻" in h or "checked in at" in h.lower()]
    assert len([c for c in columns if "第" in c]) == 3
    index = header.index("第3回 受付時刻（日本時間）")
    assert rows[0][index] is None
    assert rows[0][header.index("第2回 受付時刻（日本時間）")] is not None
    text = exports.to_csv_utf8(header, rows).decode("utf-8-sig")
    assert "第1回 受付時刻（日本時間）" in next(csv.reader(io.StringIO(text)))


def test_undoing_an_arrival_at_one_session_leaves_the_others(course):
    registration = course.registrations[0]
    first, second, _third = course.sessions
    checkin.check_in(course.id, registration.id, session_id=first.id)
    checkin.check_in(course.id, registration.id, session_id=second.id)
    checkin.check_in(course.id, registration.id, session_id=first.id, arrived=False)
    assert set(checkin.session_arrivals(second.id)) == {(registration.id, 0)}
    assert checkin.session_arrivals(first.id) == {}
    actions = db.session.scalars(select(AuditLogEntry.action)).all()
    assert "registration.undo_check_in" in actions


def test_a_reminder_goes_out_before_each_session_once(course, app):
    hours = app.config["REMINDER_HOURS_BEFORE"]
    first, second, _third = course.sessions
    before_first = first.starts_at - timedelta(hours=hours - 1)
    queued = queue_due_reminders(now=before_first)
    assert [m.dedupe_key for m in queued] == [
        f"reminder:{course.registrations[0].id}:session:{first.id}"
    ]
    assert queue_due_reminders(now=before_first + timedelta(minutes=10)) == []
    queued = queue_due_reminders(now=second.starts_at - timedelta(hours=hours - 1))
    assert [m.dedupe_key for m in queued] == [
        f"reminder:{course.registrations[0].id}:session:{second.id}"
    ]
    text = _content(queued[0])[0]
    assert "このお知らせの回：第2回" in text


def test_duplicating_a_course_copies_its_sessions_shifted(course):
    copy = event_services.duplicate_event(course.id)
    db.session.expire_all()
    copy = db.session.get(Event, copy.id)
    shift = copy.starts_at - course.starts_at
    assert shift > timedelta(days=20)
    assert copy.session_count == 3
    assert [s.starts_at for s in copy.sessions] == [s.starts_at + shift for s in course.sessions]
    assert not {s.uid for s in copy.sessions} & {s.uid for s in course.sessions}
    assert all(s.sequence == 0 for s in copy.sessions)
