"""Benchmark (a): registrations per second under 16 concurrent visitors.

Each iteration is one new visitor: GET the page with the form (session cookie and
CSRF token), then POST the filled-in form with a unique address. The real app
(event page, POST /events/<slug>/register) and the bare baseline (GET/POST /form)
run at once under the same gunicorn settings on the same database, measured in
alternating turns so that the machine's load touches both alike.
Afterwards the rows in the database are counted: every accepted POST must be there.
"""

from __future__ import annotations

import html
import itertools
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from bench import data
from bench.baseline import baseline_registration, create_schema
from bench.harness import (
    Database,
    Sample,
    Server,
    alternate,
    app_context,
    gunicorn,
    ms,
    request,
    timed,
    warm_up,
)
from cluster_events.config import normalise_database_url

CSRF_INPUT = re.compile(r"<input[^>]*\bname=\"csrf_token\"[^>]*>")
VALUE = re.compile(r"\bvalue=\"([^\"]*)\"")
ACCEPTED = (302, 303)


def csrf_token(page: str) -> str:
    tag = CSRF_INPUT.search(page)
    value = VALUE.search(tag.group(0)) if tag else None
    if value is None:
        raise ValueError("no csrf_token input in the page")
    return html.unescape(value.group(1))


def form_values(run: str, number: int) -> dict[str, str]:
    return {
        "name": "横須賀 花子",
        "name_kana": "よこすか はなこ",
        "email": f"bench-{run}-{number}@example.org",
        "organization": "株式会社ベンチ製作所",
        "title": "代表取締役",
        "phone": "046-847-6355",
        "member_type": "general",
        "remarks": "駐車場はありますか。",
        "agree_privacy": "y",
    }


APP_LABEL = "cluster_events (wsgi:app)"
BASE_LABEL = "bare Flask baseline"


@dataclass
class Target:
    label: str
    form_path: str
    post_path: str


def visitor(server: Server, target: Target, run: str):
    addresses = itertools.count(1)  # unique across turns; next() is atomic in CPython

    def iteration(_: int) -> list[Sample]:
        number = next(addresses)
        page, page_sample = timed(
            "page", lambda: request(server, "GET", target.form_path), lambda r: r.status == 200
        )
        if page is None or not page_sample.ok:
            return [page_sample]
        form = {**form_values(run, number), "csrf_token": csrf_token(page.text)}
        _, post_sample = timed(
            "post",
            lambda: request(server, "POST", target.post_path, form=form, cookies=page.cookies),
            lambda r: r.status in ACCEPTED,
        )
        return [page_sample, post_sample]

    return iteration


def count_rows(database: Database, table: str) -> int:
    engine = create_engine(normalise_database_url(database.url))
    with engine.connect() as connection:
        if table == "registration":
            rows = connection.execute(text("SELECT count(*) FROM registration")).scalar_one()
        else:
            rows = connection.execute(
                select(func.count()).select_from(baseline_registration)
            ).scalar_one()
    engine.dispose()
    return int(rows)


def measure(
    database: Database, workdir: Path, *, workers: int, clients: int, seconds: float
) -> list[list[str]]:
    with app_context(database, workdir):
        slug = data.seed_registration_event()
    create_schema(database.url)
    run = uuid.uuid4().hex[:8]
    app_target = Target("app", f"/events/{slug}", f"/events/{slug}/register")
    base_target = Target("base", "/form", "/form")
    with (
        gunicorn("wsgi:app", database, workdir, workers=workers) as app_server,
        gunicorn("bench.baseline:app", database, workdir, workers=workers) as base_server,
    ):
        warm_up(
            {
                APP_LABEL: visitor(app_server, app_target, run + "w"),
                BASE_LABEL: visitor(base_server, base_target, run + "w"),
            },
            clients=clients,
        )
        before = {table: count_rows(database, table) for table in ("registration", "baseline")}
        results = alternate(
            {
                APP_LABEL: visitor(app_server, app_target, run),
                BASE_LABEL: visitor(base_server, base_target, run),
            },
            clients=clients,
            seconds=seconds,
        )
        stored = {
            APP_LABEL: count_rows(database, "registration") - before["registration"],
            BASE_LABEL: count_rows(database, "baseline") - before["baseline"],
        }

    rows = []
    baseline_rate = results[BASE_LABEL].per_second
    for label, result in results.items():
        accepted = len(result.samples.get("post", []))
        rows.append(
            [
                database.backend,
                label,
                f"{result.per_second:.1f}",
                ms(result.percentile("post", 50)),
                ms(result.percentile("post", 95)),
                ms(result.percentile("page", 50)),
                f"{accepted}/{stored[label]}",
                str(result.failures),
                f"{result.per_second / baseline_rate:.3g}" if baseline_rate else "-",
            ]
        )
        for error in result.errors:
            print(f"  {label}: {error}")
        for kind, count in result.failure_kinds.most_common():
            print(f"  {database.backend}, {label}: {count} × {kind}")
    return rows


HEADER = [
    "database",
    "target",
    "registrations/s",
    "POST p50 ms",
    "POST p95 ms",
    "page GET p50 ms",
    "accepted/stored",
    "failed",
    "ratio to baseline",
]
