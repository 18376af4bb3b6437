"""The database goes away under load: the app answers a clear 503 (site layout, reader's
language, Retry-After), never a 500, recovers without a restart, and nothing is half
written: every registration answered with success is there with its email, and every
other one is either complete or absent.

PostgreSQL: real gunicorn (4 workers) and real HTTP from several threads while the
app's connections are terminated, then while the database refuses connections.
SQLite: a write that waits for the lock longer than the busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, event, make_url, select, text

from cluster_events.extensions import db
from cluster_events.models import Event, OutboxMessage, Registration
from cluster_events.unavailable import RETRY_AFTER_SECONDS
from tests.factories import make_event
from tests.test_registration_concurrency import (  # noqa: F401  (the gunicorn fixture)
    CSRF_FIELD,
    server,
)

THREADS = 6
PER_THREAD = 8
SEATS = 20
ATTEMPTS = 40  # tries per person while connections keep being cut
LAYOUT = 'class="site-header"'


def form(token: str, email: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "name": "障害 試験",
        "name_kana": "しょうがい しけん",
        "email": email,
        "member_type": "general",
        "agree_privacy": "y",
    }


@dataclass
class Tally:
    """What the clients saw. ``succeeded``: answered 303 to the personal page;
    ``already``: a retry found the address taken (the "already registered" page), so
    an attempt answered 503 had been saved."""

    statuses: Counter = field(default_factory=Counter)
    succeeded: set[str] = field(default_factory=set)
    already: set[str] = field(default_factory=set)
    gave_up: set[str] = field(default_factory=set)
    bad_503: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self) -> int:
        with self.lock:
            return len(self.succeeded) + len(self.already)

    def saw(self, response: requests.Response, lang: str = "ja") -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code == 503 and not _is_clear_503(response, lang):
                self.bad_503.append(response.text[:300])


def _is_clear_503(response: requests.Response, lang: str) -> bool:
    heading = {"ja": "ただいまご利用いただけません", "en": "temporarily unavailable"}[lang]
    return (
        response.status_code == 503
        and response.headers.get("Retry-After") == str(RETRY_AFTER_SECONDS)
        and LAYOUT in response.text
        and f'<html lang="{lang}">' in response.text
        and heading in response.text
    )


def _csrf_token(session: requests.Session, url: str, tally: Tally) -> str:
    for _attempt in range(ATTEMPTS):
        page = session.get(url, timeout=60)
        tally.saw(page)
        if page.status_code == 200:
            return CSRF_FIELD.search(page.text).group(1)
        time.sleep(0.05)
    raise AssertionError(f"the event page never came back: {page.status_code}")


def _register_all(base_url: str, slug: str, emails: list[str], tally: Tally) -> None:
    """One browser signs several people up, sending again after each 503."""
    with requests.Session() as session:
        token = _csrf_token(session, f"{base_url}/events/{slug}?lang=ja", tally)
        for email in emails:
            for attempt in range(ATTEMPTS):
                response = session.post(
                    f"{base_url}/events/{slug}/register?lang=ja",
                    data=form(token, email),
                    allow_redirects=False,
                    timeout=60,
                )
                tally.saw(response)
                if response.status_code == 303:
                    assert "/registrations/" in response.headers["Location"]
                    with tally.lock:
                        tally.succeeded.add(email)
                    break
                if response.status_code in (200, 409) and attempt > 0:
                    # The address is taken: the attempt that got 503 was saved after all.
                    with tally.lock:
                        tally.already.add(email)
                    break
                if response.status_code != 503:
                    break  # counted in statuses; the test fails on it
                time.sleep(0.05)
            else:
                with tally.lock:
                    tally.gave_up.add(email)


@pytest.fixture
def pg_admin(database_url: str):
    """A superuser connection to another database of the same server, for cutting the
    app's connections and closing the test database to new ones."""
    if not database_url.startswith("postgresql"):
        pytest.skip(
            "needs PostgreSQL (set TEST_DATABASE_URL): pg_terminate_backend and "
            "ALLOW_CONNECTIONS have no SQLite equivalent; SQLite's own fault is tested below"
        )
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = url.database
    try:
        yield admin, name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def _terminate(admin, name: str) -> int:
    with admin.connect() as connection:
        return connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        ).scalar_one()


def _allow_connections(admin, name: str, allowed: bool) -> None:
    with admin.connect() as connection:
        connection.execute(
            text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
        )


@pytest.mark.slow
def test_postgres_connections_cut_during_a_burst(app, pg_admin, server, tmp_path: Path):  # noqa: F811
    admin, name = pg_admin
    event_id = make_event(capacity=SEATS, slug="faults").id
    db.session.commit()
    db.session.remove()  # the test's own connection is cut too
    tally = Tally()

    # 1. A burst of sign-ups while every connection of the app is cut again and again.
    emails = [[f"burst{t}-{n}@example.jp" for n in range(PER_THREAD)] for t in range(THREADS)]
    threads = [
        threading.Thread(target=_register_all, args=(server, "faults", chunk, tally))
        for chunk in emails
    ]
    for thread in threads:
        thread.start()
    terminated = 0
    while any(thread.is_alive() for thread in threads):
        terminated += _terminate(admin, name)
        # Cut again once two more people got through, so the burst always progresses
        # however slow the machine is.
        target = tally.answered() + 2
        while tally.answered() < target and any(thread.is_alive() for thread in threads):
            time.sleep(0.02)
    for thread in threads:
        thread.join()
    assert terminated > 0

    # 2. The database refuses connections: every page that needs it answers 503.
    browser = requests.Session()
    token = _csrf_token(browser, f"{server}/events/faults", tally)
    _allow_connections(admin, name, False)
    _terminate(admin, name)
    away = [
        requests.get(f"{server}/events/faults", timeout=60),
        requests.get(f"{server}/events/faults?lang=en", timeout=60),
        requests.get(f"{server}/calendar.ics", timeout=60),
    ]
    refused = [
        browser.post(
            f"{server}/events/faults/register?lang=en",
            data=form(token, f"away{n}@example.jp"),
            allow_redirects=False,
            timeout=60,
        )
        for n in range(4)
    ]
    browser.close()
    for response, lang in zip(away + refused, ["ja", "en", "ja"] + ["en"] * 4, strict=True):
        tally.saw(response, lang)
    assert _is_clear_503(away[0], "ja"), (away[0].status_code, away[0].text[:500])
    assert _is_clear_503(away[1], "en"), (away[1].status_code, away[1].text[:500])
    assert all(r.status_code == 503 for r in away + refused)

    # 3. Back again: no restart, and connections cut while idle are replaced unseen.
    _allow_connections(admin, name, True)
    late = [f"late{n}@example.jp" for n in range(8)]
    after = Tally()
    _register_all(server, "faults", late[:4], after)
    _terminate(admin, name)
    _register_all(server, "faults", late[4:], after)
    assert after.statuses == {200: 2, 303: 8}, after.statuses
    tally.statuses.update(after.statuses)
    tally.succeeded |= after.succeeded

    log = (tmp_path / "gunicorn.log").read_text(errors="replace")
    assert log.count("Booting worker") == 4, "a worker died and was replaced"

    db.session.remove()
    rows = db.session.execute(
        select(Registration.id, Registration.email, Registration.status).where(
            Registration.event_id == event_id
        )
    ).all()
    stored = Counter(email for _, email, _ in rows)
    kinds: dict[int, list[str]] = {}
    for registration_id, kind in db.session.execute(
        select(OutboxMessage.registration_id, OutboxMessage.kind).where(
            OutboxMessage.event_id == event_id
        )
    ):
        kinds.setdefault(registration_id, []).append(kind)
    event = db.session.get(Event, event_id)
    statuses = Counter(status for _, _, status in rows)
    print(
        f"\nDATABASE FAULTS (PostgreSQL, gunicorn 4 workers, {THREADS} clients): "
        f"connections terminated {terminated}; registrations answered with success "
        f"{len(tally.succeeded)}, found in the database "
        f"{len(tally.succeeded & set(stored))}; saved though answered 503 "
        f"{len(tally.already)}; 503 seen {tally.statuses[503]}; 500 seen "
        f"{tally.statuses[500]}; answers {dict(tally.statuses)}"
    )
    assert tally.statuses[500] == 0
    assert set(tally.statuses) <= {200, 303, 409, 503}, tally.statuses  # 409: address taken
    assert tally.bad_503 == []
    assert tally.gave_up == set()
    everyone = {email for chunk in emails for email in chunk} | set(late)
    assert tally.succeeded | tally.already == everyone
    # Every success is there, once; nothing from the refused requests; nobody twice.
    assert set(stored) == everyone
    assert all(count == 1 for count in stored.values())
    # Nothing half written: each registration has its one email. A retry of a sign-up
    # that was saved though answered 503 gets the personal link again (point 7).
    for registration_id, email, _ in rows:
        sent = kinds.get(registration_id, [])
        assert sorted(set(sent) - {"personal_link"}) in (["confirmation"], ["waitlisted"])
        assert len(sent) == 1 or (email in tally.already and sent.count("personal_link") == 1)
    assert len(kinds) == len(rows)
    assert (event.confirmed_count, event.waiting_count) == (
        statuses["confirmed"],
        statuses["waiting"],
    )
    assert statuses["confirmed"] == SEATS


@pytest.fixture
def short_busy_timeout(app):
    """SQLite waits 30 s for the write lock; a test cannot. Connections made from now
    on give up after 50 ms (a listener on the engine runs after the app's own)."""

    def shorten(dbapi_connection, connection_record):
        dbapi_connection.execute("PRAGMA busy_timeout=50")

    db.session.remove()
    db.engine.dispose()
    event.listen(db.engine, "connect", shorten)
    yield
    event.remove(db.engine, "connect", shorten)


def test_sqlite_lock_held_beyond_the_busy_timeout_answers_503(
    app, client, database_url, short_busy_timeout
):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock; PostgreSQL's faults are tested above")
    event_id = make_event(slug="locked").id
    db.session.commit()
    db.session.remove()
    path = make_url(database_url).database
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        response = client.post(
            "/events/locked/register?lang=en",
            data=form("", "locked@example.jp"),
        )
        page = client.get("/events/locked")  # reading still works (WAL)
    finally:
        blocker.rollback()
        blocker.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    html = response.get_data(as_text=True)
    assert LAYOUT in html and '<html lang="en">' in html and "temporarily unavailable" in html
    assert page.status_code == 200
    assert db.session.scalars(select(Registration.id)).all() == []
    assert db.session.scalars(select(OutboxMessage.id)).all() == []

    again = client.post("/events/locked/register", data=form("", "locked@example.jp"))
    assert again.status_code == 303  # sending again once the lock is free works
    assert db.session.get(Event, event_id).confirmed_count == 1


def test_statement_errors_stay_500():
    """Only the connection's faults are 503: a broken statement is a bug, and says so."""
    from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

    from cluster_events.unavailable import is_database_unavailable

    cut = InterfaceError("SELECT 1", {}, Exception("closed"), connection_invalidated=True)
    assert is_database_unavailable(OperationalError("SELECT 1", {}, Exception("gone")))
    assert is_database_unavailable(cut)
    assert not is_database_unavailable(IntegrityError("INSERT", {}, Exception("dup")))
    assert not is_database_unavailable(InterfaceError("SELECT 1", {}, Exception("bad")))
