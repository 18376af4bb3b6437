"""A feed changes when something it shows changes, and only then: registrations,
cancellations and promotions (seat counts, Event.updated_at) leave every public feed,
its ETag and its bytes as they were; an edit of what calendars show changes them all.
The private my-feed still follows the person's own registrations."""

from __future__ import annotations

from datetime import timedelta

import icalendar
import pytest
from sqlalchemy import select

from cluster_events.calendar import ical
from cluster_events.calendar.content_version import NOT_SHOWN_IN_CALENDARS
from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import (
    CalendarVersion,
    Event,
    EventStatus,
    Registration,
    RegistrationStatus,
)
from cluster_events.registration import services as registration_services
from tests.factories import make_category, make_event, make_venue, set_capacity
from tests.members import first_person, make_member
from tests.test_member_feeds import feed_paths
from tests.test_registration_http import form

PUBLIC_URLS = (
    "/calendar.ics",
    "/calendar.ics?lang=en",
    "/calendar/seminars.ics",
    "/calendar/seminars.ics?lang=en",
    "/events/iso-seminar.ics",
    "/events/iso-seminar.ics?lang=en",
)


def _token() -> str | None:
    db.session.expire_all()
    return db.session.scalar(select(CalendarVersion.token))


def _reloaded(event_id: int) -> Event:
    db.session.expire_all()
    return db.session.get(Event, event_id)


def _answers(client, urls=PUBLIC_URLS) -> dict[str, object]:
    answers = {url: client.get(url) for url in urls}
    for url, response in answers.items():
        assert response.status_code == 200, url
    return answers


def _assert_unchanged(client, before: dict[str, object]) -> None:
    for url, earlier in before.items():
        poll = client.get(url, headers={"If-None-Match": earlier.headers["ETag"]})
        assert poll.status_code == 304, url
        again = client.get(url)
        assert again.headers["ETag"] == earlier.headers["ETag"], url
        assert again.data == earlier.data, url


def _assert_changed(client, before: dict[str, object], text: str) -> None:
    for url, earlier in before.items():
        poll = client.get(url, headers={"If-None-Match": earlier.headers["ETag"]})
        assert poll.status_code == 200, url
        assert poll.headers["ETag"] != earlier.headers["ETag"], url
        assert text in poll.get_data(as_text=True).replace("\r\n ", ""), url


@pytest.fixture
def seminar(app):
    seminars = make_category(slug="seminars", name_ja="セミナー", name_en="Seminars")
    event = make_event(slug="iso-seminar", title="ISO 認証取得セミナー", category=seminars)
    set_capacity(event, 1)
    make_event(category=seminars)  # the feeds hold more than the event itself
    db.session.commit()
    return event


def test_registrations_cancellations_and_promotions_change_no_public_feed(app, client, seminar):
    before = _answers(client)
    token, stamp = _token(), _reloaded(seminar.id).updated_at

    for email in ("first@example.jp", "second@example.jp", "third@example.jp"):
        response = client.post("/events/iso-seminar/register", data=form(email=email))
        assert response.status_code == 303
    registrations = {
        r.email: r for r in db.session.scalars(select(Registration).order_by(Registration.id))
    }
    assert [r.status for r in registrations.values()] == [
        RegistrationStatus.confirmed,
        RegistrationStatus.waiting,
        RegistrationStatus.waiting,
    ]
    _assert_unchanged(client, before)

    # The first cancels: the second is promoted in the same transaction.
    registration_services.cancel_registration(registrations["first@example.jp"].id)
    assert db.session.get(Registration, registrations["second@example.jp"].id).status == (
        RegistrationStatus.confirmed
    )
    _assert_unchanged(client, before)

    # A seat more (capacity is not in any calendar), given by the office out of turn.
    set_capacity(_reloaded(seminar.id), 2)
    db.session.commit()
    registration_services.promote_registration(registrations["third@example.jp"].id)
    event = _reloaded(seminar.id)
    assert event.confirmed_count == 2
    assert event.updated_at > stamp  # what every feed's ETag followed before
    _assert_unchanged(client, before)
    assert _token() == token


def test_an_edit_of_the_title_changes_every_public_feed_and_its_stamps(app, client, seminar):
    before = _answers(client)
    stamp = _reloaded(seminar.id).content_updated_at

    _reloaded(seminar.id).title = "ISO 9001 認証取得セミナー（改訂版）"
    db.session.commit()

    _assert_changed(client, before, "ISO 9001 認証取得セミナー（改訂版）")
    event = _reloaded(seminar.id)
    assert event.content_updated_at > stamp
    entry = icalendar.Calendar.from_ical(client.get("/events/iso-seminar.ics").data)
    (component,) = entry.walk("VEVENT")
    assert component.decoded("last-modified") == event.content_updated_at.replace(microsecond=0)
    assert component.decoded("dtstamp") == event.content_updated_at.replace(microsecond=0)


def test_a_venue_or_category_edit_changes_the_feeds_that_show_it(app, client, seminar):
    before = _answers(client, PUBLIC_URLS[:4])
    db.session.get(type(seminar.category), seminar.category_id).name_en = "Lectures"
    db.session.commit()
    _assert_changed(client, {url: before[url] for url in PUBLIC_URLS[1:4:2]}, "Lectures")

    before = _answers(client)
    venue = make_venue(name="YRP センター", name_en="")
    db.session.commit()
    _assert_unchanged(client, before)  # a new venue shows nowhere yet
    _reloaded(seminar.id).venue_id = venue.id
    db.session.commit()
    _assert_changed(client, before, "YRP センター")


#: A new value for each column calendars may show. Every column of Event is either
#: here or in NOT_SHOWN_IN_CALENDARS: a new column must be put in one of them.
SHOWN_VALUES = {
    "slug": "iso-seminar-2",
    "title": "変更後の題名",
    "title_en": "New title",
    "summary": "変更後の概要です。",
    "starts_at": lambda event: event.starts_at + timedelta(hours=1),
    "ends_at": lambda event: event.ends_at + timedelta(hours=1),
    "online_url": "https://meet.example.org/room",
    "fee_text": "1,000円",
    "status": EventStatus.cancelled,
    "is_members_only": True,
    "cancellation_reason": "講師の都合により",
    "uid": "changed@test.example.org",
    "sequence": lambda event: event.sequence + 5,
    "created_at": lambda event: event.created_at - timedelta(days=1),
    "category_id": lambda event: make_category().id,
    "venue_id": lambda event: make_venue().id,
    # English content (issue 13): the English calendars show them.
    "summary_en": "A new English summary.",
    "fee_text_en": "1,000 yen",
    "cancellation_reason_en": "The speaker is ill.",
    # Not itself in a calendar, but an English body makes the event described in
    # English, and the English calendars then leave out the "Japanese only" line.
    "body_en": "Only the English description changed.",
    "is_all_day": True,
    # An event with sessions shows them instead of its own entry.
    "session_count": 1,
}
NOT_SHOWN_VALUES = {
    "body": "本文だけを書き換えました。",
    "capacity": 99,
    "registration_opens_at": lambda event: utcnow() - timedelta(days=3),
    "registration_closes_at": lambda event: utcnow() + timedelta(days=3),
    "accepts_registrations": False,
    "confirmed_count": 7,
    "waiting_count": 3,
    "question_count": 2,
    "questions_revision": 4,
    "frame_count": 2,
}


def test_every_column_is_either_shown_or_not():
    columns = set(Event.__table__.columns.keys()) - {"id"}
    assert set(SHOWN_VALUES) | NOT_SHOWN_IN_CALENDARS == columns
    assert not set(SHOWN_VALUES) & NOT_SHOWN_IN_CALENDARS
    assert set(NOT_SHOWN_VALUES) == NOT_SHOWN_IN_CALENDARS - {"updated_at", "content_updated_at"}


def _set(event: Event, name: str, value) -> None:
    setattr(event, name, value(event) if callable(value) else value)


def _calendars(app, event_id: int) -> tuple[bytes, ...]:
    """Every calendar that shows the event: both feeds' events and the file, both languages."""
    event = _reloaded(event_id)
    with app.test_request_context():
        return tuple(
            data
            for locale in ("ja", "en")
            for data in (
                ical.event_to_ical(event, locale=locale),
                ical.events_to_ical([event], locale=locale),
                ical.event_to_ical(event, locale=locale, include_online_link=True),
            )
        )


@pytest.mark.parametrize("name", sorted(NOT_SHOWN_VALUES))
def test_a_column_no_calendar_shows_changes_no_calendar(app, seminar, name):
    before, token = _calendars(app, seminar.id), _token()
    _set(_reloaded(seminar.id), name, NOT_SHOWN_VALUES[name])
    db.session.commit()
    assert _calendars(app, seminar.id) == before
    assert _token() == token


@pytest.mark.parametrize("name", sorted(SHOWN_VALUES))
def test_a_column_calendars_may_show_changes_the_version(app, seminar, name):
    token = _token()
    stamp = _reloaded(seminar.id).content_updated_at
    _set(_reloaded(seminar.id), name, SHOWN_VALUES[name])
    db.session.commit()
    assert _token() != token
    assert _reloaded(seminar.id).content_updated_at > stamp


def test_drafts_change_no_feed_until_published(app, client, seminar):
    draft = make_event(slug="draft-one", status=EventStatus.draft)
    db.session.commit()
    before = _answers(client, PUBLIC_URLS[:2])
    token = _token()
    _reloaded(draft.id).title = "まだ下書きです"
    db.session.commit()
    assert _token() == token
    _assert_unchanged(client, before)

    _reloaded(draft.id).status = EventStatus.published
    db.session.commit()
    _assert_changed(client, before, "まだ下書きです")


def test_the_my_feed_follows_the_persons_registrations_and_the_members_feed_does_not(
    app, client, seminar
):
    person = first_person(make_member())
    paths = feed_paths(app, person)
    members, mine = client.get(paths["members"]), client.get(paths["my"])
    assert seminar.uid not in mine.get_data(as_text=True)
    public = _answers(client, PUBLIC_URLS[:1])

    response = client.post("/events/iso-seminar/register", data=form(email=person.email))
    assert response.status_code == 303

    mine_after = client.get(paths["my"], headers={"If-None-Match": mine.headers["ETag"]})
    assert mine_after.status_code == 200
    assert seminar.uid in mine_after.get_data(as_text=True)
    members_poll = client.get(paths["members"], headers={"If-None-Match": members.headers["ETag"]})
    assert members_poll.status_code == 304
    _assert_unchanged(client, public)

    registration = db.session.scalars(select(Registration)).one()
    registration_services.cancel_registration(registration.id)
    gone = client.get(paths["my"], headers={"If-None-Match": mine_after.headers["ETag"]})
    assert gone.status_code == 200
    assert seminar.uid not in gone.get_data(as_text=True)
