"""The office's view of a member's participation (issue 10, point 8): each registration
of its people classified once, the last two years, the business year's counts, and
the console's member page and list showing them at a cost that does not grow."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.members import services
from cluster_events.members.attendance import (
    Attendance,
    Period,
    attended_this_year,
    business_year,
    classify,
    history_start,
    member_attendance,
)
from cluster_events.models import EventStatus, MemberKind, MemberLink, RegistrationStatus
from cluster_events.timefmt import TOKYO
from tests.factories import make_event, make_registration
from tests.members import make_member

#: 15 November 2025, noon in Tokyo: business year 2025 runs 2025-04-01 to 2026-03-31.
NOW = datetime(2025, 11, 15, 12, 0, tzinfo=TOKYO).astimezone(UTC)
PAST = NOW - timedelta(days=10)
FUTURE = NOW + timedelta(days=10)


@pytest.mark.parametrize(
    ("status", "checked_in", "event_status", "ends_at", "expected"),
    [
        ("confirmed", False, "published", FUTURE, Attendance.registered),
        ("waiting", False, "published", FUTURE, Attendance.registered),
        ("confirmed", True, "published", PAST, Attendance.attended),
        # Checked in at the door of an event still running.
        ("confirmed", True, "published", FUTURE, Attendance.attended),
        ("cancelled", False, "published", PAST, Attendance.cancelled),
        ("cancelled", False, "published", FUTURE, Attendance.cancelled),
        ("confirmed", False, "cancelled", PAST, Attendance.cancelled),
        ("confirmed", False, "published", PAST, Attendance.no_show),
        ("confirmed", False, "published", NOW, Attendance.no_show),
        ("waiting", False, "published", PAST, Attendance.not_seated),
    ],
)
def test_classify(status, checked_in, event_status, ends_at, expected):
    assert (
        classify(
            status=status,
            checked_in_at=PAST if checked_in else None,
            event_status=event_status,
            event_ends_at=ends_at,
            now=NOW,
        )
        is expected
    )


@pytest.mark.parametrize(
    ("today", "first", "last"),
    [
        (date(2025, 11, 15), date(2025, 4, 1), date(2026, 3, 31)),
        (date(2026, 3, 31), date(2025, 4, 1), date(2026, 3, 31)),
        (date(2026, 4, 1), date(2026, 4, 1), date(2027, 3, 31)),
        (date(2026, 1, 1), date(2025, 4, 1), date(2026, 3, 31)),
    ],
)
def test_business_year_runs_april_to_march(today, first, last):
    assert business_year(today) == Period(first, last)


def test_business_year_edges_are_days_in_japan():
    year = business_year(date(2025, 11, 15))
    # 1 April 00:30 in Tokyo is still 31 March in UTC.
    assert year.holds(datetime(2025, 4, 1, 0, 30, tzinfo=TOKYO))
    assert not year.holds(datetime(2025, 3, 31, 23, 59, tzinfo=TOKYO))
    assert year.holds(datetime(2026, 3, 31, 23, 59, tzinfo=TOKYO))
    assert not year.holds(datetime(2026, 4, 1, 0, 0, tzinfo=TOKYO))
    assert year.ends_at == datetime(2026, 4, 1, tzinfo=TOKYO)


def test_history_goes_back_two_years():
    assert history_start(date(2025, 11, 15)) == date(2023, 11, 15)
    assert history_start(date(2028, 2, 29)) == date(2026, 2, 28)


def _company(app):
    member = make_member(
        kind=MemberKind.corporate,
        name="三浦精機株式会社",
        name_kana="みうらせいき",
        people=[
            {"name": "佐藤 浩", "name_kana": "さとう ひろし", "email": "sato@example.org"},
            {"name": "鈴木 恵子", "name_kana": "すずき けいこ", "email": "suzuki@example.org"},
        ],
    )
    return member, member.people[0], member.people[1]


def _linked(event, person, **values):
    values.setdefault("member_link", MemberLink.verified)
    return make_registration(
        event, member_person_id=person.id, email=person.email, name=person.name, **values
    )


def _history(app):
    """One registration of every kind for a company's two people (one later removed),
    and registrations that must not count."""
    member, sato, suzuki = _company(app)
    other = make_member(name="別の 会員", name_kana="べつの かいいん")
    at = {
        "attended": make_event(starts_at=NOW - timedelta(days=30), title="第251回"),
        "no_show": make_event(starts_at=NOW - timedelta(days=20), title="第252回"),
        "not_seated": make_event(starts_at=NOW - timedelta(days=12), capacity=1),
        "cancelled": make_event(starts_at=NOW - timedelta(days=40)),
        "called_off": make_event(starts_at=NOW - timedelta(days=50), status=EventStatus.cancelled),
        "upcoming": make_event(starts_at=NOW + timedelta(days=5), title="交流会"),
        "last_year": make_event(starts_at=datetime(2025, 3, 20, 14, tzinfo=TOKYO)),
        "too_old": make_event(starts_at=NOW - timedelta(days=2 * 366)),
    }
    _linked(at["attended"], sato, checked_in_at=at["attended"].starts_at)
    _linked(at["no_show"], sato, member_link=MemberLink.matched)
    make_registration(at["not_seated"])
    _linked(at["not_seated"], suzuki, status=RegistrationStatus.waiting)
    _linked(at["cancelled"], suzuki, status=RegistrationStatus.cancelled)
    _linked(at["called_off"], sato)
    _linked(at["upcoming"], suzuki)
    _linked(at["last_year"], sato, checked_in_at=at["last_year"].starts_at)
    _linked(at["too_old"], sato, checked_in_at=at["too_old"].starts_at)
    # Not this member's: another member's person, and a self-declared registration with
    # the same address that is not linked to anybody.
    _linked(at["attended"], other.people[0], checked_in_at=at["attended"].starts_at)
    make_registration(at["upcoming"], email="sato@example.org", member_type="corporate")
    db.session.commit()
    with app.test_request_context():
        services.remove_person(suzuki.id)
    return member, at


def test_member_attendance_classifies_the_last_two_years(app):
    member, at = _history(app)
    history = member_attendance(member, now=NOW)
    assert history.since == date(2023, 11, 15)
    assert history.year == Period(date(2025, 4, 1), date(2026, 3, 31))
    by_event = {row.event.id: row for row in history.rows}
    expected = {
        "attended": Attendance.attended,
        "no_show": Attendance.no_show,
        "not_seated": Attendance.not_seated,
        "cancelled": Attendance.cancelled,
        "called_off": Attendance.cancelled,
        "upcoming": Attendance.registered,
        "last_year": Attendance.attended,
    }
    assert {key: by_event[at[key].id].attendance for key in expected} == expected
    assert at["too_old"].id not in by_event
    assert len(history.rows) == len(expected)  # nobody else's, nothing unlinked
    # Newest event first; the removed person's registrations are still there.
    starts = [row.event.starts_at for row in history.rows]
    assert starts == sorted(starts, reverse=True)
    assert by_event[at["upcoming"].id].person.name == "鈴木 恵子"
    assert by_event[at["upcoming"].id].person.removed_at is not None
    # The business year leaves out March 2025's event.
    assert history.year_counts == {
        Attendance.registered: 1,
        Attendance.attended: 1,
        Attendance.cancelled: 2,
        Attendance.no_show: 1,
        Attendance.not_seated: 1,
    }


def test_a_member_without_registrations_has_zero_of_every_kind(app):
    member = make_member()
    history = member_attendance(member, now=NOW)
    assert history.rows == []
    assert set(history.year_counts.values()) == {0}
    assert list(history.year_counts) == list(Attendance)


def test_attended_this_year_counts_check_ins_per_member_in_one_query(app, count_queries):
    member, _ = _history(app)
    with count_queries() as counter:
        year, counts = attended_this_year(now=NOW)
    assert counter.count == 1
    assert year == business_year(date(2025, 11, 15))
    # The company's one check-in this year (March 2025's is last year's); the other
    # member's person checked in at the same event.
    assert counts[member.id] == 1
    assert sorted(counts.values()) == [1, 1]


def test_member_page_shows_people_registrations_and_counts(app, logged_in_client):
    member, sato, suzuki = _company(app)
    now = utcnow()
    past = make_event(starts_at=now - timedelta(days=3), title="経営研究・懇談会（第251回）")
    gone = make_event(starts_at=now - timedelta(days=4), title="特許取得 個別相談会")
    upcoming = make_event(starts_at=now + timedelta(days=3), title="個人会員交流会")
    attended = _linked(past, sato, checked_in_at=past.starts_at)
    _linked(gone, suzuki, member_link=MemberLink.matched)
    _linked(upcoming, suzuki, status=RegistrationStatus.waiting)
    db.session.commit()
    with app.test_request_context():
        services.remove_person(suzuki.id)

    client = logged_in_client()  # an organizer may read it
    response = client.get(f"/admin/members/{member.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for text in ("佐藤 浩", "鈴木 恵子", "外した担当者"):  # current and removed people
        assert text in page, text
    for title in ("経営研究・懇談会（第251回）", "特許取得 個別相談会", "個人会員交流会"):
        assert title in page
    assert f"/admin/events/{past.id}/attendees/{attended.id}" in page
    for label in (">出席</td>", ">欠席</td>", ">参加予定</td>", "キャンセル待ち (1)"):
        assert label in page, label
    assert "会員としてログイン" in page and "メールアドレスで照合" in page
    assert "年度（4月〜翌年3月）" in page and "4月1日" in page and "3月31日" in page


def test_member_page_costs_the_same_whatever_the_registrations(
    app, logged_in_client, count_queries
):
    member, sato, suzuki = _company(app)
    db.session.commit()
    client = logged_in_client()
    path = f"/admin/members/{member.id}"
    _linked(make_event(starts_at=utcnow() - timedelta(days=5)), sato)
    db.session.commit()
    with count_queries() as few:
        assert client.get(path).status_code == 200
    for days in range(6, 26):
        event = make_event(starts_at=utcnow() - timedelta(days=days))
        _linked(event, sato if days % 2 else suzuki, checked_in_at=event.starts_at)
    db.session.commit()
    with count_queries() as many:
        page = client.get(path).get_data(as_text=True)
    assert page.count("/attendees/") == 21
    assert many.count == few.count, many.statements


def test_member_list_shows_this_years_attendance_at_one_query(app, logged_in_client, count_queries):
    _, sato, _ = _company(app)
    db.session.commit()
    client = logged_in_client()
    db.session.commit()
    with count_queries() as few:
        client.get("/admin/members")
    now = utcnow()
    for hours in range(1, 4):
        event = make_event(starts_at=now - timedelta(hours=hours * 3))
        _linked(event, sato, checked_in_at=event.starts_at)
    db.session.commit()  # before the services' transactions, which start afresh
    for kana in ("あ", "い", "う", "え", "お"):
        make_member(name=f"会員 {kana}", name_kana=f"かいいん {kana}")
    db.session.commit()
    with count_queries() as many:
        page = client.get("/admin/members").get_data(as_text=True)
    assert many.count == few.count, many.statements
    year = business_year(now.astimezone(TOKYO).date())
    assert f"{year.first_day.year}年度の出席" in page
    started_this_year = sum(year.holds(now - timedelta(hours=hours * 3)) for hours in range(1, 4))
    assert f"<td>{started_this_year}</td>" in page, page[page.find("<tbody>") :]
