"""The SEQUENCE rule: any ORM change of time, place, title or status of an event
people may hold in their calendars raises SEQUENCE by one; the UID never changes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cluster_events.extensions import db
from cluster_events.models import Event, EventStatus
from tests.factories import make_event, make_registration, make_venue


def _reloaded(event_id: int) -> Event:
    db.session.expire_all()
    return db.session.scalars(select(Event).where(Event.id == event_id)).one()


def test_moving_an_event_raises_sequence_once_and_keeps_uid(app):
    event = make_event()
    db.session.commit()
    uid, updated_at = event.uid, event.updated_at

    event = _reloaded(event.id)
    event.starts_at = event.starts_at + timedelta(hours=1)
    event.ends_at = event.ends_at + timedelta(hours=1)
    db.session.commit()

    event = _reloaded(event.id)
    assert event.sequence == 1
    assert event.uid == uid
    assert event.updated_at > updated_at


def test_each_kind_of_calendar_change_counts(app):
    event = make_event()
    other_venue = make_venue(name="横浜事務所")
    db.session.commit()
    changes = [
        lambda e: setattr(e, "title", "新しい題名"),
        lambda e: setattr(e, "title_en", "New title"),
        lambda e: setattr(e, "venue_id", other_venue.id),
        lambda e: setattr(e, "venue", None),
        lambda e: setattr(e, "online_url", "https://meet.example.org/abc"),
        lambda e: setattr(e, "ends_at", e.ends_at + timedelta(minutes=30)),
        lambda e: setattr(e, "status", EventStatus.cancelled),
    ]
    for expected, change in enumerate(changes, start=1):
        event = _reloaded(event.id)
        change(event)
        db.session.commit()
        assert _reloaded(event.id).sequence == expected


def test_changes_calendars_do_not_show_leave_sequence_alone(app):
    event = make_event(capacity=20)
    db.session.commit()

    event = _reloaded(event.id)
    event.capacity = 30
    event.fee_text = "1,000円"
    event.summary = "説明を直しました。"
    make_registration(event)  # raises confirmed_count
    db.session.commit()

    event = _reloaded(event.id)
    event.starts_at = event.starts_at + timedelta(0)  # same time again
    event.title = str(event.title)
    db.session.commit()

    assert _reloaded(event.id).sequence == 0


def test_same_value_after_expiry_is_not_a_move(app):
    """The old value is loaded even when expired (active history), so writing the
    same time a form sent back is not taken for a move."""
    event = make_event()
    db.session.commit()
    starts_at = event.starts_at
    db.session.expire(event)
    event.starts_at = starts_at
    db.session.commit()
    assert _reloaded(event.id).sequence == 0


def test_drafts_and_first_publication_do_not_raise_sequence(app):
    event = make_event(status=EventStatus.draft)
    db.session.commit()

    event = _reloaded(event.id)
    event.starts_at = event.starts_at + timedelta(days=1)
    event.title = "下書きの題名"
    db.session.commit()
    event = _reloaded(event.id)
    event.status = EventStatus.published
    db.session.commit()
    assert _reloaded(event.id).sequence == 0

    event = _reloaded(event.id)
    event.status = EventStatus.cancelled
    db.session.commit()
    assert _reloaded(event.id).sequence == 1


def test_an_explicit_sequence_is_not_raised_twice(app):
    event = make_event()
    db.session.commit()
    event = _reloaded(event.id)
    event.title = "変更"
    event.sequence = 5
    db.session.commit()
    assert _reloaded(event.id).sequence == 5


def test_several_changes_in_one_transaction_raise_sequence_by_one(app):
    """make_venue() flushes halfway through: still one change for calendars."""
    event = make_event()
    db.session.commit()
    event = _reloaded(event.id)
    event.title = "変更後の題名"
    event.starts_at = event.starts_at + timedelta(days=7)
    event.ends_at = event.ends_at + timedelta(days=7)
    event.venue = make_venue(name="別会場")
    db.session.commit()
    assert _reloaded(event.id).sequence == 1
