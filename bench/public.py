"""The public GET paths against their ceilings: the catalogue's first page (30 cards)
with 50 upcoming events, an event page with its registration form, and the full feed
with 50 and with 300 events, in full (200) and conditional (304).

Each real page is fetched once from the app; its bytes are what the ceiling
(bench/baseline.py) serves or renders. The app and its ceiling run at once under the
same gunicorn settings on the same database and are measured in alternating turns.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench import baseline, data
from bench.harness import (
    Database,
    Iteration,
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
from bench.queries import per_request
from bench.report import Row, Side

APP_LABEL = "cluster_events"
CATALOGUE_EVENTS = 50
FEED_EVENTS = (50, 300)


def getter(server: Server, path: str, expected: int, headers: dict[str, str] | None = None):
    """An iteration that GETs ``path`` (its request's bytes built once)."""
    raw = raw_request(server, "GET", path, headers=headers)

    def iteration(_: int) -> list[Sample]:
        _, sample = timed("get", lambda: exchange(server, raw), lambda r: r.status == expected)
        return [sample]

    return iteration


def _fetch(server: Server, path: str) -> bytes:
    response = request(server, "GET", path)
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}")
    return response.body


def _row(
    path: str,
    kind: str,
    servers: tuple[Server, Server],
    iterations: tuple[Iteration, Iteration],
    ceiling_label: str,
    queries: tuple[str, str],
    sizes: tuple[int | None, int | None],
    load: dict[str, float],
) -> Row:
    pair = {APP_LABEL: iterations[0], ceiling_label: iterations[1]}
    warm_up(pair, clients=int(load["clients"]))
    results = alternate(pair, clients=int(load["clients"]), seconds=load["seconds"])
    app_server, ceiling_server = servers
    return Row(
        path,
        kind,
        Side(APP_LABEL, results[APP_LABEL], queries[0], sizes[0], peak_rss_kib(app_server)),
        Side(
            ceiling_label,
            results[ceiling_label],
            queries[1],
            sizes[1],
            peak_rss_kib(ceiling_server),
        ),
    )


def measure(
    database: Database,
    workdir: Path,
    *,
    workers: int,
    clients: int,
    seconds: float,
    include: frozenset[str] = frozenset({"catalogue", "event", "feeds"}),
    progress: Callable[[Row], None] = lambda row: None,
) -> list[Row]:
    """The rows of ``include`` (catalogue, event, feeds), each passed to ``progress``
    as soon as it is measured."""
    load = {"clients": clients, "seconds": seconds}
    pages = workdir / "ceiling"
    pages.mkdir(exist_ok=True)
    app = make_app(database, workdir)
    with app_context(database, workdir, app):
        catalogue = data.seed_catalogue(CATALOGUE_EVENTS)
    ceiling_app = baseline.create_baseline_app(database.url, "ceiling-" + "x" * 32, pages)
    #: The catalogue's first page: as many cards as a page holds (the ceiling serves the
    #: same page).
    shown = min(CATALOGUE_EVENTS, app.config["CATALOGUE_EVENTS_PER_PAGE"])
    event_path = f"/events/{catalogue.event_page_slug}"
    rows: list[Row] = []

    def add(row: Row) -> None:
        rows.append(row)
        progress(row)

    with gunicorn("wsgi:app", database, workdir, workers=workers) as app_server:
        page = _fetch(app_server, "/")
        cards = baseline.count_cards(page.decode())
        if cards != shown:
            raise RuntimeError(f"/ shows {cards} event cards, expected {shown}")
        (pages / "catalogue.html").write_bytes(page)
        (pages / "event.html").write_bytes(_fetch(app_server, event_path))
        _capture_feed(app_server, pages, FEED_EVENTS[0])
        with gunicorn(
            "bench.baseline:app",
            database,
            workdir,
            workers=workers,
            extra_env={"BENCH_CEILING_DIR": str(pages)},
            ready_path="/form",
        ) as ceiling_server:
            servers = (app_server, ceiling_server)
            sizes = {
                path: len(_fetch(server, path))
                for server, path in ((app_server, "/"), (app_server, event_path))
            }
            ceiling_sizes = {
                path: len(_fetch(ceiling_server, path)) for path in ("/catalogue", "/event")
            }
            if "catalogue" in include:
                add(
                    _row(
                        f"catalogue `/`, {CATALOGUE_EVENTS} upcoming, first page",
                        "catalogue",
                        servers,
                        (getter(app_server, "/", 200), getter(ceiling_server, "/catalogue", 200)),
                        f"ceiling: Jinja, {shown} cards",
                        (per_request(app, "/"), per_request(ceiling_app, "/catalogue")),
                        (sizes["/"], ceiling_sizes["/catalogue"]),
                        load,
                    )
                )
            if "event" in include:
                add(
                    _row(
                        "event page `/events/<slug>`",
                        "event",
                        servers,
                        (
                            getter(app_server, event_path, 200),
                            getter(ceiling_server, "/event", 200),
                        ),
                        "ceiling: Jinja + Flask-WTF form",
                        (per_request(app, event_path), per_request(ceiling_app, "/event")),
                        (sizes[event_path], ceiling_sizes["/event"]),
                        load,
                    )
                )
            for number, count in enumerate(FEED_EVENTS if "feeds" in include else ()):
                if number:
                    with app_context(database, workdir, app):
                        data.seed_more_events(count - FEED_EVENTS[0], first_number=1000)
                    _capture_feed(app_server, pages, count)
                for row in _feed_rows(app, ceiling_app, servers, count, load):
                    add(row)
    return rows


def _capture_feed(server: Server, pages: Path, count: int) -> None:
    body = _fetch(server, "/calendar.ics")
    in_feed = body.count(b"BEGIN:VEVENT")
    if in_feed != count:
        raise RuntimeError(f"/calendar.ics holds {in_feed} events, expected {count}")
    (pages / f"feed-{count}.ics").write_bytes(body)


def _feed_rows(app, ceiling_app, servers, count: int, load) -> list[Row]:
    app_server, ceiling_server = servers
    ceiling_path = f"/feed/feed-{count}.ics"
    first = request(app_server, "GET", "/calendar.ics")
    ceiling_first = request(ceiling_server, "GET", ceiling_path)
    rows = [
        _row(
            f"feed `/calendar.ics`, {count} events, 200",
            "feed",
            servers,
            (
                getter(app_server, "/calendar.ics", 200),
                getter(ceiling_server, ceiling_path, 200),
            ),
            "ceiling: the bytes from memory",
            (per_request(app, "/calendar.ics"), per_request(ceiling_app, ceiling_path)),
            (len(first.body), len(ceiling_first.body)),
            load,
        )
    ]
    etag = first.headers.get("etag")
    if etag is None:
        print(f"  /calendar.ics ({count} events) sends no ETag: no 304 row")
        return rows
    app_304 = {"If-None-Match": etag}
    ceiling_304 = {"If-None-Match": ceiling_first.headers["etag"]}
    rows.append(
        _row(
            f"feed `/calendar.ics`, {count} events, 304",
            "feed-304",
            servers,
            (
                getter(app_server, "/calendar.ics", 304, app_304),
                getter(ceiling_server, ceiling_path, 304, ceiling_304),
            ),
            "ceiling: a 304 from a bare route",
            (
                per_request(app, "/calendar.ics", expect=304, headers=app_304),
                per_request(ceiling_app, ceiling_path, expect=304, headers=ceiling_304),
            ),
            (0, 0),
            load,
        )
    )
    return rows
