"""Benchmark plumbing: throwaway databases, gunicorn processes on loopback, a bounded
load generator and a table printer. Nothing here knows about one benchmark."""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

if TYPE_CHECKING:
    from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SECRET_KEY = "bench-secret-key-" + "x" * 32
POSTGRES_SERVER_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


# --- databases ---------------------------------------------------------------------------


@dataclass
class Database:
    backend: str  # "sqlite" or "postgresql"
    url: str


def _app_environment(database_url: str, instance_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FLASK_SQLALCHEMY_DATABASE_URI": database_url,
        "FLASK_SECRET_KEY": SECRET_KEY,
        "FLASK_MAIL_DELIVERY": "worker",
        "FLASK_RATELIMIT_ENABLED": "false",
        "FLASK_SESSION_COOKIE_SECURE": "false",
        "CLUSTER_EVENTS_INSTANCE_PATH": str(instance_path),
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def _migrate(database_url: str, workdir: Path) -> None:
    subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "cluster_events", "db", "upgrade"],
        cwd=PROJECT_ROOT,
        env=_app_environment(database_url, workdir),
        check=True,
        capture_output=True,
    )


def postgres_unavailable_reason() -> str | None:
    """None when the PostgreSQL server answers, else why the PostgreSQL rows are skipped."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        psycopg.connect(POSTGRES_SERVER_URL, connect_timeout=3).close()
    except psycopg.Error as error:
        return f"cannot connect to {POSTGRES_SERVER_URL}: {str(error).strip()}"
    return None


@contextmanager
def migrated_database(backend: str, workdir: Path) -> Iterator[Database]:
    """A fresh database built by the migrations: a SQLite file in ``workdir``, or a new
    PostgreSQL database that is dropped afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.sqlite3'}"
        _migrate(url, workdir)
        yield Database(backend, url)
        return

    import psycopg

    name = f"cluster_events_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_SERVER_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = re.sub(r"/[^/]*$", f"/{name}", POSTGRES_SERVER_URL)
    try:
        _migrate(url, workdir)
        yield Database(backend, url)
    finally:
        with psycopg.connect(POSTGRES_SERVER_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_app(database: Database, workdir: Path, **config: object) -> Flask:
    """The real app on ``database``, in this process: for seeding data and for counting
    and timing requests with its test client."""
    os.environ["CLUSTER_EVENTS_INSTANCE_PATH"] = str(workdir)
    from cluster_events import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database.url,
            "SECRET_KEY": SECRET_KEY,
            "MAIL_DELIVERY": "worker",
            "RATELIMIT_ENABLED": False,
            "SESSION_COOKIE_SECURE": False,
            **config,
        }
    )


@contextmanager
def app_context(database: Database, workdir: Path, app: Flask | None = None) -> Iterator[Flask]:
    """An application context of the real app on ``database``, for seeding data."""
    from cluster_events.extensions import db

    app = app or make_app(database, workdir)
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


# --- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path


@contextmanager
def gunicorn(
    wsgi_target: str,
    database: Database,
    workdir: Path,
    *,
    workers: int = 2,
    extra_env: dict[str, str] | None = None,
    ready_path: str = "/",
) -> Iterator[Server]:
    """``gunicorn -w N -b 127.0.0.1:PORT <wsgi_target>``, ready when ``ready_path`` answers."""
    port = free_port()
    log_path = workdir / f"gunicorn-{wsgi_target.replace(':', '-')}-{port}.log"
    env = {**_app_environment(database.url, workdir), **(extra_env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                wsgi_target,
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server("127.0.0.1", port, process, log_path)
    try:
        _wait_until_ready(server, ready_path)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def worker_pids(server: Server) -> list[int]:
    """The gunicorn master's children: its workers."""
    master = server.process.pid
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return []
    return [int(pid) for pid in children]


def peak_rss_kib(server: Server) -> int | None:
    """The largest peak resident set (VmHWM) among the server's workers, in KiB; None
    where /proc is not there to read (not Linux)."""
    peaks = []
    for pid in worker_pids(server):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        if found:
            peaks.append(int(found.group(1)))
    return max(peaks) if peaks else None


def _wait_until_ready(server: Server, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if request(server, "GET", path).status < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    log_tail = server.log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"gunicorn on port {server.port} did not come up:\n{log_tail}")


# --- HTTP client -------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    cookies: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def raw_request(
    server: Server,
    method: str,
    path: str,
    *,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
) -> bytes:
    """The bytes of one HTTP/1.1 request, built once and sent as often as needed."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {server.host}:{server.port}"]
    lines.append("Connection: close")
    body = b""
    if form is not None:
        body = urlencode(form).encode()
        lines.append("Content-Type: application/x-www-form-urlencoded")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    if cookies:
        lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(server: Server, raw: bytes) -> Response:
    """Send ``raw`` on a new connection and read the answer until the server closes it.

    gunicorn's sync workers close every connection after one response (they do not
    keep connections alive, whatever the client asks), so a connection per request is
    what any client gets from them. A plain socket and a minimal parser instead of
    http.client keep the load generator's own CPU use low: it shares the machine's
    cores with the servers it measures."""
    with socket.create_connection((server.host, server.port), timeout=60) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(262144):
            chunks.append(chunk)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "set-cookie":
            cookie_name, _, rest = value.partition("=")
            cookies[cookie_name.strip()] = rest.split(";", 1)[0]
        headers[name] = value
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    return Response(int(status_line.split(" ", 2)[1]), headers, cookies, body)


def _unchunk(body: bytes) -> bytes:
    parts, position = [], 0
    while True:
        line_end = body.index(b"\r\n", position)
        size = int(body[position:line_end].split(b";")[0], 16)
        if size == 0:
            return b"".join(parts)
        parts.append(body[line_end + 2 : line_end + 2 + size])
        position = line_end + 2 + size + 2


def request(
    server: Server,
    method: str,
    path: str,
    *,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
) -> Response:
    """One request on a fresh connection."""
    raw = raw_request(server, method, path, form=form, headers=headers, cookies=cookies)
    return exchange(server, raw)


# --- load generator ----------------------------------------------------------------------


@dataclass
class Sample:
    label: str
    seconds: float
    ok: bool
    #: Why it failed, e.g. "post 429", for the summary of failures.
    note: str = ""


@dataclass
class LoadResult:
    elapsed: float
    iterations: int
    failures: int
    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: How often each kind of failure happened ("post 429": 3).
    failure_kinds: Counter[str] = field(default_factory=Counter)
    #: CPU time the load generator itself used (all its threads).
    client_cpu: float = 0.0

    @property
    def per_second(self) -> float:
        """Successful iterations per second."""
        return (self.iterations - self.failures) / self.elapsed if self.elapsed else 0.0

    def percentile(self, label: str, pct: float) -> float:
        values = sorted(self.samples.get(label, []))
        if not values:
            return float("nan")
        if len(values) == 1:
            return values[0]
        return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


def timed(
    label: str, call: Callable[[], Response], expect: Callable[[Response], bool]
) -> tuple[Response | None, Sample]:
    started = time.perf_counter()
    try:
        response = call()
    except OSError as error:
        return None, Sample(label, time.perf_counter() - started, False, f"{label} {error!r}")
    ok = expect(response)
    note = "" if ok else f"{label} {response.status}"
    return response, Sample(label, time.perf_counter() - started, ok, note)


Iteration = Callable[[int], list[Sample]]


def run_load(iteration: Iteration, *, clients: int, seconds: float) -> LoadResult:
    """``clients`` threads call ``iteration(n)`` back to back until ``seconds`` have
    passed; an iteration started before the deadline is finished and counted."""
    samples: dict[str, list[float]] = defaultdict(list)
    counters = {"iterations": 0, "failures": 0}
    failure_kinds: Counter[str] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)
    deadline = 0.0

    def client(number: int) -> None:
        start_gate.wait()
        sequence = 0
        while time.perf_counter() < deadline:
            sequence += 1
            try:
                result = iteration(number * 1_000_000 + sequence)
            except Exception as error:  # a broken iteration is reported, not fatal
                result = [Sample("error", 0.0, False)]
                with lock:
                    if len(errors) < 5:
                        errors.append(repr(error))
            with lock:
                counters["iterations"] += 1
                if not all(sample.ok for sample in result):
                    counters["failures"] += 1
                for sample in result:
                    if sample.ok:
                        samples[sample.label].append(sample.seconds)
                    elif sample.note:
                        failure_kinds[sample.note] += 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    cpu_started = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    start_gate.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return LoadResult(
        client_cpu=time.process_time() - cpu_started,
        elapsed=elapsed,
        iterations=counters["iterations"],
        failures=counters["failures"],
        samples=dict(samples),
        errors=errors,
        failure_kinds=failure_kinds,
    )


def merge(results: list[LoadResult]) -> LoadResult:
    merged = LoadResult(elapsed=0.0, iterations=0, failures=0, samples={}, errors=[])
    for result in results:
        merged.elapsed += result.elapsed
        merged.iterations += result.iterations
        merged.failures += result.failures
        merged.errors += result.errors[: 5 - len(merged.errors)]
        merged.failure_kinds.update(result.failure_kinds)
        merged.client_cpu += result.client_cpu
        for label, values in result.samples.items():
            merged.samples.setdefault(label, []).extend(values)
    return merged


def warm_up(iterations: dict[str, Iteration], *, clients: int) -> None:
    """One uncounted second per target: workers import lazily and fill their caches."""
    for iteration in iterations.values():
        run_load(iteration, clients=clients, seconds=1.0)


def alternate(
    iterations: dict[str, Iteration], *, clients: int, seconds: float, rounds: int = 3
) -> dict[str, LoadResult]:
    """Measure several targets in turns of ``seconds / rounds`` each, so that a change
    in the machine's load during the run touches all of them alike."""
    slices: dict[str, list[LoadResult]] = {label: [] for label in iterations}
    for _ in range(rounds):
        for label, iteration in iterations.items():
            slices[label].append(run_load(iteration, clients=clients, seconds=seconds / rounds))
    return {label: merge(results) for label, results in slices.items()}


# --- output ------------------------------------------------------------------------------


def print_table(title: str, header: list[str], rows: list[list[str]]) -> str:
    """Print a Markdown table (readable in a terminal, pasteable into docs) and return it."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    text = "\n".join(
        [
            f"### {title}",
            "",
            line(header),
            "| " + " | ".join("-" * w for w in widths) + " |",
            *(line(row) for row in rows),
            "",
        ]
    )
    print(text, flush=True)
    return text


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="cluster-events-bench-")
