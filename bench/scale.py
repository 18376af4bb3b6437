"""`python -m bench --scale`: what the public pages and the attendee list cost as the data
grow (issue 11, item 5), in-process with the test client.

Two databases per backend, written in bulk with SQLAlchemy Core (not the services: a
hundred thousand registrations through the services would take minutes):

- **small**: 50 upcoming and 50 past events, the 500-person event among the upcoming
  ones, 1,490 registrations;
- **large**: 10,000 events (9,800 past over twenty years, 200 upcoming over the next 200
  days) and 100,000 registrations, the same 500-person event among them.

Both have the same density of events per day, the same mix (one in 33 cancelled, one in
97 a draft, one in 20 for members only), the same categories, venues, 50 members whose
people made 50 of the big event's registrations, and one organizer. PostgreSQL gets a
VACUUM ANALYZE after the load, as autovacuum would soon do; SQLite is left as the app
leaves it.

For each page: the SQL statements of one request (counted as in the tests) and the
median time of ``--requests`` requests after three warm-up ones, in both databases; the
ratio large/small (target ≤ 1.5) and whether the query counts are equal. With
``--explain`` the plans of every statement on the large database are printed
(PostgreSQL: EXPLAIN (ANALYZE, BUFFERS); SQLite: EXPLAIN QUERY PLAN).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, insert, select, text

from bench.harness import (
    PROJECT_ROOT,
    Database,
    make_app,
    migrated_database,
    print_table,
    workdir,
)
from bench.queries import counting
from bench.report import GROWTH_END, GROWTH_START, replace_marked
from cluster_events.config import normalise_database_url
from cluster_events.database import utcnow
from cluster_events.events.pagination import Cursor
from cluster_events.extensions import db
from cluster_events.models import (
    DEFAULT_FRAME_NAMES,
    Category,
    Event,
    EventStatus,
    Frame,
    Member,
    MemberPerson,
    Organizer,
    Registration,
    RegistrationStatus,
    Venue,
)

RATIO_LIMIT = 1.5
BIG_EVENT_SLUG = "scale-big-event"
BIG_EVENT_PEOPLE = 500
#: Twenty years of past events at the large database's density, so both databases
#: have as many events per week (and the feed's 180 days hold alike many of them).
DAYS_PER_PAST_EVENT = 20 * 365 / 9_800
DAYS_PER_UPCOMING_EVENT = 1.0
MEMBERS = 50
CHUNK = 5_000


@dataclass(frozen=True)
class Shape:
    name: str
    upcoming: int
    past: int
    #: Registrations of each other upcoming event; past events share what is left.
    per_upcoming: int
    registrations: int


SMALL = Shape("small", upcoming=50, past=50, per_upcoming=10, registrations=1_490)
LARGE = Shape("large", upcoming=200, past=9_800, per_upcoming=20, registrations=100_000)


# --- building ----------------------------------------------------------------------------


def _event_rows(shape: Shape, now: datetime, categories: int, venues: int) -> list[dict]:
    rows = []
    total = shape.upcoming + shape.past
    for number in range(total):
        event_id = number + 1
        if number < shape.upcoming:
            starts_at = now + timedelta(days=1 + number * DAYS_PER_UPCOMING_EVENT, hours=1)
        else:
            back = number - shape.upcoming + 1
            starts_at = now - timedelta(days=back * DAYS_PER_PAST_EVENT, hours=3)
        big = number == 9
        status = EventStatus.published
        if not big and number % 33 == 5:
            status = EventStatus.cancelled
        elif not big and number % 97 == 7:
            status = EventStatus.draft
        online = number % 10 == 4
        rows.append(
            {
                "id": event_id,
                "slug": BIG_EVENT_SLUG if big else f"scale-event-{event_id}",
                "title": "環境経営セミナー（大会場）" if big else f"経営研究会 第{event_id}回",
                "title_en": "Energy saving seminar (main hall)"
                if big
                else f"Management study meeting no. {event_id}",
                "category_id": number % categories + 1,
                "summary": "中小企業の経営者と会員が、毎月の話題について意見を交わす会です。",
                "body": "## 内容\n\n- 話題提供（30分）\n- 意見交換\n- 名刺交換",
                "starts_at": starts_at,
                "ends_at": starts_at + timedelta(hours=2),
                "venue_id": None if online else number % venues + 1,
                "online_url": "https://meet.example.org/scale" if online else "",
                "capacity": 600 if big else (None if number % 5 == 2 else 40),
                "fee_text": "1,000円（会員無料）",
                "registration_opens_at": None,
                "registration_closes_at": None,
                "accepts_registrations": True,
                "status": status,
                "is_members_only": not big and number % 20 == 3,
                "cancellation_reason": "講師の都合" if status == EventStatus.cancelled else "",
                "uid": f"scale-{event_id}@bench.example.org",
                "sequence": number % 3,
                "confirmed_count": 0,
                "waiting_count": 0,
                "created_at": starts_at - timedelta(days=40),
                "updated_at": starts_at - timedelta(days=30),
            }
        )
    return rows


def _people_per_event(shape: Shape) -> list[int]:
    """How many registrations each event gets (by position: upcoming first)."""
    counts = [shape.per_upcoming] * shape.upcoming
    counts[9] = BIG_EVENT_PEOPLE
    left = shape.registrations - sum(counts)
    each, extra = divmod(left, shape.past)
    counts += [each + (1 if n < extra else 0) for n in range(shape.past)]
    return counts


def _registration_rows(shape: Shape, events: list[dict]) -> list[dict]:
    rows = []
    number = 0
    for event, people in zip(events, _people_per_event(shape), strict=True):
        past = event["ends_at"] < utcnow()
        for person in range(people):
            number += 1
            big = event["slug"] == BIG_EVENT_SLUG
            cancelled = not big and person % 10 == 9
            status = RegistrationStatus.cancelled if cancelled else RegistrationStatus.confirmed
            if not cancelled:
                event["confirmed_count"] += 1
            created = event["starts_at"] - timedelta(days=20, minutes=number % 1440)
            linked = big and person < MEMBERS
            rows.append(
                {
                    "event_id": event["id"],
                    "frame_id": event["id"],  # each event's one frame has its id
                    "status": status,
                    "waiting_position": None,
                    "name": f"参加者 {number}",
                    "name_kana": f"さんかしゃ {number}",
                    "email": f"person{number}@example.org",
                    "email_normalized": f"person{number}@example.org",
                    "organization": f"株式会社サンプル{number % 300}" if number % 4 else "",
                    "job_title": "代表取締役" if number % 3 == 0 else "",
                    "phone": "046-847-6355",
                    "member_type": ("corporate", "individual", "general")[number % 3],
                    "remarks": "",
                    "locale": "en" if number % 9 == 0 else "ja",
                    "token_salt": f"{number:032x}",
                    "token_hash": hashlib.sha256(f"scale-{number}".encode()).hexdigest(),
                    "source": "web",
                    "organizer_note": "",
                    "created_at": created,
                    "updated_at": created,
                    "confirmed_at": None if cancelled else created,
                    "cancelled_at": created + timedelta(days=1) if cancelled else None,
                    "checked_in_at": event["starts_at"]
                    if past and not cancelled and person % 3
                    else None,
                    "reminder_sent_at": None,
                    "link_resent_at": None,
                    "personal_data_purged_at": None,
                    "member_person_id": person + 1 if linked else None,
                    "member_link": "matched" if linked else "none",
                }
            )
    return rows


def _frame_row(event: dict) -> dict:
    """The event's one participation frame, holding its seats and counters."""
    name_ja, name_en = DEFAULT_FRAME_NAMES
    return {
        "id": event["id"],
        "event_id": event["id"],
        "name_ja": name_ja,
        "name_en": name_en,
        "capacity": event["capacity"],
        "eligibility": "anyone",
        "sort_order": 0,
        "confirmed_count": event["confirmed_count"],
        "waiting_count": event["waiting_count"],
        "created_at": event["created_at"],
        "updated_at": event["updated_at"],
    }


def build(database: Database, shape: Shape, directory: Path) -> dict[str, Any]:
    """Fill ``database`` (already migrated) with ``shape``; returns what the pages need."""
    started = time.perf_counter()
    now = utcnow()
    engine = create_engine(normalise_database_url(database.url))
    categories = [
        {"id": n + 1, "slug": f"cat-{n + 1}", "name_ja": name, "name_en": name_en,
         "sort_order": n, "updated_at": now - timedelta(days=400)}
        for n, (name, name_en) in enumerate(
            [("セミナー・講演会", "Seminar"), ("交流会", "Networking"), ("研究会", "Study group"),
             ("視察・見学会", "Site visit"), ("研修", "Training"), ("総会", "General meeting")]
        )
    ]  # fmt: skip
    venues = [
        {"id": n + 1, "name": f"会場{n + 1}", "name_en": f"Venue {n + 1}",
         "address": f"神奈川県横須賀市光の丘{n + 1}番", "address_en": "", "access_notes": "",
         "map_url": "", "updated_at": now - timedelta(days=400)}
        for n in range(12)
    ]  # fmt: skip
    events = _event_rows(shape, now, len(categories), len(venues))
    registrations = _registration_rows(shape, events)
    frames = [_frame_row(event) for event in events]
    members = [
        {"id": n + 1, "number": f"M{n + 1:04d}", "kind": "corporate",
         "name": f"株式会社会員{n + 1}", "name_kana": f"かいいん{n + 1}", "status": "active",
         "note": "", "created_at": now, "updated_at": now}
        for n in range(MEMBERS)
    ]  # fmt: skip
    people = [
        {"id": n + 1, "member_id": n + 1, "name": f"参加者 {n + 1}",
         "name_kana": f"さんかしゃ {n + 1}", "email": f"person{n + 1}@example.org",
         "email_normalized": f"person{n + 1}@example.org", "phone": "", "department": "",
         "title": "", "is_active": True, "session_generation": 0,
         "created_at": now, "updated_at": now}
        for n in range(MEMBERS)
    ]  # fmt: skip
    organizer = {
        "id": 1,
        "email": "office@example.org",
        "name": "事務局",
        "password_hash": "not-used-by-the-benchmark",
        "role": "admin",
        "is_enabled": True,
        "created_at": now,
        "session_generation": 0,
    }
    with engine.begin() as connection:
        for model, rows in (
            (Category, categories),
            (Venue, venues),
            (Event, events),
            (Frame, frames),
            (Member, members),
            (MemberPerson, people),
            (Organizer, [organizer]),
            (Registration, registrations),
        ):
            for start in range(0, len(rows), CHUNK):
                connection.execute(insert(model.__table__), rows[start : start + CHUNK])
        if database.backend == "postgresql":
            for table in (
                "category",
                "venue",
                "event",
                "participation_frame",
                "member",
                "member_person",
                "organizer",
            ):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    if database.backend == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    big = next(event for event in events if event["slug"] == BIG_EVENT_SLUG)
    print(
        f"  {database.backend}, {shape.name}: {len(events):,} events, "
        f"{len(registrations):,} registrations in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return {"big_event_id": big["id"], "organizer_id": organizer["id"]}


# --- measuring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    label: str
    #: What the page shows one of, counted in its HTML.
    marker: str
    signed_in: bool = False
    #: Each item shown is rendered on every request (the feed is served from its cache).
    per_item: bool = True


PAGES = {
    "catalogue": Page("catalogue `/`, first page", '<article class="event-card'),
    "archive": Page("archive `/events/past`, first page", '<article class="event-card'),
    "archive-last": Page("archive, oldest page (by cursor)", '<article class="event-card'),
    "event": Page("event page of the 500-person event", "<form"),
    "feed": Page("feed `/calendar.ics`", "BEGIN:VEVENT", per_item=False),
    "attendees": Page("attendee list of the 500-person event", '<td class="attendee-name">', True),
}


@dataclass
class Measured:
    path: str
    status: int
    shown: int
    queries: int
    median_ms: float
    statements: list[tuple[str, Any]] = field(default_factory=list)


def _oldest_page(app: Flask) -> str:
    """The archive's page of its ``EVENTS_PER_PAGE`` oldest events, as "older events"
    links reach it: after the cursor of the one event newer than them. (The last page
    reached from the first holds what is left over, 1 to 20 events; this one compares
    like with like, and costs what any page after a cursor costs.)"""
    with app.app_context():
        per_page = app.config["EVENTS_PER_PAGE"]
        now = utcnow()
        newest_first = (
            select(Event.starts_at, Event.id)
            .where(
                Event.visible_where(viewer_is_member=False),
                Event.ends_at < now,
                Event.starts_at < now,
            )
            .order_by(Event.starts_at.desc(), Event.id.desc())
        )
        past = db.session.scalar(select(func.count()).select_from(newest_first.subquery()))
        row = db.session.execute(newest_first.offset(past - per_page - 1).limit(1)).one()
        db.session.remove()
    return f"/events/past?after={Cursor(row.starts_at, row.id)}"


def _paths(app: Flask, facts: dict[str, Any]) -> dict[str, str]:
    return {
        "catalogue": "/",
        "archive": "/events/past",
        "archive-last": _oldest_page(app),
        "event": f"/events/{BIG_EVENT_SLUG}",
        "feed": "/calendar.ics",
        "attendees": f"/admin/events/{facts['big_event_id']}/attendees",
    }


def _client(app: Flask, page: Page, facts: dict[str, Any]) -> FlaskClient:
    client = app.test_client()
    if page.signed_in:
        with client.session_transaction() as session:
            session["_user_id"] = f"{facts['organizer_id']}:0"
            session["_fresh"] = True
    return client


def measure(
    sites: dict[str, tuple[Flask, dict[str, Any]]], requests: int
) -> dict[str, dict[str, Measured]]:
    """Every page on every site (``{"small": (app, facts), "large": ...}``), timed in
    turns (a request on one, then on the other) so that the machine's load touches
    both alike."""
    results: dict[str, dict[str, Measured]] = {name: {} for name in sites}
    paths = {name: _paths(app, facts) for name, (app, facts) in sites.items()}
    for key, page in PAGES.items():
        clients = {name: _client(app, page, facts) for name, (app, facts) in sites.items()}
        times: dict[str, list[float]] = {name: [] for name in sites}
        for name, client in clients.items():
            for _ in range(3):
                client.get(paths[name][key])
            with counting() as statements:
                response = client.get(paths[name][key])
            if key == "archive-last" and 'rel="next"' in response.get_data(as_text=True):
                raise RuntimeError(f"{paths[name][key]} is not the archive's oldest page")
            results[name][key] = Measured(
                paths[name][key],
                response.status_code,
                response.get_data(as_text=True).count(page.marker),
                statements.count,
                0.0,
                statements.sent,
            )
        for _ in range(requests):
            for name, client in clients.items():
                started = time.perf_counter()
                client.get(paths[name][key])
                times[name].append(time.perf_counter() - started)
        for name in sites:
            results[name][key].median_ms = statistics.median(times[name]) * 1000
    return results


# --- query plans -------------------------------------------------------------------------

_SELECT_LIST = re.compile(r"SELECT ((?:(?!SELECT ).)*?) FROM ", re.IGNORECASE)


def short_sql(statement: str) -> str:
    """The statement on one line, each long column list left out."""

    def columns(match: re.Match[str]) -> str:
        listed = match.group(1)
        return match.group(0) if len(listed) <= 40 else "SELECT … FROM "

    return _SELECT_LIST.sub(columns, " ".join(statement.split()))


def explain(database: Database, statements: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Each SELECT's plan on ``database``, as (short SQL, plan)."""
    engine = create_engine(normalise_database_url(database.url))
    plans = []
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            if database.backend == "postgresql":
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plan = "\n".join(row[0] for row in cursor.fetchall())
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
            plans.append((short_sql(statement), plan))
        connection.rollback()
    finally:
        connection.close()
        engine.dispose()
    return plans


def format_plans(title: str, plans: list[tuple[str, str]]) -> str:
    parts = [f"#### {title}", ""]
    for sql, plan in plans:
        parts += [f"`{sql}`", "", "```", plan, "```", ""]
    return "\n".join(parts)


def _close(app: Flask) -> None:
    with app.app_context():
        db.engine.dispose()


# --- the run -----------------------------------------------------------------------------

HEADER = [
    "page",
    "database",
    "shown (small / large)",
    "SQL/req (small / large)",
    "same queries",
    "ms small",
    "ms large",
    "ratio",
    "≤ 1.5×",
    "ratio per item shown",
]


def _cells(backend: str, small: dict[str, Measured], large: dict[str, Measured]) -> list[list[str]]:
    name = "SQLite" if backend == "sqlite" else "PostgreSQL"
    rows = []
    for key, page in PAGES.items():
        a, b = small[key], large[key]
        ratio = b.median_ms / a.median_ms if a.median_ms else float("nan")
        status = "" if a.status == b.status == 200 else f" (HTTP {a.status} / {b.status})"
        per_item = "-"
        if page.per_item and a.shown != b.shown and a.shown and b.shown:
            per_item = f"{(b.median_ms / b.shown) / (a.median_ms / a.shown):.2f}"
        rows.append(
            [
                page.label + status,
                name,
                f"{a.shown} / {b.shown}",
                f"{a.queries} / {b.queries}",
                "yes" if a.queries == b.queries else "no",
                f"{a.median_ms:.2f}",
                f"{b.median_ms:.2f}",
                f"{ratio:.2f}",
                "✓" if ratio <= RATIO_LIMIT else "✗",
                per_item,
            ]
        )
    return rows


def main(options: argparse.Namespace, backends: list[str]) -> int:
    intro = (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; in-process (Flask's test "
        f"client, one request at a time), the median of {options.requests} requests per "
        "page after 3 warm-up ones. small: 50 upcoming and 50 past events, 1,490 "
        "registrations; large: 200 upcoming and 9,800 past events, 100,000 registrations; "
        "both with the same 500-person event."
    )
    print(intro + "\n", flush=True)
    cells: list[list[str]] = []
    plan_sections: list[str] = []
    with workdir() as tmp:
        directory = Path(tmp)
        for backend in backends:
            with ExitStack() as stack:
                sites, databases = {}, {}
                for shape in (SMALL, LARGE):
                    database = stack.enter_context(migrated_database(backend, directory))
                    facts = build(database, shape, directory)
                    app = make_app(database, directory)
                    stack.callback(_close, app)  # before the database is dropped
                    sites[shape.name], databases[shape.name] = (app, facts), database
                measured = measure(sites, options.requests)
                if options.explain or options.write_docs:
                    for key in PAGES if options.explain else ("catalogue", "attendees"):
                        plans = explain(databases["large"], measured["large"][key].statements)
                        section = format_plans(f"{PAGES[key].label}, large, {backend}", plans)
                        if options.explain:
                            print(section, flush=True)
                        if backend == "postgresql" and key in ("catalogue", "attendees"):
                            plan_sections.append(section)
            cells += _cells(backend, measured["small"], measured["large"])
    print()
    table = print_table("Cost as the data grow", HEADER, cells)
    text_out = "\n".join([intro, "", table, *plan_sections])
    results = PROJECT_ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "scale.md").write_text(text_out, encoding="utf-8")
    print(f"Written to {(results / 'scale.md').relative_to(PROJECT_ROOT)}")
    if options.write_docs:
        docs = PROJECT_ROOT / "docs" / "benchmarks.md"
        replace_marked(docs, GROWTH_START, GROWTH_END, text_out)
        print(f"Growth figures replaced in {docs.relative_to(PROJECT_ROOT)}")
    return 0
