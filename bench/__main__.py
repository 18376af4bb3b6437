"""`python -m bench`: every benchmark against gunicorn on loopback, tables on stdout
and in bench/results/latest.md."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from bench import feeds, registrations
from bench.harness import (
    PROJECT_ROOT,
    migrated_database,
    postgres_unavailable_reason,
    print_table,
    workdir,
)

RESULTS_FILE = PROJECT_ROOT / "bench" / "results" / "latest.md"


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 6)))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--only", choices=["registrations", "feeds"])
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    options = parse_arguments(argv)
    load = {"workers": options.workers, "clients": options.clients, "seconds": options.seconds}
    backends = ["sqlite"]
    skipped = "--no-postgres" if options.no_postgres else postgres_unavailable_reason()
    if skipped is None:
        backends.append("postgresql")
    else:
        print(f"PostgreSQL rows skipped: {skipped}")

    intro = (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; "
        f"gunicorn -w {options.workers} (sync), "
        f"{options.clients} concurrent clients on loopback, {options.seconds:g} s per row "
        "after 1 s of warm-up."
    )
    print(intro + "\n")
    tables = [intro, ""]
    with workdir() as tmp:
        directory = Path(tmp)
        if options.only in (None, "registrations"):
            rows = []
            for backend in backends:
                with migrated_database(backend, directory) as database:
                    rows += registrations.measure(database, directory, **load)
            tables.append(
                print_table(
                    "Registrations (GET form page + POST form, one new visitor each)",
                    registrations.HEADER,
                    rows,
                )
            )
        if options.only in (None, "feeds"):
            with migrated_database("sqlite", directory) as database:
                rows = feeds.measure(database, directory, **load)
            tables.append(
                print_table(
                    f"Calendar feed {feeds.FEED_PATH}, {feeds.FEED_EVENTS} events (SQLite)",
                    feeds.HEADER,
                    rows,
                )
            )
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    RESULTS_FILE.write_text("\n".join(tables), encoding="utf-8")
    print(f"Written to {RESULTS_FILE.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
