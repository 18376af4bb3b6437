"""The pages whose work grows with the data send as many SQL statements with 5 events and
a few registrations as with 60 events and many: no statement per event or per
registration. `python -m bench --scale` times the same pages with 10,000 events and
100,000 registrations (docs/benchmarks.md)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import Event, EventStatus
from tests.factories import make_event, make_registration

TARGET_SLUG = "the-growing-event"


def _add_events(count: int, registrations_each: int) -> None:
    """Past and upcoming events by turns, each with its own category and venue (loading
    them one by one would show as extra statements) and a few registrations."""
    for number in range(count):
        days = timedelta(days=1 + number)
        event = make_event(
            starts_at=utcnow() + days if number % 2 else utcnow() - days,
            capacity=None if number % 3 == 0 else 30,
            status=EventStatus.cancelled if number % 7 == 6 else EventStatus.published,
        )
        for _ in range(registrations_each):
            make_registration(event)


def _register(count: int) -> None:
    event = db.session.scalar(db.select(Event).where(Event.slug == TARGET_SLUG))
    for _ in range(count):
        make_registration(event)


PAGES = {
    "catalogue": lambda event: "/",
    "archive": lambda event: "/events/past",
    "event page": lambda event: f"/events/{event.slug}",
    "feed": lambda event: "/calendar.ics",
    "attendee list": lambda event: f"/admin/events/{event.id}/attendees",
}


@pytest.mark.parametrize("page", PAGES)
def test_statements_per_page_do_not_grow_with_events_or_registrations(
    app, logged_in_client, count_queries, page
):
    organizer_client = logged_in_client()
    client = organizer_client if page == "attendee list" else app.test_client()
    target = make_event(slug=TARGET_SLUG, starts_at=utcnow() + timedelta(days=3), capacity=500)
    url = PAGES[page](target)
    db.session.commit()
    # Both measured requests are then the first after a change: caches kept by a
    # worker (pages, feed polls) are in the same state for the few and the many.
    assert client.get(url).status_code == 200
    _register(3)
    _add_events(4, registrations_each=2)
    db.session.commit()
    # A fresh session, so that nothing comes from the identity map of the one that
    # wrote the rows (requests in tests share the test's app context).
    db.session.remove()
    with count_queries() as few:
        small = client.get(url)

    _register(60)
    _add_events(55, registrations_each=5)
    db.session.commit()
    db.session.remove()
    with count_queries() as many:
        large = client.get(url)

    assert small.status_code == large.status_code == 200
    assert small.data != large.data  # the page shows the new data
    assert few.count == many.count, many.statements


@pytest.mark.parametrize("first", ["/", "/?q=テスト", "/events/past"])
def test_statements_of_a_later_page_do_not_grow_with_events(app, count_queries, first):
    """A page reached by a cursor reads its own rows: as many statements with a few
    events as with many, on the second page as on the first."""
    app.config["CATALOGUE_EVENTS_PER_PAGE"] = 3
    app.config["EVENTS_PER_PAGE"] = 3
    client = app.test_client()

    def second_page() -> str:
        html = client.get(first).get_data(as_text=True)
        found = re.search(r'<a href="([^"]+)" rel="next">', html)
        assert found, html
        return found.group(1).replace("&amp;", "&")

    _add_events(10, registrations_each=1)
    db.session.commit()
    url = second_page()
    db.session.remove()
    with count_queries() as few:
        small = client.get(url)

    _add_events(55, registrations_each=2)
    db.session.commit()
    url = second_page()
    db.session.remove()
    with count_queries() as many:
        large = client.get(url)

    assert small.status_code == large.status_code == 200
    assert small.data != large.data
    assert few.count == many.count, many.statements
