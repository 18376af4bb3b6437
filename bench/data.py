"""Events the benchmarks of `make bench` need, written with the real models (the
`--scale` database is written in bulk by bench/scale.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import DEFAULT_FRAME_NAMES, Category, Event, EventStatus, Frame, Venue

REGISTRATION_SLUG = "bench-open-seminar"
EVENT_PAGE_SLUG = "bench-event-3"

CATEGORIES = [
    ("seminar", "セミナー・講演会", "Seminar"),
    ("exchange", "交流会", "Networking"),
    ("study", "研究会・勉強会", "Study group"),
    ("tour", "視察・見学会", "Site visit"),
]
VENUES = [
    ("YRP事務所", "YRP office", "神奈川県横須賀市光の丘8番3号 YRPベンチャー棟209号"),
    ("横須賀商工会議所 大ホール", "Chamber of Commerce, main hall", "横須賀市平成町2-14-4"),
    ("ヴェルクよこすか 第1会議室", "Welk Yokosuka, room 1", "横須賀市日の出町1-5"),
]
CAPACITIES = [20, 40, None, 100, 30]


@dataclass(frozen=True)
class Catalogue:
    registration_slug: str
    event_page_slug: str


def _categories_and_venues() -> tuple[list[Category], list[Venue]]:
    categories = list(db.session.scalars(select(Category).order_by(Category.id)))
    venues = list(db.session.scalars(select(Venue).order_by(Venue.id)))
    if categories:
        return categories, venues
    categories = [
        Category(slug=slug, name_ja=ja, name_en=en, sort_order=number)
        for number, (slug, ja, en) in enumerate(CATEGORIES, start=1)
    ]
    venues = [
        Venue(
            name=name,
            name_en=name_en,
            address=address,
            access_notes="京急YRP野比駅からバス10分「YRPセンター前」下車",
            map_url="https://maps.example.org/yrp",
        )
        for name, name_en, address in VENUES
    ]
    db.session.add_all([*categories, *venues])
    return categories, venues


def _event(number: int, categories: list[Category], venues: list[Venue], **values: object) -> Event:
    starts_at = utcnow() + timedelta(days=1 + number, hours=number % 7)
    values.setdefault("slug", f"bench-event-{number}")
    values.setdefault("title", f"経営研究・懇談会（第{number}回）")
    values.setdefault("title_en", f"Management study meeting no. {number}")
    values.setdefault(
        "summary", "中小企業の経営者と会員が、毎月の話題について意見を交わす懇談会です。"
    )
    values.setdefault("body", "## 内容\n\n- 話題提供（30分）\n- 意見交換\n- 名刺交換")
    values.setdefault("capacity", CAPACITIES[number % len(CAPACITIES)])
    cancelled = number % 25 == 24
    values.setdefault("status", EventStatus.cancelled if cancelled else EventStatus.published)
    online = number % 10 == 9
    name_ja, name_en = DEFAULT_FRAME_NAMES
    frame = Frame(name_ja=name_ja, name_en=name_en, capacity=values["capacity"])
    return Event(
        frames=[frame],
        category=categories[number % len(categories)],
        venue=None if online else venues[number % len(venues)],
        online_url="https://meet.example.org/bench" if online else "",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=2),
        fee_text="1,000円（会員無料）",
        uid=Event.new_uid("bench.example.org"),
        **values,
    )


def seed_catalogue(count: int = 50) -> Catalogue:
    """``count`` published upcoming events (two of every fifty cancelled, one in ten
    online), among them an event with no seat limit for the registration benchmark."""
    categories, venues = _categories_and_venues()
    events = [_event(n, categories, venues) for n in range(count - 1)]
    events.append(
        _event(
            count - 1,
            categories,
            venues,
            slug=REGISTRATION_SLUG,
            title="省エネ・環境経営セミナー",
            capacity=None,
            status=EventStatus.published,
        )
    )
    db.session.add_all(events)
    db.session.commit()
    return Catalogue(REGISTRATION_SLUG, EVENT_PAGE_SLUG)


def seed_more_events(count: int, first_number: int) -> None:
    """``count`` more published events after the catalogue's, for a longer feed."""
    categories, venues = _categories_and_venues()
    db.session.add_all(
        _event(number, categories, venues, status=EventStatus.published)
        for number in range(first_number, first_number + count)
    )
    db.session.commit()
