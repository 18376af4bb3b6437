"""The office raises the capacity while people are signing up, over real HTTP against
gunicorn: nobody is skipped, no seat stays empty while someone waits, the counters
match the rows, and waiting positions stay 1..n without gaps."""

from __future__ import annotations

import re
import threading
from collections import Counter

import pytest
import requests
from sqlalchemy import select

from cluster_events.extensions import db
from cluster_events.models import Event, OutboxMessage, Registration
from tests.factories import ORGANIZER_PASSWORD, make_event, make_organizer
from tests.test_admin_events import form_values, soon
from tests.test_registration_concurrency import (  # noqa: F401  (the gunicorn fixture)
    CSRF_FIELD,
    _sign_up,
    server,
)

pytestmark = pytest.mark.slow

PEOPLE = 60
SEATS_BEFORE = 10
SEATS_AFTER = 30


def _raise_capacity(base_url: str, event_id: int, values: dict, barrier, outcome: list) -> None:
    with requests.Session() as office:
        page = office.get(f"{base_url}/login", timeout=60)
        office.post(
            f"{base_url}/login",
            data={
                "csrf_token": CSRF_FIELD.search(page.text).group(1),
                "email": "office@example.org",
                "password": ORGANIZER_PASSWORD,
            },
            timeout=60,
        )
        page = office.get(f"{base_url}/admin/events/{event_id}/edit", timeout=60)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
        barrier.wait(timeout=120)
        response = office.post(
            f"{base_url}/admin/events/{event_id}/edit",
            data={**values, "csrf_token": token.group(1), "capacity": str(SEATS_AFTER)},
            allow_redirects=False,
            timeout=120,
        )
        outcome.append((response.status_code, response.headers.get("Location", "")))


def test_raising_capacity_during_a_rush_keeps_every_count_right(app, server):  # noqa: F811
    event = make_event(capacity=SEATS_BEFORE, slug="busy", starts_at=soon())
    make_organizer(email="office@example.org")
    db.session.commit()
    event_id, values = event.id, form_values(event)
    db.session.rollback()

    barrier = threading.Barrier(PEOPLE + 1)
    results: list = [None] * PEOPLE
    outcome: list = []
    threads = [
        threading.Thread(target=_sign_up, args=(server, "busy", n, barrier, results))
        for n in range(PEOPLE)
    ]
    threads.append(
        threading.Thread(target=_raise_capacity, args=(server, event_id, values, barrier, outcome))
    )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)

    assert outcome == [(302, f"/admin/events/{event_id}")]
    assert Counter(status for status, _ in filter(None, results)) == {303: PEOPLE}

    db.session.rollback()
    rows = db.session.execute(
        select(Registration.status, Registration.waiting_position).where(
            Registration.event_id == event_id
        )
    ).all()
    waiting = PEOPLE - SEATS_AFTER
    assert Counter(status for status, _ in rows) == {"confirmed": SEATS_AFTER, "waiting": waiting}
    assert sorted(p for s, p in rows if s == "waiting") == list(range(1, waiting + 1))
    event = db.session.get(Event, event_id)
    assert (event.capacity, event.confirmed_count, event.waiting_count) == (
        SEATS_AFTER,
        SEATS_AFTER,
        waiting,
    )
    # Everyone promoted by the raise was told; nobody got two seat emails.
    kinds = Counter(
        db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.event_id == event_id))
    )
    assert kinds["confirmation"] + kinds["promoted"] == SEATS_AFTER
    assert kinds["waitlisted"] == waiting + kinds["promoted"]
