"""Benchmark (b): the 300-event calendar feed, full (200) and conditional (304).

The real feed (/calendar.ics) is fetched once; its bytes go to the bare baseline,
which serves them from memory with a strong ETag. Both run under the same
gunicorn settings on the same database, one after the other.
"""

from __future__ import annotations

from pathlib import Path

from bench import data
from bench.harness import (
    Database,
    LoadResult,
    Server,
    app_context,
    gunicorn,
    ms,
    request,
    run_load,
    timed,
)

FEED_PATH = "/calendar.ics"
FEED_EVENTS = 300


def fetch(server: Server, headers: dict[str, str], expected: int):
    def iteration(number: int):
        _, sample = timed(
            "get",
            lambda: request(server, "GET", FEED_PATH, headers=headers),
            lambda r: r.status == expected,
        )
        return [sample]

    return iteration


def _measure_server(
    server: Server, *, clients: int, seconds: float
) -> tuple[bytes, dict[str, LoadResult]]:
    first = request(server, "GET", FEED_PATH)
    if first.status != 200:
        raise RuntimeError(f"{FEED_PATH} answered {first.status}")
    etag = first.headers.get("etag")
    results = {}
    cases = [("full", {}, 200)]
    if etag:
        cases.append(("304", {"If-None-Match": etag}, 304))
    for case, headers, expected in cases:
        run_load(fetch(server, headers, expected), clients=clients, seconds=1.0)
        results[case] = run_load(fetch(server, headers, expected), clients=clients, seconds=seconds)
    return first.body, results


def measure(
    database: Database, workdir: Path, *, workers: int, clients: int, seconds: float
) -> list[list[str]]:
    with app_context(database, workdir):
        data.seed_feed_events(FEED_EVENTS)
    with gunicorn("wsgi:app", database, workdir, workers=workers) as server:
        feed, app_results = _measure_server(server, clients=clients, seconds=seconds)
    feed_file = workdir / "feed.ics"
    feed_file.write_bytes(feed)
    with gunicorn(
        "bench.baseline:app",
        database,
        workdir,
        workers=workers,
        extra_env={"BENCH_FEED_FILE": str(feed_file)},
        ready_path=FEED_PATH,
    ) as server:
        _, base_results = _measure_server(server, clients=clients, seconds=seconds)

    rows = []
    for case in ("full", "304"):
        base = base_results.get(case)
        for label, results in (
            ("cluster_events", app_results),
            ("bare Flask baseline", base_results),
        ):
            result = results.get(case)
            if result is None:
                rows.append([case, label, "no ETag", "-", "-", "-", "-", "-"])
                continue
            rows.append(
                [
                    case,
                    label,
                    f"{result.per_second:.1f}",
                    ms(result.percentile("get", 50)),
                    ms(result.percentile("get", 95)),
                    str(result.failures),
                    f"{len(feed) / 1024:.0f} KiB" if case == "full" else "0",
                    f"{result.per_second / base.per_second:.3g}" if base else "-",
                ]
            )
    return rows


HEADER = ["response", "target", "requests/s", "p50 ms", "p95 ms", "failed", "body", "ratio"]
