"""Mail under faults, with real processes: a real SMTP server on loopback (aiosmtpd, in a
thread) whose behaviour each scenario scripts, and the real `mail-worker` command as a
subprocess where a scenario needs a process; on SQLite and on PostgreSQL.

Every scenario checks, at the server, that no message was already marked ``sent`` when
it arrived, and at the end that every message arrived, that every row marked ``sent``
arrived, and that a message arrived twice only when it was inside the at-least-once
window (the server took it, and its ``sent`` mark was not committed); copies carry the
same Message-ID. The figures (queued, arrived, duplicated, marked failed) are printed in
the "figures" section at the end of the run.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import create_engine, func, select, text

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.mail.messages import RenderedMail, add_to_outbox
from cluster_events.models import OutboxMessage, OutboxStatus
from tests.conftest import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MESSAGE_ID = re.compile(r"<outbox-(\d+)-")
#: Long enough for anything the test waits for; reached only when something is broken.
PATIENCE = 60


class ScenarioServer:
    """A mail server on loopback that the test scripts, and a witness of what arrived.

    ``drop_after(n)``: accept ``n`` more messages; take the next one (it has arrived:
    the server keeps it) but cut the connection before answering, and stop listening,
    so new connections are refused until ``start()`` is called again.
    ``refuse_auth``: answer 535 to every AUTH while set.
    ``hold_message(n)``: keep the ``n``-th arrival waiting (before the answer) until
    ``release`` is set; ``holding`` is set meanwhile.
    ``hold_until_two_workers``: keep the first arrival waiting until two workers hold
    claims at once.
    """

    def __init__(self, database_url: str) -> None:
        self.port = free_port()
        self.database = create_engine(database_url)
        self.controller: Controller | None = None
        self.arrivals: list[str] = []
        self.copies: dict[str, list[bytes]] = {}
        self.arrived_already_sent: list[str] = []
        self.in_window: set[str] = set()
        self.auth_refusals = 0
        self.refuse_auth = False
        self.drop_countdown: int | None = None
        self.hold_at: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self.hold_until_two_workers = False
        self.saw_two_workers = False
        self._lock = threading.Lock()

    # -- running ---------------------------------------------------------------------

    def start(self) -> None:
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def drop_after(self, count: int) -> None:
        self.drop_countdown = count

    def hold_message(self, number: int) -> None:
        self.hold_at = number

    # -- SMTP ------------------------------------------------------------------------

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if self.refuse_auth:
            with self._lock:
                self.auth_refusals += 1
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str | None:
        message = message_from_bytes(envelope.content, policy=policy.default)
        message_id = str(message["Message-ID"])
        self._witness(message_id)
        with self._lock:
            number = len(self.arrivals)
            self.arrivals.append(message_id)
            self.copies.setdefault(message_id, []).append(envelope.content)
        if self.hold_at is not None and number + 1 == self.hold_at:
            self.hold_at = None
            self.in_window.add(message_id)  # it has arrived; the worker will die waiting
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
        if self.hold_until_two_workers:
            self.hold_until_two_workers = False
            deadline = time.monotonic() + PATIENCE
            while not self._two_workers_hold_claims() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            self.saw_two_workers = self._two_workers_hold_claims()
        if self.drop_countdown is not None:
            if self.drop_countdown == 0:
                self.drop_countdown = None
                self.in_window.add(message_id)
                assert self.controller is not None
                self.controller.server.close()  # new connections are refused from now on
                server.transport.close()  # and this one is cut before the answer
                return None
            self.drop_countdown -= 1
        return "250 2.0.0 OK"

    def _witness(self, message_id: str) -> None:
        """The outbox must not call a message sent before the server has it."""
        match = MESSAGE_ID.search(message_id)
        assert match, message_id
        with self.database.connect() as connection:
            status = connection.scalar(
                text("SELECT status FROM outbox_message WHERE id = :id"), {"id": match[1]}
            )
        if status == OutboxStatus.sent:
            self.arrived_already_sent.append(message_id)

    def _two_workers_hold_claims(self) -> bool:
        with self.database.connect() as connection:
            leases = connection.scalar(
                text(
                    "SELECT COUNT(DISTINCT locked_until) FROM outbox_message "
                    "WHERE status = 'sending'"
                )
            )
        return leases >= 2

    # -- figures ---------------------------------------------------------------------

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self.arrivals)

    def duplicated(self) -> set[str]:
        return {message_id for message_id, n in self.counts().items() if n > 1}


@pytest.fixture
def scenario_server(app_config: dict[str, Any]) -> Iterator[ScenarioServer]:
    server = ScenarioServer(app_config["SQLALCHEMY_DATABASE_URI"])
    server.start()
    try:
        yield server
    finally:
        server.release.set()
        server.stop()
        server.database.dispose()


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {
        **app_config,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_TIMEOUT": 5,
        # A server failure must never use up a message's tries: two would be few.
        "MAIL_MAX_ATTEMPTS": 2,
    }


@pytest.fixture
def point_at(app):
    def point(server: ScenarioServer) -> None:
        app.extensions["mail"].port = server.port

    return point


def queue(count: int) -> list[int]:
    ids = []
    for number in range(count):
        mail = RenderedMail(f"お知らせ {number}", f"本文 {number}\n", "")
        message = add_to_outbox(mail, kind="confirmation", recipient=f"p{number}@example.org")
        db.session.flush()
        ids.append(message.id)
    db.session.commit()
    return ids


def rows() -> list[OutboxMessage]:
    db.session.rollback()  # a fresh snapshot: delivery ran in its own session or process
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def statuses() -> Counter[str]:
    return Counter(row.status for row in rows())


def outbox_message_id(row: OutboxMessage) -> str:
    from cluster_events.mail.messages import message_id

    return message_id(row)


def assert_outbox_never_lied(server: ScenarioServer, queued: int) -> dict[str, int]:
    """The checks every scenario ends with; returns its figures."""
    counts = server.counts()
    all_rows = rows()
    assert server.arrived_already_sent == []  # nothing was marked sent before it arrived
    assert {outbox_message_id(row) for row in all_rows} == set(counts)  # every one arrived
    assert all(row.status == OutboxStatus.sent for row in all_rows)
    assert server.duplicated() <= server.in_window  # copies only from inside the window
    for message_id in server.duplicated():  # and they are copies of one message
        first, *others = server.copies[message_id]
        assert all(_without_date(copy) == _without_date(first) for copy in others)
    return {
        "queued": queued,
        "arrived": len(counts),
        "duplicated": sum(counts.values()) - len(counts),
        "marked failed": sum(1 for row in all_rows if row.status == OutboxStatus.failed),
    }


def _without_date(content: bytes) -> bytes:
    return re.sub(rb"(?m)^Date: .*\r?\n", b"", content)


# --- a. accepts some, drops the connection, refuses connections, then accepts again ----


def test_a_server_that_drops_then_refuses_then_accepts_gets_every_message(
    app, scenario_server, point_at, report_figures, caplog
):
    ids = queue(12)
    point_at(scenario_server)
    scenario_server.drop_after(4)
    now = utcnow()

    first = outbox.deliver_due(now=now)
    assert (first.claimed, first.sent, first.deferred, first.failed) == (12, 4, 8, 0)
    (cut,) = scenario_server.in_window  # the fifth: it arrived, its answer never came
    assert [row.status for row in rows()][:5] == [OutboxStatus.sent] * 4 + [OutboxStatus.queued]
    assert "no session with the mail server (ConnectionRefusedError" in caplog.text

    waits = []
    for _round in range(4):  # the server refuses connections for a while
        now += timedelta(days=1)
        report = outbox.deliver_due(now=now)
        assert (report.claimed, report.sent, report.deferred) == (8, 0, 8)
        unsent = [row for row in rows() if row.status != OutboxStatus.sent]
        assert {row.status for row in unsent} == {OutboxStatus.queued}
        assert {row.attempts for row in unsent} == {0}  # never counted against the limit
        waits.append(unsent[-1].next_attempt_at - unsent[-1].last_attempt_at)
    assert [w.total_seconds() for w in waits] == [120, 240, 480, 960]  # backoff grows

    scenario_server.stop()
    scenario_server.start()  # it accepts again
    now += timedelta(days=1)
    last = outbox.deliver_due(now=now)
    assert (last.sent, last.deferred, last.failed) == (8, 0, 0)

    figures = assert_outbox_never_lied(scenario_server, len(ids))
    assert figures == {"queued": 12, "arrived": 12, "duplicated": 1, "marked failed": 0}
    assert scenario_server.duplicated() == {cut}
    report_figures(**figures)


# --- b. 535 to AUTH for a while ----------------------------------------------------------


@pytest.fixture
def with_login(app):
    state = app.extensions["mail"]
    state.username, state.password = "office", "rotated-password"


def test_535_to_auth_fails_nothing_and_everything_goes_once_it_recovers(
    app, scenario_server, point_at, with_login, report_figures, caplog
):
    ids = queue(10)
    point_at(scenario_server)
    scenario_server.refuse_auth = True
    now = utcnow()
    for _round in range(5):  # more rounds than MAIL_MAX_ATTEMPTS
        report = outbox.deliver_due(now=now)
        assert (report.claimed, report.sent, report.deferred, report.failed) == (10, 0, 10, 0)
        now += timedelta(days=1)
    assert scenario_server.auth_refusals >= 5
    assert scenario_server.counts() == Counter()
    for row in rows():
        assert (row.status, row.attempts, row.deferrals) == (OutboxStatus.queued, 0, 5)
        assert row.last_error.startswith("535")
    assert any(
        record.levelname == "ERROR" and "535" in record.getMessage() for record in caplog.records
    )

    scenario_server.refuse_auth = False  # the password is put right
    report = outbox.deliver_due(now=now)
    assert (report.sent, report.failed) == (10, 0)

    figures = assert_outbox_never_lied(scenario_server, len(ids))
    assert figures == {"queued": 10, "arrived": 10, "duplicated": 0, "marked failed": 0}
    report_figures(**figures, auth_refusals=scenario_server.auth_refusals)


# --- the real `mail-worker` as a process --------------------------------------------------


def worker_env(app_config: dict[str, Any], server: ScenarioServer, **settings: Any) -> dict:
    env = {
        **os.environ,
        "FLASK_SQLALCHEMY_DATABASE_URI": app_config["SQLALCHEMY_DATABASE_URI"],
        "FLASK_SECRET_KEY": "worker-test-secret",
        "FLASK_MAIL_SERVER": "127.0.0.1",
        "FLASK_MAIL_PORT": str(server.port),
        "FLASK_MAIL_DELIVERY": "worker",
    }
    env.update({f"FLASK_{name}": str(value) for name, value in settings.items()})
    return env


def start_worker(env: dict, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "flask", "--app", "cluster_events", "mail-worker", *args]
    return subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


def sent_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.sent))


@pytest.mark.slow
def test_mail_worker_killed_mid_batch_then_restarted_delivers_everything(
    app, app_config, scenario_server, report_figures
):
    ids = queue(10)
    scenario_server.hold_message(3)  # the kill lands while the third is being sent
    env = worker_env(app_config, scenario_server, MAIL_TIMEOUT=2, MAIL_LEASE_SECONDS=6)
    worker = start_worker(env, "--batch", "5", "--interval", "0.1")
    try:
        wait_for(scenario_server.holding.is_set, "the worker sending its third message")
        worker.send_signal(signal.SIGKILL)
        worker.communicate(timeout=PATIENCE)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    scenario_server.release.set()
    assert worker.returncode == -signal.SIGKILL
    assert statuses() == {OutboxStatus.sent: 2, OutboxStatus.sending: 3, OutboxStatus.queued: 5}

    restarted = start_worker(env, "--batch", "5", "--interval", "0.1")
    try:
        wait_for(lambda: sent_count() == len(ids), "every message marked sent")
        restarted.send_signal(signal.SIGTERM)
        _out, err = restarted.communicate(timeout=PATIENCE)
    finally:
        if restarted.poll() is None:
            restarted.kill()
            restarted.communicate()
    assert restarted.returncode == 0, err
    by_id = {row.id: row for row in rows()}
    assert [by_id[i].attempts for i in ids] == [1, 1, 2, 2, 2, 1, 1, 1, 1, 1]

    figures = assert_outbox_never_lied(scenario_server, len(ids))
    assert figures == {"queued": 10, "arrived": 10, "duplicated": 1, "marked failed": 0}
    report_figures(**figures)


@pytest.mark.slow
def test_two_mail_worker_processes_at_once_send_no_message_twice(
    app, app_config, scenario_server, report_figures
):
    ids = queue(24)
    scenario_server.hold_until_two_workers = True
    env = worker_env(app_config, scenario_server, MAIL_TIMEOUT=PATIENCE)
    workers = [start_worker(env, "--once", "--batch", "3") for _ in range(2)]
    try:
        outputs = [worker.communicate(timeout=PATIENCE * 2)[1].decode() for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    assert scenario_server.saw_two_workers  # both held claims at the same moment
    sent = [int(out.split("Sent ")[1].split(",")[0]) for out in outputs]
    assert min(sent) > 0 and sum(sent) == len(ids)
    assert all(row.attempts == 1 for row in rows())

    figures = assert_outbox_never_lied(scenario_server, len(ids))
    assert figures == {"queued": 24, "arrived": 24, "duplicated": 0, "marked failed": 0}
    report_figures(**figures, sent_by_each_worker=min(sent))
