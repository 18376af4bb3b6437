"""`flask seed-demo`: the association's offices, categories and a realistic season of
events around today, consistent with the registration rules, and safe to run twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from cluster_events.database import utcnow
from cluster_events.demo import CATEGORIES, DEMO_EVENTS, database_is_empty, seed_demo
from cluster_events.extensions import db
from cluster_events.models import (
    Category,
    Event,
    EventStatus,
    MemberKind,
    QuestionKind,
    Registration,
    RegistrationAnswer,
    RegistrationStatus,
    Venue,
)
from cluster_events.registration import answers, questions
from cluster_events.registration.status import RegistrationState, registration_state
from cluster_events.registration.tokens import personal_token, registration_by_token
from cluster_events.text import is_kana_reading, katakana_to_hiragana
from cluster_events.timefmt import to_tokyo


def _counts() -> tuple[int, int, int, int]:
    return tuple(  # type: ignore[return-value]
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Category, Venue, Event, Registration)
    )


def test_seed_demo_twice_creates_nothing_the_second_time(app, runner):
    assert database_is_empty()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert f"{len(DEMO_EVENTS)} new events" in first.output
    counts = _counts()
    second = runner.invoke(args=["seed-demo"])
    assert "0 new events" in second.output
    assert _counts() == counts
    assert not database_is_empty()
    assert runner.invoke(args=["seed-demo-if-empty"]).output == ""
    assert _counts() == counts


def test_offices_and_categories(app):
    seed_demo()
    addresses = set(db.session.scalars(select(Venue.address)))
    assert "神奈川県横須賀市光の丘8番3号 YRPベンチャー棟209号" in addresses
    assert "神奈川県横浜市金沢区片吹69番26号" in addresses
    categories = {c.slug: c.name_ja for c in db.session.scalars(select(Category))}
    assert categories == {
        "seminar": "セミナー・講演会",
        "study-meeting": "経営研究・懇談会",
        "exchange": "交流会",
        "course": "講座・研修",
        "school-visit": "出前授業",
        "consultation": "相談会",
    }
    assert len(CATEGORIES) == 6


def test_existing_categories_are_kept_as_edited(app):
    db.session.add(Category(slug="seminar", name_ja="講演会", name_en="Talks", sort_order=9))
    db.session.commit()
    seed_demo()
    seminar = db.session.scalar(select(Category).where(Category.slug == "seminar"))
    assert (seminar.name_ja, seminar.sort_order) == ("講演会", 9)


def test_the_season_has_every_kind_of_event(app):
    seed_demo()
    now = utcnow()
    events = list(db.session.scalars(select(Event)))
    assert len(events) >= 12
    assert all(e.title and e.summary and e.body and e.uid for e in events)
    assert all(now - timedelta(days=65) <= e.starts_at <= now + timedelta(days=95) for e in events)
    assert sum(e.ends_at < now for e in events) >= 3
    assert sum(e.starts_at > now for e in events) >= 8

    states = Counter(registration_state(e, now) for e in events if not e.is_members_only)
    assert states[RegistrationState.full] >= 1
    assert states[RegistrationState.open] >= 3
    assert states[RegistrationState.not_yet_open] >= 1
    assert any(e.is_members_only for e in events)
    cancelled = [e for e in events if e.status == EventStatus.cancelled]
    assert cancelled and all(e.cancellation_reason for e in cancelled)
    assert any(e.status == EventStatus.draft for e in events)
    assert any(e.seats_left is not None and 0 < e.seats_left <= 3 for e in events)
    assert any(not e.accepts_registrations for e in events)


def test_registrations_match_the_counters_and_the_waiting_list_is_dense(app):
    """Counters count people (a registrant and their companions), per frame and summed
    on the event; waiting positions run 1..n per frame."""
    seed_demo()
    for event in db.session.scalars(select(Event)):
        for frame in event.frames:
            rows = [r for r in event.registrations if r.frame_id == frame.id]
            people = Counter()
            for registration in rows:
                assert registration.party_size == 1 + len(registration.companions)
                people[registration.status] += registration.party_size
            assert people[RegistrationStatus.confirmed] == frame.confirmed_count
            assert people[RegistrationStatus.waiting] == frame.waiting_count
            if frame.capacity is not None:
                assert frame.confirmed_count <= frame.capacity
            positions = sorted(r.waiting_position for r in rows if r.status == "waiting")
            assert positions == list(range(1, frame.waiting_parties + 1))
            assert all(r.waiting_position is None for r in rows if r.status != "waiting")
        assert event.confirmed_count == sum(f.confirmed_count for f in event.frames)
        assert event.waiting_count == sum(f.waiting_count for f in event.frames)
        if event.capacity is not None:
            assert event.confirmed_count <= event.capacity
        emails = [r.email_normalized for r in event.registrations]
        assert len(emails) == len(set(emails))
        assert all(r.created_at <= utcnow() for r in event.registrations)
    full = [e for e in db.session.scalars(select(Event)) if e.is_full and e.waiting_count]
    assert full, "one event is full with people waiting"


def test_demo_registrations_have_working_personal_links(app):
    seed_demo()
    registration = db.session.scalars(select(Registration)).first()
    assert registration_by_token(personal_token(registration)) == registration


def test_demo_pages_render(app, client):
    seed_demo()
    listing = client.get("/").get_data(as_text=True)
    assert "経営研究・懇談会" in listing
    assert "満席・キャンセル待ち受付中" in listing
    assert "新春交流会" not in listing  # the draft
    assert "個人会員交流会" not in listing  # members only
    for event in db.session.scalars(select(Event).where(Event.status != EventStatus.draft)):
        # A members-only page asks a visitor to sign in, and shows nothing of the event.
        expected = 403 if event.is_members_only else 200
        page = client.get(f"/events/{event.slug}")
        assert page.status_code == expected, event.slug
        if event.is_members_only:
            assert event.title not in page.get_data(as_text=True)


def test_the_members_exchange_meeting_asks_about_dietary_needs_and_photographs(app, client):
    """Issue 12, point 3: the demo's dinner has its questions, and its registrants'
    answers, as the form would have stored them."""
    seed_demo()
    event = db.session.scalar(select(Event).where(Event.slug == "kojin-kaiin-koryukai"))
    asked = questions.form_questions(event)
    assert [(q.label_ja, q.kind, q.is_required) for q in asked] == [
        ("食事のご配慮", QuestionKind.one_choice, True),
        ("アレルギーの食品・その他のご配慮", QuestionKind.short_text, False),
        (
            "当日撮影した写真を会報とウェブサイトに掲載することに同意します",
            QuestionKind.agreement,
            False,
        ),
    ]
    assert all(q.label_en for q in asked)
    registrations = db.session.scalars(
        select(Registration).where(
            Registration.event_id == event.id, Registration.status != RegistrationStatus.cancelled
        )
    ).all()
    diets = Counter()
    for registration in registrations:
        shown = {str(a.label): str(a.text) for a in answers.shown_answers(registration, "ja")}
        diets[shown["食事のご配慮"]] += 1
    assert diets["特になし"] >= 5 and len(diets) >= 3
    agreed = db.session.scalar(
        select(func.count())
        .select_from(RegistrationAnswer)
        .where(RegistrationAnswer.kind == QuestionKind.agreement)
    )
    assert 0 < agreed < len(registrations)
    other = db.session.scalar(select(Event).where(Event.slug == "keiei-kenkyukai-253"))
    assert (other.question_count, questions.form_questions(other)) == (0, [])


def test_next_months_study_meeting_has_a_members_frame_and_a_general_frame(app, client):
    seed_demo()
    event = db.session.scalar(select(Event).where(Event.slug == "keiei-kenkyukai-254"))
    assert [(f.name_ja, f.capacity, f.eligibility) for f in event.frames] == [
        ("会員枠", 15, "members"),
        ("一般枠", 5, "anyone"),
    ]
    assert (event.capacity, event.frame_count) == (20, 2)
    others = db.session.scalars(select(Event).where(Event.slug != "keiei-kenkyukai-254"))
    assert all(len(e.frames) == 1 and e.frames[0].capacity == e.capacity for e in others)
    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert "会員枠" in page and "一般枠" in page


def test_the_members_exchange_meeting_takes_companions(app, client, logged_in_client):
    """Issue 12, point 4: a company brings two colleagues to the 会員交流会; each
    companion has a reading in hiragana and takes a seat."""
    seed_demo()
    event = db.session.scalar(select(Event).where(Event.slug == "kaiin-koryukai"))
    (frame,) = event.frames
    assert (frame.max_companions, frame.requires_approval, event.is_members_only) == (
        2,
        False,
        False,
    )
    parties = [r for r in event.registrations if r.companions]
    assert sorted(len(r.companions) for r in parties) == [1, 2, 2]
    company = min(parties, key=lambda r: r.created_at)
    assert len(company.companions) == 2
    assert company.member_person.member.kind == MemberKind.corporate
    for party in parties:
        assert [c.position for c in party.companions] == list(range(1, party.party_size))
        assert all(c.name and is_kana_reading(c.name_kana) for c in party.companions)
        assert all(c.name_kana == katakana_to_hiragana(c.name_kana) for c in party.companions)
    assert event.confirmed_count == len(event.registrations) + 5 == 15

    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert 'name="companion_2_name"' in page and 'name="companion_3_name"' not in page
    office = logged_in_client()
    listing = office.get(f"/admin/events/{event.id}/attendees?lang=ja").get_data(as_text=True)
    names = "、".join(c.name for c in company.companions)
    assert f"同伴者: {names} (3名)" in listing
    sheet = office.get(f"/admin/events/{event.id}/attendees.csv?lang=ja")
    assert sheet.data.decode("utf-8-sig").strip().count("\r\n") == 15  # a row per person


def test_the_schools_open_class_needs_the_offices_approval(app, client, logged_in_client):
    """Issue 12, point 5: the open class's registrations wait for the office; the
    approved ones hold seats, the two pending ones none."""
    seed_demo()
    event = db.session.scalar(select(Event).where(Event.slug == "eco-kyoiku-kokai-jugyo"))
    (frame,) = event.frames
    assert frame.requires_approval and event.accepts_registrations
    by_status = Counter(r.status for r in event.registrations)
    assert by_status == {RegistrationStatus.confirmed: 4, RegistrationStatus.pending: 2}
    assert (frame.confirmed_count, frame.waiting_count, frame.seats_left) == (4, 0, 8)
    pending = [r for r in event.registrations if r.status == RegistrationStatus.pending]
    assert all(r.decided_at is None and r.confirmed_at is None for r in pending)
    approved = [r for r in event.registrations if r.status == RegistrationStatus.confirmed]
    assert all(r.decided_at is not None and r.decided_at <= utcnow() for r in approved)
    assert max(r.created_at for r in approved) < min(r.created_at for r in pending)
    assert to_tokyo(event.starts_at).weekday() < 5  # a school day

    page = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    assert "事務局がお申込みを確認してからお席を確定します（承認制）" in page
    office = logged_in_client()
    listing = office.get(f"/admin/events/{event.id}/attendees?lang=ja").get_data(as_text=True)
    assert listing.count('name="registration_id"') == 2
    assert "選んだお申込みを承認する" in listing
