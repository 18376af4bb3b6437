"""An event page is kept in memory apart from its seat numbers (issue 11): every sign-up
changes the seats left and the people waiting, so a kept page holds a marker for each
number and each answer fills in the current ones. The page is rendered again only when
what its template decides from the numbers changes (a frame fills, someone waits, one
seat is left), never at every sign-up, and whatever is served is byte for byte the page
rendered afresh: at every step of an event filling up, for one frame and for several,
in Japanese and English, for a visitor and a signed-in member, on both databases."""

from __future__ import annotations

import pytest
from flask import template_rendered

from cluster_events.extensions import db
from cluster_events.models import Event
from cluster_events.page_cache import page_cache
from cluster_events.registration import services
from cluster_events.registration.services import Companion, FrameChoice, RegistrationDetails
from tests.factories import frame, make_event
from tests.members import first_person, make_member, sign_in_member
from tests.test_page_cache import forget_pages, text, without_tokens


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


@pytest.fixture
def renders(app):
    rendered: list[str] = []

    def record(sender, template, context, **extra):
        rendered.append(template.name)

    template_rendered.connect(record, app)
    yield rendered
    template_rendered.disconnect(record, app)


def sign_up(event: Event, number: int, frame_index: int = 0, companions: int = 0):
    details = RegistrationDetails(
        f"参加者{number}",
        "さんかしゃ",
        f"live{number}@example.org",
        companions=tuple(
            Companion(f"同伴{number}-{n}", "どうはん", row=n) for n in range(1, companions + 1)
        ),
    )
    frame_id = event.frames[frame_index].id
    outcome = services.register(event.id, details, choice=FrameChoice(frame_id))
    return outcome.registration


def one_frame_event() -> Event:
    event = make_event(
        slug="seminar", title="省エネセミナー", title_en="Energy Seminar", capacity=8
    )
    db.session.commit()
    return event


def two_frame_event() -> Event:
    event = make_event(
        slug="meetup",
        title="会員交流会",
        title_en="Members' Meetup",
        frames=[
            frame("会員枠", 8, name_en="Members", max_companions=1),
            frame("一般枠", 5, name_en="Public"),
        ],
    )
    db.session.commit()
    return event


def steps(event: Event):
    """Sign-ups (one with a companion) and cancellations that fill each frame, put
    people on its waiting list, and free seats again: each yields once the data
    changed."""
    made = []
    number = 0
    for index, each in enumerate(event.frames):
        for _ in range(each.capacity + 2):
            number += 1
            companions = 1 if each.max_companions and number == 2 else 0
            made.append(sign_up(event, number, frame_index=index, companions=companions))
            yield f"sign-up {number} in frame {index}"
    for registration in made[:3]:
        services.cancel_registration(registration.id)
        yield f"cancelled {registration.id}"


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("viewer", ["anonymous", "member"])
@pytest.mark.parametrize("make", [one_frame_event, two_frame_event])
def test_a_kept_event_page_with_new_numbers_is_the_page_rendered_afresh(
    app, client, renders, lang, viewer, make
):
    event = make()
    if viewer == "member":
        sign_in_member(client, first_person(make_member(name="追浜 一郎")))
    url = f"/events/{event.slug}?lang={lang}"
    assert client.get(url).status_code == 200
    from_memory = 0
    pages = set()
    for step in steps(event):
        renders.clear()
        kept = client.get(url)
        from_memory += not renders
        forget_pages(app)
        fresh = client.get(url)
        assert kept.status_code == fresh.status_code == 200, step
        assert without_tokens(text(kept)) == without_tokens(text(fresh)), step
        assert page_cache(app).live_marker not in text(kept), step
        pages.add(without_tokens(text(fresh)))
    assert from_memory >= 3  # most sign-ups leave the page's shape alone
    assert len(pages) >= 5  # and the numbers on it changed all the same


def test_the_seats_shown_follow_each_sign_up_without_a_new_render(app, client, renders):
    event = one_frame_event()
    assert "残り8席" in text(client.get("/events/seminar"))
    sign_up(event, 1)
    renders.clear()
    page = text(client.get("/events/seminar"))
    assert renders == []  # from memory
    assert "残り7席" in page
    assert "残り8席" not in page


def test_a_kept_page_answers_304_only_while_its_numbers_stand(app, client):
    event = one_frame_event()
    first = client.get("/events/seminar")
    tag = first.headers["ETag"]
    assert client.get("/events/seminar", headers={"If-None-Match": tag}).status_code == 304
    sign_up(event, 1)
    again = client.get("/events/seminar", headers={"If-None-Match": tag})
    assert again.status_code == 200
    assert again.headers["ETag"] != tag
