"""Small builders for test data. Each returns a flushed model with sensible defaults
that a test overrides with keyword arguments."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import (
    DEFAULT_FRAME_NAMES,
    Category,
    Event,
    EventStatus,
    Frame,
    FrameEligibility,
    InvitationCode,
    Organizer,
    OrganizerRole,
    Registration,
    RegistrationCompanion,
    RegistrationStatus,
    Venue,
)

_counter = itertools.count(1)

#: Password of every organizer made by make_organizer() unless a test gives another.
ORGANIZER_PASSWORD = "correct horse battery staple"


def make_category(**values: Any) -> Category:
    number = next(_counter)
    values.setdefault("slug", f"category-{number}")
    values.setdefault("name_ja", f"分類{number}")
    values.setdefault("name_en", f"Category {number}")
    values.setdefault("sort_order", number)
    category = Category(**values)
    db.session.add(category)
    db.session.flush()
    return category


def make_venue(**values: Any) -> Venue:
    values.setdefault("name", "YRP事務所")
    values.setdefault("name_en", "YRP office")
    values.setdefault("address", "神奈川県横須賀市光の丘8番3号 YRPベンチャー棟209号")
    values.setdefault("access_notes", "京急YRP野比駅からバス10分")
    values.setdefault("map_url", "https://maps.example.org/yrp")
    venue = Venue(**values)
    db.session.add(venue)
    db.session.flush()
    return venue


def make_event(**values: Any) -> Event:
    number = next(_counter)
    starts_at: datetime = values.pop("starts_at", utcnow() + timedelta(days=10))
    values.setdefault("ends_at", starts_at + timedelta(hours=2))
    values.setdefault("slug", f"event-{number}")
    values.setdefault("title", f"テストセミナー{number}")
    values.setdefault("summary", "中小企業の皆さま向けの説明会です。")
    values.setdefault("body", "## 内容\n\n- 説明\n- 質疑応答")
    values.setdefault("status", EventStatus.published)
    values.setdefault("fee_text", "無料")
    values.setdefault("uid", Event.new_uid("test.example.org"))
    if "category" not in values and "category_id" not in values:
        values["category"] = make_category()
    if "venue" not in values and "venue_id" not in values:
        values["venue"] = make_venue()
    frames = values.pop("frames", None)
    if frames is None:
        # One frame holding every seat, as an event made in the console has.
        name_ja, name_en = DEFAULT_FRAME_NAMES
        frames = [Frame(name_ja=name_ja, name_en=name_en, capacity=values.get("capacity"))]
    else:
        capacities = [frame.capacity for frame in frames]
        values["capacity"] = None if None in capacities else sum(capacities)
    for order, frame in enumerate(frames):
        frame.sort_order = order
    event = Event(starts_at=starts_at, frames=frames, frame_count=len(frames), **values)
    db.session.add(event)
    db.session.flush()
    return event


def frame(name_ja: str = "一般枠", capacity: int | None = None, **values: Any) -> Frame:
    """A frame for ``make_event(frames=[...])`` (not added by itself)."""
    values.setdefault("name_en", "")
    values.setdefault("eligibility", FrameEligibility.anyone)
    return Frame(name_ja=name_ja, capacity=capacity, **values)


def make_invitation_code(target: Frame, code: str = "INVITE01", **values: Any) -> InvitationCode:
    invitation = InvitationCode(frame=target, code=code, **values)
    db.session.add(invitation)
    db.session.flush()
    return invitation


def set_capacity(event: Event, capacity: int | None) -> None:
    """What the console does for an event with one frame: its capacity is the frame's."""
    assert len(event.frames) == 1
    event.capacity = event.frames[0].capacity = capacity


def make_organizer(**values: Any) -> Organizer:
    """An enabled organizer (``role="admin"`` for an admin) whose password is
    ``password`` (default ORGANIZER_PASSWORD)."""
    from werkzeug.security import generate_password_hash

    number = next(_counter)
    password = values.pop("password", ORGANIZER_PASSWORD)
    values.setdefault("email", f"organizer{number}@example.org")
    values.setdefault("name", f"事務局{number}")
    values.setdefault("role", OrganizerRole.organizer)
    values.setdefault("is_enabled", True)
    # A cheap scrypt cost keeps the suite fast (the tests' PASSWORD_HASH_METHOD too, so
    # logging in does not redo it); the stored format is the same.
    values["password_hash"] = generate_password_hash(password, method="scrypt:1024:8:1")
    organizer = Organizer(**values)
    db.session.add(organizer)
    db.session.flush()
    return organizer


def make_registration(event: Event, **values: Any) -> Registration:
    """A registration written directly (no service, no email) in ``frame`` (default:
    the event's first), keeping the frame's and the event's confirmed/waiting counters
    (people: ``party_size``, default 1) and the frame's dense waiting positions in
    step. ``companions`` (names) adds a companion each, with a reading, and sets the
    party size."""
    import hashlib
    import secrets

    number = next(_counter)
    values.setdefault("status", RegistrationStatus.confirmed)
    values.setdefault("name", f"参加者{number}")
    values.setdefault("name_kana", f"さんかしゃ{number}")
    values.setdefault("email", f"person{number}@example.org")
    values.setdefault("email_normalized", values["email"].lower())
    values.setdefault("token_salt", secrets.token_hex(16))
    values.setdefault("token_hash", hashlib.sha256(secrets.token_bytes(16)).hexdigest())
    target = values.pop("frame", None) or event.frames[0]
    companions = values.pop("companions", ())
    people = values.setdefault("party_size", 1 + len(companions))
    if values["status"] == RegistrationStatus.confirmed:
        event.confirmed_count += people
        target.confirmed_count += people
        values.setdefault("confirmed_at", utcnow())
    elif values["status"] == RegistrationStatus.waiting:
        event.waiting_count += people
        target.waiting_count += people
        target.waiting_parties += 1
        values.setdefault("waiting_position", target.waiting_parties)
    registration = Registration(event=event, frame=target, **values)
    db.session.add(registration)
    for position, name in enumerate(companions, start=1):
        db.session.add(
            RegistrationCompanion(
                registration=registration, position=position, name=name, name_kana="どうはん"
            )
        )
    db.session.flush()
    return registration
