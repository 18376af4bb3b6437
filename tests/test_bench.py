"""The benchmark's ceilings (bench/baseline.py) start and answer with the same kind of
bytes as the pages they stand for. No timing: `make bench` measures, tests only check
that what it measures is what it says."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select

from bench.baseline import baseline_registration, count_cards, create_baseline_app, create_schema
from bench.registrations import csrf_token, form_values
from cluster_events.database import utcnow
from cluster_events.extensions import db
from tests.factories import make_event


@pytest.fixture
def captured(app, tmp_path):
    """The real catalogue (5 events), an event page with its form (CSRF on, as in
    production) and the feed, written where the ceiling reads them."""
    events = [make_event(starts_at=utcnow() + timedelta(days=n + 1)) for n in range(5)]
    db.session.commit()
    pages = tmp_path / "pages"
    pages.mkdir()
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        (pages / "catalogue.html").write_bytes(client.get("/").data)
        (pages / "event.html").write_bytes(client.get(f"/events/{events[0].slug}").data)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    (pages / "feed-5.ics").write_bytes(client.get("/calendar.ics").data)
    return pages


@pytest.fixture
def ceiling(captured, tmp_path):
    url = f"sqlite:///{tmp_path / 'ceiling.sqlite3'}"
    create_schema(url)
    return create_baseline_app(url, "ceiling-secret-" + "x" * 32, captured), url


def _close_in_size(a: bytes, b: bytes) -> bool:
    return abs(len(a) - len(b)) <= 0.03 * len(a)


def test_the_catalogue_ceiling_renders_the_same_cards(captured, ceiling):
    app, _ = ceiling
    real = (captured / "catalogue.html").read_bytes()
    response = app.test_client().get("/catalogue")
    assert response.status_code == 200
    assert count_cards(response.get_data(as_text=True)) == count_cards(real.decode()) == 5
    assert _close_in_size(real, response.data)


def test_the_event_page_ceiling_renders_a_form_with_a_new_csrf_token(captured, ceiling):
    app, _ = ceiling
    real = (captured / "event.html").read_bytes()
    client = app.test_client()
    first, second = client.get("/event"), app.test_client().get("/event")
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    assert csrf_token(page) != csrf_token(real.decode())  # rendered, not copied
    assert csrf_token(page) != csrf_token(second.get_data(as_text=True))
    assert "session" in first.headers.get("Set-Cookie", "")
    for name in ("name", "name_kana", "email", "remarks", "agree_privacy"):
        assert f'name="{name}"' in page
    assert _close_in_size(real, first.data)


def test_the_feed_ceiling_serves_the_bytes_and_a_304(captured, ceiling):
    app, _ = ceiling
    client = app.test_client()
    full = client.get("/feed/feed-5.ics")
    assert full.status_code == 200
    assert full.data == (captured / "feed-5.ics").read_bytes()
    again = client.get("/feed/feed-5.ics", headers={"If-None-Match": full.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    assert client.get("/feed/none.ics").status_code == 404


def test_the_registration_ceiling_validates_and_inserts(ceiling):
    app, url = ceiling
    client = app.test_client()
    token = csrf_token(client.get("/form").get_data(as_text=True))
    accepted = client.post("/form", data={**form_values("test", 1), "csrf_token": token})
    assert accepted.status_code == 303
    refused = app.test_client().post("/form", data=form_values("test", 2))  # no token
    assert refused.status_code == 400
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(baseline_registration))
        assert rows.scalar_one() == 1
    engine.dispose()


def test_the_scale_databases_keep_the_apps_counters(app, tmp_path):
    """`--scale` writes its rows in bulk, past the services: each event's seat counter
    must still match its registrations, and the pages must show what the shape says."""
    from bench import scale
    from bench.harness import Database
    from cluster_events.models import Event, Registration, RegistrationStatus

    database = Database(db.engine.dialect.name, app.config["SQLALCHEMY_DATABASE_URI"])
    facts = scale.build(database, scale.SMALL, tmp_path)
    confirmed = dict(
        db.session.execute(
            select(Registration.event_id, func.count())
            .where(Registration.status == RegistrationStatus.confirmed)
            .group_by(Registration.event_id)
        ).all()
    )
    counters = dict(db.session.execute(select(Event.id, Event.confirmed_count)).all())
    assert counters == {event_id: confirmed.get(event_id, 0) for event_id in counters}
    assert counters[facts["big_event_id"]] == scale.BIG_EVENT_PEOPLE
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 1_490

    client = app.test_client()
    # 46 upcoming events a visitor sees: the first page (the one measured) and the rest.
    first = client.get("/").get_data(as_text=True)
    assert count_cards(first) == app.config["CATALOGUE_EVENTS_PER_PAGE"] == 30
    rest = re.search(r'<a href="([^"]+)" rel="next">', first).group(1)
    assert count_cards(client.get(rest).get_data(as_text=True)) == 16
    oldest = client.get(scale._oldest_page(app)).get_data(as_text=True)
    assert count_cards(oldest) == app.config["EVENTS_PER_PAGE"]
    assert 'rel="next"' not in oldest and 'rel="prev"' in oldest
    big = db.session.get(Event, facts["big_event_id"])
    assert client.get(f"/events/{big.slug}").status_code == 200
