"""Registrations under 16 concurrent clients, against the bare form-validate-and-insert
route of bench/baseline.py.

- **new visitor** (the row with the target, measured as before issue 11): each iteration
  is a new visitor, GET of the page with the form (the event page; the ceiling's small
  form page), then the POST with a new address. req/s are visitors per second.
- **POST alone** (SQLite only): each client takes a session cookie and a CSRF token from
  one GET of the form page during the warm-up, then sends the filled-in form back to
  back, each time with a new address: the POST's own rate.

Every POST of the app confirms a seat and queues the email. The real app
(POST /events/<slug>/register) and the ceiling (POST /form) run at once under the same
gunicorn settings on the same database, in alternating turns. Afterwards the rows in
the database are counted: every accepted POST must be there.
"""

from __future__ import annotations

import html
import itertools
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from bench import baseline, data
from bench.baseline import baseline_registration, create_schema
from bench.harness import (
    Database,
    Response,
    Sample,
    Server,
    alternate,
    app_context,
    exchange,
    gunicorn,
    make_app,
    peak_rss_kib,
    raw_request,
    request,
    timed,
    warm_up,
)
from bench.queries import counted
from bench.report import Row, Side
from cluster_events.config import normalise_database_url

CSRF_INPUT = re.compile(r"<input[^>]*\bname=\"csrf_token\"[^>]*>")
VALUE = re.compile(r"\bvalue=\"([^\"]*)\"")
ACCEPTED = (302, 303)
APP_LABEL = "cluster_events"
BASE_LABEL = "ceiling: bare validate + insert"


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


@dataclass
class Target:
    form_path: str
    post_path: str


def _new_visitor(server: Server, target: Target) -> tuple[Response | None, Sample]:
    return timed(
        "page", lambda: request(server, "GET", target.form_path), lambda r: r.status == 200
    )


def poster(server: Server, target: Target, run: str):
    """POSTs only: a client's session and token come from one GET, made on its first
    iteration (the warm-up's) and kept for the rest."""
    addresses = itertools.count(1)  # next() is atomic in CPython
    sessions: dict[int, tuple[dict[str, str], str]] = {}
    lock = threading.Lock()

    def iteration(number: int) -> list[Sample]:
        client = number // 1_000_000
        with lock:
            known = sessions.get(client)
        if known is None:
            page, sample = _new_visitor(server, target)
            if page is None or not sample.ok:
                return [sample]
            known = (page.cookies, csrf_token(page.text))
            with lock:
                sessions[client] = known
        cookies, token = known
        form = {**form_values(run, next(addresses)), "csrf_token": token}
        raw = raw_request(server, "POST", target.post_path, form=form, cookies=cookies)
        _, sample = timed("post", lambda: exchange(server, raw), lambda r: r.status in ACCEPTED)
        return [sample]

    return iteration


def visitor(server: Server, target: Target, run: str):
    """A new visitor each time: GET the page with the form, then POST it."""
    addresses = itertools.count(1)

    def iteration(_: int) -> list[Sample]:
        page, page_sample = _new_visitor(server, target)
        if page is None or not page_sample.ok:
            return [page_sample]
        form = {**form_values(run, next(addresses)), "csrf_token": csrf_token(page.text)}
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


def _post_queries(app, target: Target) -> str:
    """Statements of one registration POST, counted in-process."""
    client = app.test_client()
    page = client.get(target.form_path)
    form = {**form_values("count", 1), "csrf_token": csrf_token(page.get_data(as_text=True))}
    count, response = counted(client, "POST", target.post_path, data=form)
    if response.status_code not in ACCEPTED:
        raise RuntimeError(f"in-process POST {target.post_path} answered {response.status_code}")
    return str(count)


def measure(
    database: Database,
    workdir: Path,
    *,
    workers: int,
    clients: int,
    seconds: float,
    post_alone: bool = False,
) -> list[Row]:
    app = make_app(database, workdir)
    with app_context(database, workdir, app):
        slug = data.seed_catalogue().registration_slug
    create_schema(database.url)
    app_target = Target(f"/events/{slug}", f"/events/{slug}/register")
    base_target = Target("/form", "/form")
    ceiling_app = baseline.create_baseline_app(database.url, "ceiling-" + "x" * 32)
    queries = (_post_queries(app, app_target), _post_queries(ceiling_app, base_target))
    kinds = [("visitor", visitor)] + ([("POST", poster)] if post_alone else [])
    rows = []
    with (
        gunicorn("wsgi:app", database, workdir, workers=workers) as app_server,
        gunicorn(
            "bench.baseline:app", database, workdir, workers=workers, ready_path="/form"
        ) as base_server,
    ):
        for kind, make in kinds:
            run = uuid.uuid4().hex[:8]
            pair = {
                APP_LABEL: make(app_server, app_target, run),
                BASE_LABEL: make(base_server, base_target, run),
            }
            warm_up(pair, clients=clients)
            before = {table: count_rows(database, table) for table in ("registration", "base")}
            results = alternate(pair, clients=clients, seconds=seconds)
            stored = {
                APP_LABEL: count_rows(database, "registration") - before["registration"],
                BASE_LABEL: count_rows(database, "base") - before["base"],
            }
            name = "SQLite" if database.backend == "sqlite" else "PostgreSQL"
            path = (
                f"registration POST alone ({name})"
                if kind == "POST"
                else f"registration: new visitor, GET form + POST ({name})"
            )
            row = Row(
                path,
                "registration" if kind == "visitor" else None,
                Side(APP_LABEL, results[APP_LABEL], queries[0], None, peak_rss_kib(app_server)),
                Side(BASE_LABEL, results[BASE_LABEL], queries[1], None, peak_rss_kib(base_server)),
                sample="post",
            )
            for label, result in results.items():
                accepted = len(result.samples.get("post", []))
                if accepted != stored[label]:
                    row.notes.append(
                        f"{path}, {label}: {accepted} POSTs accepted but {stored[label]} "
                        "rows stored"
                    )
            rows.append(row)
    return rows
