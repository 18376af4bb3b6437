"""A series of events from one (issue 13, point 5), on SQLite and PostgreSQL: the dates of
each rule (the 3rd Saturday monthly, every two weeks, a count or a last date, across the
year end, in Tokyo time), Japanese public holidays skipped with the rule's next date
taken instead, the preview page, the drafts made over HTTP (own UIDs and slugs, frames
and questions copied, independent afterwards, one audit entry), and each bad input a
field error with status 400 in the page's language, nothing written."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from cluster_events.errors import ServiceError
from cluster_events.events import series
from cluster_events.events import services as event_services
from cluster_events.events.series import SeriesRule
from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry, Event, EventQuestion, EventStatus, QuestionKind
from cluster_events.registration import questions
from cluster_events.registration.questions import QuestionData
from cluster_events.timefmt import TOKYO
from tests.factories import frame, make_event, make_registration
from tests.records import audit_entries


def tokyo(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TOKYO)


def fresh_events() -> list[Event]:
    db.session.expire_all()
    return list(db.session.scalars(select(Event).order_by(Event.starts_at)))


def event_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Event))


def planned(app, source: Event, rule: SeriesRule, lang: str = "ja") -> series.SeriesPlan:
    with app.test_request_context(f"/?lang={lang}"):
        app.preprocess_request()  # reads ?lang=
        return series.plan_series(source, rule)


def described(app, source: Event, rule: SeriesRule, lang: str = "ja") -> str:
    with app.test_request_context(f"/?lang={lang}"):
        app.preprocess_request()
        return series.plan_series(source, rule).description


def starts(plan: series.SeriesPlan) -> list[datetime]:
    return [day.starts_at for day in plan.events]


@pytest.fixture
def organizer_client(client, logged_in_client):
    return logged_in_client("organizer")


@pytest.fixture
def kondankai(app):
    """経営研究・懇談会（第12回）: the 2nd Monday of December 2026, 18:00-20:00 in Tokyo,
    with a members' frame and a general one, a question, and a registration."""
    event = make_event(
        title="経営研究・懇談会（第12回）",
        slug="kondankai-2026-12",
        starts_at=tokyo(2026, 12, 14, 18, 0),
        ends_at=tokyo(2026, 12, 14, 20, 0),
        frames=[frame("会員枠", 12, eligibility="members"), frame("一般枠", 8)],
        sequence=2,
    )
    make_registration(event, frame=event.frames[0])
    db.session.commit()
    with app.test_request_context():
        questions.add_question(
            event.id,
            QuestionData(
                kind=QuestionKind.one_choice,
                label_ja="懇親会",
                label_en="Dinner afterwards",
                choices=(("出席", "Yes"), ("欠席", "No")),
                is_required=True,
                frame_id=event.frames[1].id,
            ),
        )
    db.session.expire_all()
    return db.session.get(Event, event.id)


# The rules ---------------------------------------------------------------------------------


def test_every_month_on_the_third_saturday(app):
    source = make_event(starts_at=tokyo(2027, 1, 16, 14, 0), ends_at=tokyo(2027, 1, 16, 16, 30))
    plan = planned(app, source, SeriesRule("monthly_by_weekday", count=4))
    assert starts(plan) == [
        tokyo(2027, 2, 20, 14, 0),
        tokyo(2027, 3, 20, 14, 0),
        tokyo(2027, 4, 17, 14, 0),
        tokyo(2027, 5, 15, 14, 0),
    ]
    assert plan.events[0].ends_at == tokyo(2027, 2, 20, 16, 30)
    assert described(app, source, plan.rule) == "毎月第3土曜日"
    assert described(app, source, plan.rule, "en") == "Every month on the 3rd Saturday"


def test_across_the_year_end_the_days_and_times_are_tokyos(app):
    # 08:30 on a Saturday in Tokyo is 23:30 on the Friday before in UTC.
    source = make_event(starts_at=tokyo(2026, 11, 21, 8, 30), ends_at=tokyo(2026, 11, 21, 10, 0))
    plan = planned(app, source, SeriesRule("monthly_by_weekday", count=3))
    assert starts(plan) == [
        tokyo(2026, 12, 19, 8, 30),
        tokyo(2027, 1, 16, 8, 30),
        tokyo(2027, 2, 20, 8, 30),
    ]
    assert all(day.astimezone(TOKYO).weekday() == 5 for day in starts(plan))
    assert [day.astimezone(TOKYO).hour for day in starts(plan)] == [8, 8, 8]


def test_every_two_weeks_with_a_count_or_a_last_date(app):
    source = make_event(starts_at=tokyo(2027, 1, 6, 18, 0))
    by_count = planned(app, source, SeriesRule("weekly", interval=2, count=3))
    assert starts(by_count) == [
        tokyo(2027, 1, 20, 18, 0),
        tokyo(2027, 2, 3, 18, 0),
        tokyo(2027, 2, 17, 18, 0),
    ]
    assert by_count.description == "2週間ごとの水曜日"
    # The last date is included, and a date past it is not.
    by_date = planned(app, source, SeriesRule("weekly", interval=2, until=date(2027, 2, 3)))
    assert starts(by_date) == [tokyo(2027, 1, 20, 18, 0), tokyo(2027, 2, 3, 18, 0)]
    weekly = planned(app, source, SeriesRule("weekly", until=date(2027, 1, 26)))
    assert starts(weekly) == [tokyo(2027, 1, 13, 18, 0), tokyo(2027, 1, 20, 18, 0)]


def test_a_fifth_weekday_is_the_months_last_and_a_31st_its_last_day(app):
    fifth_friday = make_event(starts_at=tokyo(2027, 1, 29, 14, 0))
    plan = planned(app, fifth_friday, SeriesRule("monthly_by_weekday", count=3))
    assert starts(plan) == [
        tokyo(2027, 2, 26, 14, 0),
        tokyo(2027, 3, 26, 14, 0),
        tokyo(2027, 4, 30, 14, 0),
    ]
    assert plan.description == "毎月最終金曜日"
    on_the_31st = make_event(starts_at=tokyo(2027, 1, 31, 10, 0))
    plan = planned(app, on_the_31st, SeriesRule("monthly_by_date", count=3))
    assert starts(plan) == [
        tokyo(2027, 2, 28, 10, 0),
        tokyo(2027, 3, 31, 10, 0),
        tokyo(2027, 4, 30, 10, 0),
    ]


def test_japanese_holidays_are_skipped_and_the_rules_next_date_taken(app):
    # Every month on the 11th: 11 January 2027 is 成人の日, 11 February 建国記念の日.
    source = make_event(starts_at=tokyo(2026, 12, 11, 14, 0))
    rule = SeriesRule("monthly_by_date", count=3, holiday_calendar="JP")
    plan = planned(app, source, rule)
    assert starts(plan) == [
        tokyo(2027, 3, 11, 14, 0),
        tokyo(2027, 4, 11, 14, 0),
        tokyo(2027, 5, 11, 14, 0),
    ]
    assert [(day.starts_at.date(), day.holiday) for day in plan.dates if day.is_skipped] == [
        (date(2027, 1, 11), "成人の日"),
        (date(2027, 2, 11), "建国記念の日"),
    ]
    assert [day.holiday for day in planned(app, source, rule, "en").dates[:2]] == [
        "Coming of Age Day",
        "Foundation Day",
    ]
    # Without the holiday calendar the same rule keeps them.
    kept = planned(app, source, SeriesRule("monthly_by_date", count=3))
    assert starts(kept)[:2] == [tokyo(2027, 1, 11, 14, 0), tokyo(2027, 2, 11, 14, 0)]
    # With a last date, a holiday is one event fewer.
    until = planned(
        app, source, SeriesRule("monthly_by_date", until=date(2027, 3, 31), holiday_calendar="JP")
    )
    assert starts(until) == [tokyo(2027, 3, 11, 14, 0)]
    assert len(until.dates) == 3


# Making the events --------------------------------------------------------------------------


def test_six_monthly_kondankai_from_one_skipping_a_holiday(app, kondankai):
    with app.test_request_context():
        copies = series.create_series(
            kondankai.id, SeriesRule("monthly_by_weekday", count=6, holiday_calendar="JP")
        )
    assert len(copies) == 6
    events = [event for event in fresh_events() if event.id != kondankai.id]
    assert [(e.title, e.slug, e.starts_at, e.ends_at) for e in events] == [
        (f"経営研究・懇談会（第{n}回）", f"kondankai-2027-{month:02}", start, end)
        for n, month, start, end in [
            (13, 2, tokyo(2027, 2, 8, 18, 0), tokyo(2027, 2, 8, 20, 0)),
            (14, 3, tokyo(2027, 3, 8, 18, 0), tokyo(2027, 3, 8, 20, 0)),
            (15, 4, tokyo(2027, 4, 12, 18, 0), tokyo(2027, 4, 12, 20, 0)),
            (16, 5, tokyo(2027, 5, 10, 18, 0), tokyo(2027, 5, 10, 20, 0)),
            (17, 6, tokyo(2027, 6, 14, 18, 0), tokyo(2027, 6, 14, 20, 0)),
            (18, 7, tokyo(2027, 7, 12, 18, 0), tokyo(2027, 7, 12, 20, 0)),
        ]
    ]
    assert {event.status for event in events} == {EventStatus.draft}
    assert len({event.uid for event in [kondankai, *events]}) == 7
    assert {(e.confirmed_count, e.waiting_count, e.sequence) for e in events} == {(0, 0, 0)}
    for event in events:
        assert [(f.name_ja, f.capacity, f.eligibility) for f in event.frames] == [
            ("会員枠", 12, "members"),
            ("一般枠", 8, "anyone"),
        ]
        (question,) = db.session.scalars(
            select(EventQuestion).where(EventQuestion.event_id == event.id)
        )
        assert (question.label_ja, question.frame_id) == ("懇親会", event.frames[1].id)
    (entry,) = audit_entries("event.create_series")
    assert entry.event_id == kondankai.id
    assert entry.after["count"] == 6
    assert entry.after["skipped_holidays"] == "2027-01-11 成人の日"
    assert entry.after["events"] == ", ".join(f"{e.id} {e.slug}" for e in events)
    assert "FREQ=MONTHLY" in entry.after["rule"] and "BYDAY=+2MO" in entry.after["rule"]


def test_the_events_of_a_series_are_independent_afterwards(app, kondankai):
    with app.test_request_context():
        first, second, third = series.create_series(
            kondankai.id, SeriesRule("weekly", interval=2, count=3)
        )
        data = event_services.EventData.from_event(second)
        data.title = "経営研究・懇談会（特別回）"
        data.starts_at, data.ends_at = tokyo(2027, 1, 12, 19, 0), tokyo(2027, 1, 12, 21, 0)
        event_services.update_event(second.id, data)
        event_services.publish_event(third.id)
    by_id = {event.id: event for event in fresh_events()}
    assert by_id[second.id].title == "経営研究・懇談会（特別回）"
    assert by_id[first.id].title == "経営研究・懇談会（第13回）"
    assert by_id[first.id].starts_at == tokyo(2026, 12, 28, 18, 0)
    assert by_id[third.id].starts_at == tokyo(2027, 1, 25, 18, 0)
    assert by_id[first.id].status == EventStatus.draft
    assert by_id[third.id].status == EventStatus.published
    assert by_id[kondankai.id].title == "経営研究・懇談会（第12回）"
    # A weekly series is dated by day: two of its events may fall in one month.
    assert [by_id[e.id].slug for e in (first, third)] == [
        "kondankai-2026-12-28",
        "kondankai-2027-01-25",
    ]


def test_a_slug_in_use_is_made_unique(app, kondankai):
    make_event(slug="kondankai-2027-02")
    db.session.commit()
    with app.test_request_context():
        copies = series.create_series(kondankai.id, SeriesRule("monthly_by_weekday", count=2))
    assert [copy.slug for copy in copies] == ["kondankai-2027-01", "kondankai-2027-02-2"]


def test_a_failure_part_way_writes_nothing(app, kondankai, monkeypatch):
    """All or nothing: the third copy fails, so the first two are not kept either."""
    made = []
    copy_event = series.copy_event

    def fail_on_the_third(*args, **kwargs):
        if len(made) == 2:
            raise RuntimeError("the database went away")
        made.append(copy_event(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(series, "copy_event", fail_on_the_third)
    with app.test_request_context(), pytest.raises(RuntimeError):
        series.create_series(kondankai.id, SeriesRule("monthly_by_weekday", count=6))
    assert event_count() == 1
    assert audit_entries("event.create_series") == []


# The console --------------------------------------------------------------------------------


def test_the_event_page_links_to_the_series_form(app, organizer_client, kondankai):
    page = organizer_client.get(f"/admin/events/{kondankai.id}").get_data(as_text=True)
    assert f'href="/admin/events/{kondankai.id}/series"' in page
    form = organizer_client.get(f"/admin/events/{kondankai.id}/series")
    assert form.status_code == 200
    text = form.get_data(as_text=True)
    for choice in ("毎週月曜日", "毎月第2月曜日", "毎月14日"):
        assert choice in text


def test_the_preview_lists_each_date_and_the_skipped_holiday(app, organizer_client, kondankai):
    response = organizer_client.post(
        f"/admin/events/{kondankai.id}/series",
        data={
            "frequency": "monthly_by_weekday",
            "interval": "1",
            "count": "6",
            "holiday_calendar": "JP",
            "preview": "1",
        },
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    rows = re.findall(r"<tr[^>]*>\s*<th scope=\"row\">(.*?)</th>\s*<td[^>]*>(.*?)</td>", page)
    assert rows == [
        ("2027年1月11日（月）18:00〜20:00", "作成しません：祝日（成人の日）のため"),
        ("2027年2月8日（月）18:00〜20:00", "経営研究・懇談会（第13回）"),
        ("2027年3月8日（月）18:00〜20:00", "経営研究・懇談会（第14回）"),
        ("2027年4月12日（月）18:00〜20:00", "経営研究・懇談会（第15回）"),
        ("2027年5月10日（月）18:00〜20:00", "経営研究・懇談会（第16回）"),
        ("2027年6月14日（月）18:00〜20:00", "経営研究・懇談会（第17回）"),
        ("2027年7月12日（月）18:00〜20:00", "経営研究・懇談会（第18回）"),
    ]
    assert "毎月第2月曜日" in page
    assert 'name="create"' in page
    assert event_count() == 1


def test_the_preview_in_english(app, organizer_client, kondankai):
    response = organizer_client.post(
        f"/admin/events/{kondankai.id}/series?lang=en",
        data={"frequency": "weekly", "interval": "2", "count": "2", "preview": "1"},
    )
    page = response.get_data(as_text=True)
    assert "Every 2 weeks on Monday" in page
    assert "Mon 28 Dec 2026, 18:00–20:00 JST" in page
    assert "Make 2 draft events" in page


def test_the_preview_of_an_all_day_event_gives_whole_days(app, organizer_client):
    """A series of an all-day event (終日): its dates are days, with no times."""
    event = make_event(
        title="環境出前授業（第3回）",
        starts_at=tokyo(2027, 3, 1, 0, 0),
        ends_at=tokyo(2027, 3, 3, 0, 0),
        is_all_day=True,
    )
    db.session.commit()
    response = organizer_client.post(
        f"/admin/events/{event.id}/series",
        data={"frequency": "weekly", "interval": "2", "count": "2", "preview": "1"},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    rows = re.findall(r"<tr[^>]*>\s*<th scope=\"row\">(.*?)</th>\s*<td[^>]*>(.*?)</td>", page)
    assert rows == [
        ("2027年3月15日（月）〜3月16日（火）", "環境出前授業（第4回）"),
        ("2027年3月29日（月）〜3月30日（火）", "環境出前授業（第5回）"),
    ]


SIX_MONTHLY = {
    "frequency": "monthly_by_weekday",
    "interval": "1",
    "count": "6",
    "holiday_calendar": "JP",
}


def previewed(client, event: Event, data: dict[str, str]) -> str:
    """The preview's hidden list of dates, as the browser sends it back with the button."""
    page = client.post(f"/admin/events/{event.id}/series", data={**data, "preview": "1"})
    return re.search(r'name="previewed" type="hidden" value="([^"]*)"', page.get_data(True))[1]


def test_making_the_series_over_http(app, organizer_client, kondankai):
    seen = previewed(organizer_client, kondankai, SIX_MONTHLY)
    assert seen.split(",")[0] == "2027-02-08T18:00+09:00"
    response = organizer_client.post(
        f"/admin/events/{kondankai.id}/series",
        data={**SIX_MONTHLY, "previewed": seen, "create": "1"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/events?show=draft"
    page = organizer_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "6件の下書きを作成しました" in page
    events = [event for event in fresh_events() if event.id != kondankai.id]
    assert len(events) == 6
    assert {event.status for event in events} == {EventStatus.draft}
    assert len({event.uid for event in events} | {kondankai.uid}) == 7
    assert events[0].starts_at == tokyo(2027, 2, 8, 18, 0)
    assert all(len(event.frames) == 2 and event.question_count == 1 for event in events)
    assert len(audit_entries("event.create_series")) == 1
    # Each is published by itself.
    assert organizer_client.post(f"/admin/events/{events[0].id}/publish").status_code == 302
    assert [event.status for event in fresh_events() if event.id != kondankai.id] == [
        EventStatus.published,
        *[EventStatus.draft] * 5,
    ]


def test_a_rule_changed_after_the_preview_makes_nothing_and_shows_the_new_dates(
    app, organizer_client, kondankai
):
    seen = previewed(organizer_client, kondankai, SIX_MONTHLY)
    response = organizer_client.post(
        f"/admin/events/{kondankai.id}/series",
        data={**SIX_MONTHLY, "count": "7", "previewed": seen, "create": "1"},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "プレビューでご覧になった日程と異なります" in page
    assert "経営研究・懇談会（第19回）" in page
    assert event_count() == 1
    # Without a preview at all, nothing is made either.
    response = organizer_client.post(
        f"/admin/events/{kondankai.id}/series", data={**SIX_MONTHLY, "create": "1"}
    )
    assert response.status_code == 200
    assert event_count() == 1


BAD_INPUT = [
    pytest.param({"count": "", "until": ""}, "count", "the number of events or the last date",
                 "作成する件数か最後の日付", id="no-end"),
    pytest.param({"count": "61"}, "count", "from 1 to 60 events", "1〜60件", id="count-61"),
    pytest.param({"count": "99999999999999999999"}, "count", "from 1 to 60 events", "1〜60件",
                 id="count-huge"),
    pytest.param({"count": "0"}, "count", "from 1 to 60 events", "1〜60件", id="count-0"),
    pytest.param({"count": "", "until": "2028-06-30", "frequency": "weekly"}, "until",
                 "more than 60 events", "60件を超えます", id="until-past-60"),
    pytest.param({"count": "", "until": "2026-12-01"}, "until", "must come after this event",
                 "この催しの日付（2026年12月14日（月））より後", id="until-before-start"),
    pytest.param({"count": "", "until": "2026-12-14"}, "until", "must come after this event",
                 "より後", id="until-on-the-start"),
    pytest.param({"count": "", "until": "2027-01-05"}, "until", "no date for this",
                 "日付がありません", id="until-before-the-next-date"),
    pytest.param({"count": "3", "until": "2027-05-01"}, "until", "not both", "どちらか一方",
                 id="count-and-until"),
    pytest.param({"interval": "0"}, "interval", "from 1 to 12", "1〜12", id="interval-0"),
    pytest.param({"interval": "13"}, "interval", "from 1 to 12", "1〜12", id="interval-13"),
    pytest.param({"interval": "-1"}, "interval", "from 1 to 12", "1〜12", id="interval-negative"),
    pytest.param({"holiday_calendar": "US"}, "holiday_calendar", "Only Japanese public holidays",
                 "日本の祝日のみ", id="holidays-us"),
    pytest.param({"holiday_calendar": "JP-13"}, "holiday_calendar",
                 "Only Japanese public holidays", "日本の祝日のみ", id="holidays-forged"),
    pytest.param({"frequency": "daily"}, "frequency", "Choose how the events repeat",
                 "繰り返し方を選んで", id="frequency-forged"),
    pytest.param({"until": "2027-02-30", "count": ""}, "until", "Not a valid date value",
                 "無効な日付", id="until-not-a-date"),
    pytest.param({"until": "0001-01-01", "count": ""}, "until", "between the years 2000 and 2100",
                 "2000年から2100年", id="until-year-1"),
]  # fmt: skip


@pytest.mark.parametrize("button", ["preview", "create"])
@pytest.mark.parametrize(("changes", "field", "english", "japanese"), BAD_INPUT)
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_bad_input_is_a_field_error_and_writes_nothing(
    app, organizer_client, kondankai, button, changes, field, english, japanese, lang
):
    data = {
        "frequency": "monthly_by_weekday",
        "interval": "1",
        "count": "6",
        "holiday_calendar": "JP",
        button: "1",
        **changes,
    }
    response = organizer_client.post(f"/admin/events/{kondankai.id}/series?lang={lang}", data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = page[page.index(f'id="{field}-error"') :].split("</p>")[0]
    assert (english if lang == "en" else japanese) in error
    assert 'name="create"' not in page
    assert event_count() == 1
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditLogEntry)
            .where(AuditLogEntry.action == "event.create_series")
        )
        == 0
    )


def test_the_service_refuses_a_rule_without_an_end_itself(app, kondankai):
    with app.test_request_context(), pytest.raises(ServiceError) as refused:
        series.create_series(kondankai.id, SeriesRule("weekly", interval=1))
    assert set(refused.value.field_errors) == {"count"}
    assert event_count() == 1


def test_a_series_of_an_unknown_event_is_404(app, organizer_client):
    assert organizer_client.get("/admin/events/999/series").status_code == 404
    response = organizer_client.post(
        "/admin/events/999/series", data={"frequency": "weekly", "count": "2", "create": "1"}
    )
    assert response.status_code == 404
