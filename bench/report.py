"""What a row of `make bench` holds, its table, and the docs section it can replace."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import LoadResult, ms

#: Issue 11, item 2: the app's rate over its ceiling's, per kind of row.
TARGETS = {
    "catalogue": 0.6,
    "event": 0.6,
    "feed": 0.7,
    "feed-304": 0.85,
    "registration": 0.5,
}
#: A worker's peak resident set, at most (issue 11, item 2).
RSS_LIMIT_MB = 150

HEADER = [
    "path",
    "server",
    "req/s",
    "p50 ms",
    "p95 ms",
    "ratio",
    "target",
    "SQL/req",
    "body",
    "worker peak RSS",
    "client CPU",
    "failed",
]


@dataclass
class Side:
    """One server's share of a row."""

    label: str
    result: LoadResult
    #: SQL statements one request sends, counted in-process ("-" when not counted).
    queries: str
    body_bytes: int | None
    rss_kib: int | None


@dataclass
class Row:
    path: str
    #: A key of TARGETS, or None for a row shown without a target.
    kind: str | None
    app: Side
    ceiling: Side
    #: The latency of which sample ("get", "post") the row shows.
    sample: str = "get"
    #: Anything wrong that the table does not show (e.g. a registration not stored).
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        ceiling = self.ceiling.result.per_second
        return self.app.result.per_second / ceiling if ceiling else None

    @property
    def target_met(self) -> bool | None:
        if self.kind is None or self.ratio is None:
            return None
        return self.ratio >= TARGETS[self.kind]

    def cells(self) -> list[list[str]]:
        ratio = self.ratio
        target = ""
        if self.kind is not None:
            mark = "" if ratio is None else (" ✓" if self.target_met else " ✗")
            target = f"≥ {TARGETS[self.kind]:g}{mark}"
        return [
            self._side(self.path, self.app, f"{ratio:.2f}" if ratio is not None else "-", target),
            self._side("", self.ceiling, "1", ""),
        ]

    def _side(self, path: str, side: Side, ratio: str, target: str) -> list[str]:
        result = side.result
        return [
            path,
            side.label,
            f"{result.per_second:.0f}",
            ms(result.percentile(self.sample, 50)),
            ms(result.percentile(self.sample, 95)),
            ratio,
            target,
            side.queries,
            _size(side.body_bytes),
            _rss(side.rss_kib, check=side is self.app),
            f"{result.client_cpu / result.elapsed:.0%}" if result.elapsed else "-",
            str(result.failures),
        ]

    def failures(self) -> list[str]:
        lines = list(self.notes)
        for side in (self.app, self.ceiling):
            for kind, count in side.result.failure_kinds.most_common():
                lines.append(f"  {self.path}, {side.label}: {count} × {kind}")
            for error in side.result.errors:
                lines.append(f"  {self.path}, {side.label}: {error}")
        return lines


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    return f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} B"


def _rss(kib: int | None, *, check: bool) -> str:
    if kib is None:
        return "-"
    megabytes = kib * 1024 / 1_000_000
    mark = (" ✓" if megabytes <= RSS_LIMIT_MB else " ✗") if check else ""
    return f"{megabytes:.0f} MB{mark}"


def table_cells(rows: list[Row]) -> list[list[str]]:
    return [cells for row in rows for cells in row.cells()]


def summary(rows: list[Row]) -> str:
    """One line: how many targets the run met."""
    judged = [row for row in rows if row.target_met is not None]
    met = [row for row in judged if row.target_met]
    missed = ", ".join(row.path for row in judged if not row.target_met)
    rss = [row.app.rss_kib for row in rows if row.app.rss_kib is not None]
    rss_ok = all(kib * 1024 / 1_000_000 <= RSS_LIMIT_MB for kib in rss)
    text = f"Ratio targets met: {len(met)} of {len(judged)}"
    if missed:
        text += f" (missed: {missed})"
    if rss:
        text += f"; worker RSS ≤ {RSS_LIMIT_MB} MB: {'yes' if rss_ok else 'no'}"
    return text + "."


# --- docs/benchmarks.md ------------------------------------------------------------------

FIGURES_START = "<!-- figures: written by `python -m bench --write-docs`; edit the method above -->"
FIGURES_END = "<!-- end of figures -->"
GROWTH_START = "<!-- growth: written by `python -m bench --scale --write-docs` -->"
GROWTH_END = "<!-- end of growth -->"


def replace_marked(path: Path, start: str, end: str, content: str) -> None:
    """Put ``content`` between the markers ``start`` and ``end`` in ``path``."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{path}: the markers {start!r} … {end!r} are missing")
    path.write_text(
        pattern.sub(lambda _: f"{start}\n\n{content.strip()}\n\n{end}", text), encoding="utf-8"
    )
