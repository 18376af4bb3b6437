"""Dates and times read the Japanese way or the English way, always in Asia/Tokyo."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from cluster_events import timefmt

TOKYO = timefmt.TOKYO


def test_product_example_in_both_languages():
    start = datetime(2026, 12, 5, 14, 0, tzinfo=TOKYO)
    end = datetime(2026, 12, 5, 16, 30, tzinfo=TOKYO)
    assert timefmt.format_event_time(start, end, "ja") == "2026年12月5日（土）14:00〜16:30"
    assert timefmt.format_event_time(start, end, "en") == "Sat 5 Dec 2026, 14:00–16:30 JST"


def test_half_past_midnight_in_tokyo_is_the_previous_day_in_utc():
    start = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 1 Dec 00:30 in Tokyo
    assert timefmt.format_date(start, "ja") == "2026年12月1日（火）"
    assert timefmt.format_time(start) == "00:30"
    assert timefmt.format_event_time(start, None, "en") == "Tue 1 Dec 2026, 00:30 JST"


def test_half_past_eleven_at_night_stays_on_its_day():
    start = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)  # 1 Dec 23:30 in Tokyo
    end = start + timedelta(hours=1)  # 2 Dec 00:30
    assert timefmt.format_event_time(start, end, "ja") == (
        "2026年12月1日（火）23:30〜2026年12月2日（水）00:30"
    )
    assert timefmt.format_event_time(start, end, "en") == (
        "Tue 1 Dec 2026, 23:30–Wed 2 Dec 2026, 00:30 JST"
    )


def test_other_zones_are_converted_not_relabelled():
    new_york = timezone(timedelta(hours=-5))
    value = datetime(2026, 12, 4, 10, 30, tzinfo=new_york)  # 5 Dec 00:30 in Tokyo
    assert timefmt.format_datetime(value, "ja") == "2026年12月5日（土）00:30"
    assert timefmt.format_datetime(value, "en") == "Sat 5 Dec 2026, 00:30 JST"


@pytest.mark.parametrize(
    ("day", "japanese", "english"),
    [
        (date(2027, 1, 4), "2027年1月4日（月）", "Mon 4 Jan 2027"),
        (date(2027, 1, 10), "2027年1月10日（日）", "Sun 10 Jan 2027"),
        (date(2028, 2, 29), "2028年2月29日（火）", "Tue 29 Feb 2028"),
    ],
)
def test_dates_with_weekday(day, japanese, english):
    assert timefmt.format_date(day, "ja") == japanese
    assert timefmt.format_date(day, "en") == english


def test_months():
    assert timefmt.format_month(2027, 1, "ja") == "2027年1月"
    assert timefmt.format_month(2027, 1, "en") == "January 2027"


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        timefmt.to_tokyo(datetime(2026, 12, 5, 14, 0))


def test_the_servers_time_zone_does_not_matter(monkeypatch):
    import time

    value = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        assert timefmt.format_datetime(value, "ja") == "2026年12月5日（土）00:30"
    finally:
        monkeypatch.undo()
        time.tzset()
