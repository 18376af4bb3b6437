"""Benchmark (b): the 300-event calendar feed, full (200) and conditional (304).

The real feed (/calendar.ics) is fetched once; its bytes go to the bare baseline,
which serves them from memory with a strong ETag. Both run at once under the same
gunicorn settings on the same database, measured in alternating turns.
"""

from __future__ import annotations

from pathlib import Path

from bench import data
from bench.harness import (
    Database,
    Server,
    alternate,
    app_context,
    gunicorn,
    ms,
    request,
    timed,
    warm_up,
)

FEED_PATH = "/calendar.ics"
FEED_EVENTS = 300
APP_LABEL = "cluster_events"
BASE_LABEL = "bare Flask baseline"


def fetch(server: Server, headers: dict[str, str], expected: int):
    def iteration(number: int):
        _, sample = timed(
            "get",
            lambda: request(server, "GET", FEED_PATH, headers=headers),
            lambda r: r.status == expected,
        )
        return [sample]

    return iteration


def measure(
    database: Database, workdir: Path, *, workers: int, clients: int, seconds: float
) -> list[list[str]]:
    with app_context(database, workdir):
        data.seed_feed_events(FEED_EVENTS)
    with gunicorn("wsgi:app", database, workdir, workers=workers) as app_server:
        first = request(app_server, "GET", FEED_PATH)
        if first.status != 200:
            raise RuntimeError(f"{FEED_PATH} answered {first.status}")
        feed_file = workdir / "feed.ics"
        feed_file.write_bytes(first.body)
        in_feed = first.body.count(b"BEGIN:VEVENT")
        if in_feed != FEED_EVENTS:
            raise RuntimeError(f"{FEED_PATH} holds {in_feed} events, expected {FEED_EVENTS}")
        with gunicorn(
            "bench.baseline:app",
            database,
            workdir,
            workers=workers,
            extra_env={"BENCH_FEED_FILE": str(feed_file)},
            ready_path=FEED_PATH,
        ) as base_server:
            base_etag = request(base_server, "GET", FEED_PATH).headers["etag"]
            app_etag = first.headers.get("etag")
            cases = {
                "full": {
                    APP_LABEL: fetch(app_server, {}, 200),
                    BASE_LABEL: fetch(base_server, {}, 200),
                }
            }
            if app_etag:
                cases["304"] = {
                    APP_LABEL: fetch(app_server, {"If-None-Match": app_etag}, 304),
                    BASE_LABEL: fetch(base_server, {"If-None-Match": base_etag}, 304),
                }
            results = {}
            for case, iterations in cases.items():
                warm_up(iterations, clients=clients)
                results[case] = alternate(iterations, clients=clients, seconds=seconds)

    rows = []
    for case in ("full", "304"):
        if case not in results:
            rows.append([case, APP_LABEL, "no ETag", "-", "-", "-", "-", "-"])
            continue
        base_rate = results[case][BASE_LABEL].per_second
        for label, result in results[case].items():
            rows.append(
                [
                    case,
                    label,
                    f"{result.per_second:.1f}",
                    ms(result.percentile("get", 50)),
                    ms(result.percentile("get", 95)),
                    str(result.failures),
                    f"{len(first.body) / 1024:.0f} KiB" if case == "full" else "0",
                    f"{result.per_second / base_rate:.3g}" if base_rate else "-",
                ]
            )
            for kind, count in result.failure_kinds.most_common():
                print(f"  {case}, {label}: {count} × {kind}")
    return rows


HEADER = ["response", "target", "requests/s", "p50 ms", "p95 ms", "failed", "body", "ratio"]
