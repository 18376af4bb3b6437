"""Events the benchmarks need, written with the real models."""

from __future__ import annotations

from datetime import timedelta

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import Category, Event, EventStatus, Venue

REGISTRATION_SLUG = "bench-open-seminar"


def _category_and_venue() -> tuple[Category, Venue]:
    category = Category(slug="seminar", name_ja="セミナー・講演会", name_en="Seminar", sort_order=1)
    venue = Venue(
        name="YRP事務所",
        name_en="YRP office",
        address="神奈川県横須賀市光の丘8番3号 YRPベンチャー棟209号",
        access_notes="京急YRP野比駅からバス10分「YRPセンター前」下車",
        map_url="https://maps.example.org/yrp",
    )
    db.session.add_all([category, venue])
    return category, venue


def _event(number: int, category: Category, venue: Venue, **values: object) -> Event:
    starts_at = utcnow() + timedelta(days=1 + number, hours=number % 7)
    values.setdefault("slug", f"bench-event-{number}")
    values.setdefault("title", f"経営研究・懇談会（第{number}回）")
    values.setdefault(
        "summary", "中小企業の経営者と会員が、毎月の話題について意見を交わす懇談会です。"
    )
    values.setdefault("body", "## 内容\n\n- 話題提供（30分）\n- 意見交換\n- 名刺交換")
    return Event(
        category=category,
        venue=venue,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=2),
        status=EventStatus.published,
        fee_text="1,000円（会員無料）",
        uid=Event.new_uid("bench.example.org"),
        **values,
    )


def seed_registration_event() -> str:
    """One published event with no seat limit, open for registration; returns its slug."""
    category, venue = _category_and_venue()
    db.session.add(
        _event(
            30,
            category,
            venue,
            slug=REGISTRATION_SLUG,
            title="省エネ・環境経営セミナー",
            capacity=None,
        )
    )
    db.session.commit()
    return REGISTRATION_SLUG


def seed_feed_events(count: int) -> None:
    """``count`` published public events over the coming months, for the feed."""
    category, venue = _category_and_venue()
    db.session.add_all(_event(n, category, venue, capacity=20) for n in range(count))
    db.session.commit()
