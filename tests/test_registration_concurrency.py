"""Never oversold: 200 people press the button at once against gunicorn with 4 workers,
for an event with one frame of 50 seats, for one with two frames of 30 and 20, and for
parties of one to three people (companions) in a frame of 50."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from cluster_events.extensions import db
from cluster_events.models import Event, Frame, OutboxMessage, Registration, RegistrationCompanion
from tests.conftest import TEST_SECRET_KEY, free_port
from tests.factories import frame, make_event

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
PEOPLE = 200
SEATS = 50
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

pytestmark = pytest.mark.slow


@pytest.fixture
def server(database_url: str, tmp_path: Path):
    """The real app under gunicorn (4 sync workers), on the test database."""
    port = free_port()
    env = {
        **os.environ,
        "FLASK_SQLALCHEMY_DATABASE_URI": database_url,
        "FLASK_SECRET_KEY": TEST_SECRET_KEY,
        "FLASK_MAIL_DELIVERY": "worker",
        "FLASK_RATELIMIT_ENABLED": "false",
        "FLASK_SESSION_COOKIE_SECURE": "false",
        "CLUSTER_EVENTS_INSTANCE_PATH": str(tmp_path),
    }
    env.pop("DATABASE_URL", None)
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [str(GUNICORN), "-w", "4", "-b", f"127.0.0.1:{port}", "--timeout", "60", "wsgi:app"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(base_url, process, tmp_path / "gunicorn.log")
        yield base_url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _wait_until_serving(base_url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{log.read_text(errors='replace')}")
        try:
            if requests.get(f"{base_url}/privacy", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer in 60 s:\n{log.read_text(errors='replace')}")


def _sign_up(
    base_url: str,
    slug: str,
    number: int,
    barrier: threading.Barrier,
    results: list,
    extra: dict[str, str] | None = None,
):
    with requests.Session() as session:
        try:
            page = session.get(f"{base_url}/events/{slug}?lang=ja", timeout=60)
            token = CSRF_FIELD.search(page.text).group(1)
        finally:
            # Everyone waits at the barrier, even after a failed GET, so nobody hangs.
            barrier.wait(timeout=120)
        response = session.post(
            f"{base_url}/events/{slug}/register",
            data={
                "csrf_token": token,
                "name": f"参加者 {number}",
                "name_kana": "さんかしゃ",
                "email": f"person{number}@example.jp",
                "member_type": "general",
                "agree_privacy": "y",
                **(extra or {}),
            },
            allow_redirects=False,
            timeout=120,
        )
        results[number] = (response.status_code, response.headers.get("Location", ""))


def test_two_hundred_at_once_never_oversell(app, server):
    event = make_event(capacity=SEATS, slug="rush")
    db.session.commit()
    event_id = event.id
    db.session.rollback()

    barrier = threading.Barrier(PEOPLE)
    results: list = [None] * PEOPLE
    threads = [
        threading.Thread(target=_sign_up, args=(server, "rush", n, barrier, results))
        for n in range(PEOPLE)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)

    statuses = Counter(status for status, _ in filter(None, results))
    assert statuses == {303: PEOPLE}, statuses
    locations = {location for _, location in results}
    assert len(locations) == PEOPLE
    assert all("/registrations/" in location for location in locations)

    db.session.rollback()  # end the read snapshot SQLite kept since the event was made
    rows = db.session.execute(
        select(Registration.status, Registration.waiting_position).where(
            Registration.event_id == event_id
        )
    ).all()
    assert Counter(status for status, _ in rows) == {"confirmed": SEATS, "waiting": PEOPLE - SEATS}
    positions = sorted(position for status, position in rows if status == "waiting")
    assert positions == list(range(1, PEOPLE - SEATS + 1))
    event = db.session.get(Event, event_id)
    assert (event.confirmed_count, event.waiting_count) == (SEATS, PEOPLE - SEATS)

    kinds = Counter(
        db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.event_id == event_id))
    )
    assert kinds == {"confirmation": SEATS, "waitlisted": PEOPLE - SEATS}
    assert db.session.scalar(select(func.count(func.distinct(OutboxMessage.recipient)))) == PEOPLE


FRAME_SEATS = {"枠A": 30, "枠B": 20}


def test_two_hundred_at_once_never_oversell_two_frames(app, server, report_figures):
    """Half the people choose each frame: each frame seats exactly its capacity and
    lines the rest up 1..n on its own waiting list."""
    event = make_event(
        slug="rush-frames", frames=[frame(name, seats) for name, seats in FRAME_SEATS.items()]
    )
    db.session.commit()
    event_id = event.id
    frame_ids = [f.id for f in event.frames]
    db.session.rollback()

    barrier = threading.Barrier(PEOPLE)
    results: list = [None] * PEOPLE
    threads = [
        threading.Thread(
            target=_sign_up,
            args=(server, "rush-frames", n, barrier, results, {"frame": str(frame_ids[n % 2])}),
        )
        for n in range(PEOPLE)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    seconds = time.monotonic() - started

    statuses = Counter(status for status, _ in filter(None, results))
    assert statuses == {303: PEOPLE}, statuses
    assert len({location for _, location in results}) == PEOPLE

    db.session.rollback()
    rows = db.session.execute(
        select(Registration.frame_id, Registration.status, Registration.waiting_position).where(
            Registration.event_id == event_id
        )
    ).all()
    figures: dict[str, float] = {}
    for frame_id, (name, seats) in zip(frame_ids, FRAME_SEATS.items(), strict=True):
        mine = [(status, position) for f, status, position in rows if f == frame_id]
        chose = PEOPLE // 2
        assert Counter(status for status, _ in mine) == {
            "confirmed": seats,
            "waiting": chose - seats,
        }, name
        positions = sorted(position for status, position in mine if status == "waiting")
        assert positions == list(range(1, chose - seats + 1)), name
        counted = db.session.get(Frame, frame_id)
        assert (counted.confirmed_count, counted.waiting_count) == (seats, chose - seats)
        figures[f"{name} confirmed"] = seats
        figures[f"{name} waiting"] = len(positions)
    event = db.session.get(Event, event_id)
    assert (event.capacity, event.confirmed_count, event.waiting_count) == (50, 50, PEOPLE - 50)
    kinds = Counter(
        db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.event_id == event_id))
    )
    assert kinds == {"confirmation": 50, "waitlisted": PEOPLE - 50}
    figures["seconds"] = round(seconds, 1)
    report_figures(**figures)
    print(f"\n{db.engine.dialect.name}: two frames, {PEOPLE} at once: {figures}")


PARTY_SEATS = 50


def test_parties_of_one_to_three_at_once_never_oversell(app, server, report_figures):
    """200 parties of one to three people (a registrant and up to two companions) press
    the button at once for a frame of 50 seats: the seats are never oversold, each party
    is seated or waits whole, the frame is filled exactly unless the party at the head
    of the line does not fit the seats left, and nobody passes it (every seated party
    came before every waiting one, and the line keeps the order of arrival)."""
    event = make_event(slug="rush-parties", frames=[frame("交流会", PARTY_SEATS, max_companions=2)])
    db.session.commit()
    event_id, frame_id = event.id, event.frames[0].id
    db.session.rollback()

    def companions(number: int) -> dict[str, str]:
        data = {}
        for n in range(1, number % 3 + 1):
            data[f"companion_{n}_name"] = f"同伴者 {number}-{n}"
            data[f"companion_{n}_kana"] = "どうはんしゃ"
        return data

    barrier = threading.Barrier(PEOPLE)
    results: list = [None] * PEOPLE
    threads = [
        threading.Thread(
            target=_sign_up,
            args=(server, "rush-parties", n, barrier, results, companions(n)),
        )
        for n in range(PEOPLE)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    seconds = time.monotonic() - started

    statuses = Counter(status for status, _ in filter(None, results))
    assert statuses == {303: PEOPLE}, statuses

    db.session.rollback()
    rows = db.session.execute(
        select(
            Registration.id,
            Registration.status,
            Registration.waiting_position,
            Registration.party_size,
            Registration.email,
        ).where(Registration.event_id == event_id)
    ).all()
    assert len(rows) == PEOPLE
    for _id, _status, _position, size, email in rows:
        number = int(email.removeprefix("person").split("@")[0])
        assert size == 1 + number % 3  # every companion sent was counted
    seated = [row for row in rows if row.status == "confirmed"]
    waiting = sorted((row for row in rows if row.status == "waiting"), key=lambda r: r[2])
    assert len(seated) + len(waiting) == PEOPLE
    seats = sum(row.party_size for row in seated)
    assert seats <= PARTY_SEATS  # never oversold
    # Exactly filled, unless the head of the line needs more seats than are left.
    assert seats == PARTY_SEATS or waiting[0].party_size > PARTY_SEATS - seats
    assert [row.waiting_position for row in waiting] == list(range(1, len(waiting) + 1))
    # Nobody passed: ids are given under the lock, so they are the order of arrival.
    assert max(row.id for row in seated) < min(row.id for row in waiting)
    assert [row.id for row in waiting] == sorted(row.id for row in waiting)

    counted = db.session.get(Frame, frame_id)
    waiting_people = sum(row.party_size for row in waiting)
    assert (counted.confirmed_count, counted.waiting_count, counted.waiting_parties) == (
        seats,
        waiting_people,
        len(waiting),
    )
    event = db.session.get(Event, event_id)
    assert (event.confirmed_count, event.waiting_count) == (seats, waiting_people)
    companions_stored = db.session.scalar(
        select(func.count(RegistrationCompanion.id))
        .join(Registration)
        .where(Registration.event_id == event_id)
    )
    assert companions_stored == sum(row.party_size - 1 for row in rows)
    kinds = Counter(
        db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.event_id == event_id))
    )
    assert kinds == {"confirmation": len(seated), "waitlisted": len(waiting)}
    figures = {
        "capacity": PARTY_SEATS,
        "seated parties": len(seated),
        "seats taken": seats,
        "waiting parties": len(waiting),
        "waiting people": waiting_people,
        "head of line": waiting[0].party_size,
        "seconds": round(seconds, 1),
    }
    report_figures(**figures)
    print(f"\n{db.engine.dialect.name}: parties of 1-3, {PEOPLE} at once: {figures}")
