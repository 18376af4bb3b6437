"""`python -m bench`: every public path against its ceiling, under gunicorn on loopback;
the table on stdout and in bench/results/latest.md (and, with --write-docs, in
docs/benchmarks.md). `python -m bench --scale`: cost as the data grow, in-process."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from bench import public, registrations
from bench.harness import (
    PROJECT_ROOT,
    migrated_database,
    postgres_unavailable_reason,
    print_table,
    workdir,
)
from bench.report import (
    FIGURES_END,
    FIGURES_START,
    HEADER,
    Row,
    replace_marked,
    summary,
    table_cells,
)

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
DOCS_FILE = PROJECT_ROOT / "docs" / "benchmarks.md"
ONLY = ("catalogue", "event", "feeds", "registrations")


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("BENCH_SECONDS", 8)),
        help="measured seconds per server and row (default 8, or BENCH_SECONDS)",
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--only", choices=ONLY, action="append", help="repeatable")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="also replace the figures in docs/benchmarks.md with this run's",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="cost as the data grow: 10,000 events and 100,000 registrations against the "
        "50-event database, in-process (see bench/scale.py)",
    )
    parser.add_argument(
        "--explain", action="store_true", help="with --scale: print the query plans"
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=int(os.environ.get("BENCH_SCALE_REQUESTS", 30)),
        help="with --scale: timed requests per page and database (median)",
    )
    return parser.parse_args(argv)


def _backends(options: argparse.Namespace) -> list[str]:
    backends = ["sqlite"]
    skipped = "--no-postgres" if options.no_postgres else postgres_unavailable_reason()
    if skipped is None:
        backends.append("postgresql")
    else:
        print(f"PostgreSQL skipped: {skipped}")
    return backends


def _progress(row: Row) -> None:
    ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
    print(
        f"  {row.path}: {row.app.result.per_second:.0f} req/s, "
        f"ceiling {row.ceiling.result.per_second:.0f} req/s, ratio {ratio}",
        flush=True,
    )


def main(argv: list[str]) -> int:
    options = parse_arguments(argv)
    backends = _backends(options)
    if options.scale:
        from bench import scale

        return scale.main(options, backends)

    only = set(options.only or ONLY)
    load = {"workers": options.workers, "clients": options.clients, "seconds": options.seconds}
    intro = (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the start; gunicorn -w {options.workers} (sync) for "
        f"the app and for its ceiling, {options.clients} concurrent clients on loopback, "
        f"{options.seconds:g} s per server and row (in 3 alternating turns) after 1 s of "
        "warm-up. SQL/req counted in-process (a second request; a first that differs in "
        "brackets)."
    )
    print(intro + "\n", flush=True)
    started = time.monotonic()
    rows: list[Row] = []
    with workdir() as tmp:
        directory = Path(tmp)
        public_rows = only & {"catalogue", "event", "feeds"}
        if public_rows:
            with migrated_database("sqlite", directory) as database:
                rows += public.measure(
                    database, directory, include=frozenset(public_rows), progress=_progress, **load
                )
        if "registrations" in only:
            for backend in backends:
                with migrated_database(backend, directory) as database:
                    for row in registrations.measure(
                        database, directory, post_alone=backend == "sqlite", **load
                    ):
                        _progress(row)
                        rows.append(row)

    print()
    table = print_table(
        "Public paths against their ceilings (SQLite unless named)", HEADER, table_cells(rows)
    )
    verdict = summary(rows)
    notes = [line for row in rows for line in row.failures()]
    took = f"The run took {time.monotonic() - started:.0f} s."
    print("\n".join([verdict, *notes, took]))
    text = "\n".join([intro, "", table, verdict, "", *notes, took, ""])
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "latest.md").write_text(text, encoding="utf-8")
    print(f"Written to {(RESULTS_DIR / 'latest.md').relative_to(PROJECT_ROOT)}")
    if options.write_docs:
        replace_marked(DOCS_FILE, FIGURES_START, FIGURES_END, text)
        print(f"Figures replaced in {DOCS_FILE.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
