"""Event management in the console: list, create, edit with preview, publish, duplicate,
cancel, capacity changes with the waiting list, venues, categories and the audit log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cluster_events.database import utcnow
from cluster_events.events import services as event_services
from cluster_events.extensions import db
from cluster_events.models import (
    AuditLogEntry,
    Category,
    Event,
    EventStatus,
    Registration,
    RegistrationStatus,
    Venue,
)
from cluster_events.timefmt import TOKYO
from tests.factories import make_category, make_event, make_registration, make_venue
from tests.records import audit_entries, outbox_messages


def soon() -> datetime:
    """Ten days ahead on a whole minute, as a datetime-local input can hold it."""
    return (utcnow() + timedelta(days=10)).replace(second=0, microsecond=0)


@pytest.fixture
def organizer_client(client, logged_in_client):
    return logged_in_client("organizer")


def form_values(event: Event, **changes) -> dict[str, str]:
    """What the edit form would post for ``event`` unchanged, with ``changes`` applied."""

    def local(value):
        return value.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M") if value else ""

    values = {
        "title": event.title,
        "title_en": event.title_en,
        "slug": event.slug,
        "category_id": str(event.category_id),
        "summary": event.summary,
        "body": event.body,
        "starts_at": local(event.starts_at),
        "ends_at": local(event.ends_at),
        "venue_id": str(event.venue_id or ""),
        "online_url": event.online_url,
        "capacity": "" if event.capacity is None else str(event.capacity),
        "fee_text": event.fee_text,
        "registration_opens_at": local(event.registration_opens_at),
        "registration_closes_at": local(event.registration_closes_at),
        "save": "1",
    }
    if event.accepts_registrations:
        values["accepts_registrations"] = "y"
    if event.is_members_only:
        values["is_members_only"] = "y"
    values.update(changes)
    return {key: value for key, value in values.items() if value is not None}


def fresh(event: Event) -> Event:
    db.session.expire_all()
    return db.session.get(Event, event.id)


class TestList:
    def test_shows_every_kind_of_event_with_counts(self, app, organizer_client):
        past = make_event(title="過去の講演会", starts_at=utcnow() - timedelta(days=30))
        draft = make_event(title="下書きの懇談会", status=EventStatus.draft)
        cancelled = make_event(title="中止の交流会", status=EventStatus.cancelled)
        full = make_event(title="満席のセミナー", capacity=2)
        for status in ("confirmed", "confirmed", "waiting"):
            make_registration(full, status=status)
        db.session.commit()
        page = organizer_client.get("/admin/events?lang=en").get_data(as_text=True)
        for event in (past, draft, cancelled, full):
            assert event.title in page
        row = page[page.index("満席のセミナー") :].split("</tr>")[0]
        assert re.findall(r'class="num"[^>]*>(\w+)</td>', row) == ["2", "1", "2"]
        drafts = organizer_client.get("/admin/events?show=draft").get_data(as_text=True)
        assert draft.title in drafts and full.title not in drafts

    def test_list_needs_the_same_queries_for_few_or_many_events(
        self, app, organizer_client, count_queries
    ):
        make_event()
        db.session.commit()
        with count_queries() as few:
            assert organizer_client.get("/admin/events").status_code == 200
        for _ in range(8):
            make_event(category=make_category(), venue=make_venue())
        db.session.commit()
        with count_queries() as many:
            assert organizer_client.get("/admin/events").status_code == 200
        assert many.count == few.count

    def test_unknown_filter_is_a_clear_400(self, organizer_client):
        assert organizer_client.get("/admin/events?show=everything").status_code == 400


class TestCreate:
    def test_times_are_tokyo_and_stored_in_utc_slug_suggested(self, app, organizer_client):
        category, venue = make_category(), make_venue()
        db.session.commit()
        response = organizer_client.post(
            "/admin/events/new",
            data={
                "title": " 省エネ・環境経営セミナー（第２回）　",
                "title_en": "Energy Saving Seminar",
                "category_id": str(category.id),
                "venue_id": str(venue.id),
                "starts_at": "2027-02-06T14:00",
                "ends_at": "2027-02-06T16:30",
                "capacity": "３０",
                "accepts_registrations": "y",
                "body": "## 内容\n\n省エネの進め方",
            },
        )
        assert response.status_code == 302
        event = db.session.scalar(select(Event))
        assert event.title == "省エネ・環境経営セミナー（第２回）"  # full-width kept as written
        assert event.starts_at == datetime(2027, 2, 6, 5, 0, tzinfo=UTC)
        assert event.slug == "energy-saving-seminar"
        assert event.status == EventStatus.draft
        assert event.uid.endswith("@test.example.org")
        assert response.headers["Location"] == f"/admin/events/{event.id}"
        [entry] = audit_entries("event.create")
        assert entry.after["title"] == "省エネ・環境経営セミナー（第２回）"
        assert entry.organizer_id == organizer_client.organizer.id

    def test_japanese_only_title_gets_a_dated_slug(self, app, organizer_client):
        category = make_category()
        make_event(slug="event-20270206")
        db.session.commit()
        organizer_client.post(
            "/admin/events/new",
            data={
                "title": "経営研究・懇談会",
                "category_id": str(category.id),
                "starts_at": "2027-02-06T18:00",
                "ends_at": "2027-02-06T20:00",
            },
        )
        assert db.session.scalar(select(Event.slug).where(Event.title == "経営研究・懇談会")) == (
            "event-20270206-2"
        )

    @pytest.mark.parametrize(
        ("changes", "field", "message"),
        [
            ({"ends_at": "2027-02-06T13:00"}, "ends_at", "The end must be after the start."),
            ({"capacity": "-1"}, "capacity", "Enter a number from 0 to 100,000."),
            ({"capacity": "99999999999"}, "capacity", "Enter a number from 0 to 100,000."),
            ({"slug": "Kondankai 12月"}, "slug", "Use only lower-case letters"),
            ({"slug": "taken"}, "slug", "Another event already uses this address."),
            (
                {"registration_closes_at": "2027-02-07T10:00"},
                "registration_closes_at",
                "Registration must close before the event starts.",
            ),
            ({"title": "　"}, "title", "This field is required."),
            ({"starts_at": "0001-01-01T00:00"}, "starts_at", "between the years 2000 and 2100"),
            ({"starts_at": "2027-02-31T14:00"}, "starts_at", "Not a valid datetime value."),
        ],
    )
    def test_bad_input_is_explained_at_the_field(
        self, app, organizer_client, changes, field, message
    ):
        category = make_category()
        make_event(slug="taken")
        db.session.commit()
        data = {
            "title": "説明会",
            "category_id": str(category.id),
            "starts_at": "2027-02-06T14:00",
            "ends_at": "2027-02-06T16:00",
            **changes,
        }
        response = organizer_client.post("/admin/events/new?lang=en", data=data)
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        error = page[page.index(f'id="{field}-error"') :].split("</p>")[0]
        assert message in error
        assert f'aria-describedby="{field}-hint {field}-error"' in page or (
            f'aria-describedby="{field}-error"' in page
        )
        assert db.session.scalar(select(func.count()).select_from(Event)) == 1

    def test_nul_bytes_are_refused_not_stored(self, app, organizer_client):
        category = make_category()
        db.session.commit()
        data = {
            "title": "説明会\x00",
            "category_id": str(category.id),
            "starts_at": "2027-02-06T14:00",
            "ends_at": "2027-02-06T16:00",
        }
        assert organizer_client.post("/admin/events/new", data=data).status_code == 400
        assert organizer_client.post("/admin/venues/new", data={"name": "\x00"}).status_code == 400
        assert organizer_client.get("/admin/events?show=%00").status_code == 400
        assert db.session.scalar(select(func.count()).select_from(Event)) == 0

    def test_preview_shows_sanitised_markdown_and_saves_nothing(self, app, organizer_client):
        category = make_category()
        db.session.commit()
        response = organizer_client.post(
            "/admin/events/new",
            data={
                "title": "説明会",
                "category_id": str(category.id),
                "starts_at": "2027-02-06T14:00",
                "ends_at": "2027-02-06T16:00",
                "body": "## 持ち物\n\n**筆記用具**\n\n<script>alert(1)</script>"
                '<img src=x onerror="alert(2)">[link](javascript:alert(3))',
                "preview": "1",
            },
        )
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        preview = page[page.index('id="preview-title"') :].split("</section>")[0]
        assert "<h2>持ち物</h2>" in preview and "<strong>筆記用具</strong>" in preview
        assert "<script" not in preview and "<img" not in preview
        assert 'href="javascript:' not in preview
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # still in the textarea
        assert db.session.scalar(select(func.count()).select_from(Event)) == 0


class TestPublishing:
    def test_publish_then_unpublish(self, app, client, organizer_client):
        event = make_event(status=EventStatus.draft, title="新春講演会")
        db.session.commit()
        assert client.get(f"/events/{event.slug}").status_code == 404
        response = organizer_client.post(f"/admin/events/{event.id}/publish")
        assert response.status_code == 302
        assert "新春講演会" in client.get(f"/events/{event.slug}").get_data(as_text=True)
        organizer_client.post(f"/admin/events/{event.id}/unpublish")
        assert client.get(f"/events/{event.slug}").status_code == 404
        assert [e.action for e in db.session.scalars(select(AuditLogEntry))] == [
            "event.publish",
            "event.unpublish",
        ]

    def test_a_cancelled_event_cannot_be_published(self, app, organizer_client):
        event = make_event(status=EventStatus.cancelled)
        db.session.commit()
        response = organizer_client.post(f"/admin/events/{event.id}/publish?lang=en")
        assert response.status_code == 302
        page = organizer_client.get(response.headers["Location"]).get_data(as_text=True)
        assert "A cancelled event cannot be published" in page
        assert fresh(event).status == EventStatus.cancelled

    @pytest.mark.parametrize("forged", ["999", "99999999999999999999"])
    def test_forged_ids_are_404(self, app, organizer_client, forged):
        for path in ("", "/edit", "/cancel", "/attendees"):
            assert organizer_client.get(f"/admin/events/{forged}{path}").status_code == 404
        for path in ("/publish", "/unpublish", "/duplicate", "/cancel", "/edit"):
            assert organizer_client.post(f"/admin/events/{forged}{path}").status_code == 404
        for path in ("/admin/venues/{}/edit", "/admin/categories/{}/edit"):
            assert organizer_client.get(path.format(forged)).status_code == 404
        for path in ("/admin/venues/{}/delete", "/admin/categories/{}/delete"):
            assert organizer_client.post(path.format(forged)).status_code == 404

    def test_an_impossible_id_is_404_in_the_language_asked(self, app, organizer_client):
        response = organizer_client.get(f"/admin/events/{2**31}?lang=en")
        assert response.status_code == 404
        assert "The page could not be found" in response.get_data(as_text=True)


class TestDuplicate:
    def test_monthly_meeting_lands_as_next_months_draft(self, app, organizer_client):
        # The 2nd Friday of January 2027, 18:00 in Tokyo.
        source = make_event(
            title="経営研究・懇談会（第12回）",
            slug="kondankai-2027-01",
            starts_at=datetime(2027, 1, 8, 18, 0, tzinfo=TOKYO),
            ends_at=datetime(2027, 1, 8, 20, 0, tzinfo=TOKYO),
            capacity=20,
            registration_closes_at=datetime(2027, 1, 7, 17, 0, tzinfo=TOKYO),
            sequence=3,
        )
        make_registration(source)
        db.session.commit()
        response = organizer_client.post(f"/admin/events/{source.id}/duplicate")
        copy = db.session.scalar(select(Event).where(Event.id != source.id))
        assert response.headers["Location"] == f"/admin/events/{copy.id}/edit"
        assert copy.title == "経営研究・懇談会（第13回）"
        assert copy.starts_at == datetime(2027, 2, 12, 18, 0, tzinfo=TOKYO)  # 2nd Friday
        assert copy.ends_at == datetime(2027, 2, 12, 20, 0, tzinfo=TOKYO)
        assert copy.slug == "kondankai-2027-02"
        assert copy.status == EventStatus.draft
        assert (copy.confirmed_count, copy.waiting_count, copy.sequence) == (0, 0, 0)
        assert copy.uid != source.uid
        assert copy.registration_closes_at is None
        assert (copy.capacity, copy.body, copy.venue_id) == (
            source.capacity,
            source.body,
            source.venue_id,
        )
        assert audit_entries("event.duplicate")[0].after["copied_from"] == source.id

    @pytest.mark.parametrize(
        ("start", "expected"),
        [
            (datetime(2026, 12, 5, 14, 0, tzinfo=TOKYO), datetime(2027, 1, 2, 14, 0, tzinfo=TOKYO)),
            (
                datetime(2027, 1, 29, 14, 0, tzinfo=TOKYO),  # 5th Friday: February has none
                datetime(2027, 2, 26, 14, 0, tzinfo=TOKYO),
            ),
            (
                datetime(2027, 1, 31, 23, 30, tzinfo=TOKYO),  # still January in UTC terms? no
                datetime(2027, 2, 28, 23, 30, tzinfo=TOKYO),
            ),
        ],
    )
    def test_same_weekday_next_month(self, start, expected):
        result = event_services.same_weekday_next_month(start)
        assert result == expected
        assert result.weekday() == start.astimezone(TOKYO).weekday()


class TestChangingTimeOrPlace:
    @pytest.fixture
    def event(self, app):
        event = make_event(capacity=10, title="米軍入札 参加支援セミナー", starts_at=soon())
        make_registration(event, status=RegistrationStatus.confirmed, locale="en")
        make_registration(event, status=RegistrationStatus.confirmed)
        make_registration(event, status=RegistrationStatus.cancelled)
        db.session.commit()
        return event

    def test_asks_first_and_saves_nothing(self, app, organizer_client, event):
        new_start = (event.starts_at + timedelta(days=7)).astimezone(TOKYO)
        data = form_values(
            event,
            starts_at=new_start.strftime("%Y-%m-%dT%H:%M"),
            ends_at=(new_start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        )
        response = organizer_client.post(f"/admin/events/{event.id}/edit?lang=en", data=data)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert "Tell the registrants?" in page
        assert "Registered now (confirmed or waiting): 2." in page
        assert 'name="notify" value="yes"' in page and 'name="notify" value="no"' in page
        assert fresh(event).starts_at == event.starts_at
        assert outbox_messages() == []

    def test_yes_emails_every_active_registrant_with_the_new_ics(
        self, app, organizer_client, event
    ):
        old_start, old_sequence = event.starts_at, event.sequence
        new_start = (event.starts_at + timedelta(days=7)).astimezone(TOKYO)
        venue = make_venue(name="横浜事務所", name_en="Yokohama office")
        db.session.commit()
        data = form_values(
            event,
            starts_at=new_start.strftime("%Y-%m-%dT%H:%M"),
            ends_at=(new_start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            venue_id=str(venue.id),
            notify="yes",
        )
        response = organizer_client.post(f"/admin/events/{event.id}/edit", data=data)
        assert response.status_code == 302
        event = fresh(event)
        assert event.starts_at == old_start + timedelta(days=7)
        assert event.sequence == old_sequence + 1
        messages = outbox_messages("event_changed")
        assert len(messages) == 2
        english = next(m for m in messages if "Yokohama office" in m.body_text)
        assert "was" in english.body_text
        japanese = next(m for m in messages if m is not english)
        assert "横浜事務所" in japanese.body_text
        for message in messages:
            [ics] = [a for a in message.attachments if "calendar" in a["content_type"]]
            assert f"SEQUENCE:{event.sequence}" in ics["data"]
        assert audit_entries("event.update")[0].before["venue_id"] != venue.id
        assert audit_entries("event.notify_change")[0].after["recipients"] == 2

    def test_no_saves_without_emails(self, app, organizer_client, event):
        venue = make_venue(name="横浜事務所")
        db.session.commit()
        data = form_values(event, venue_id=str(venue.id), notify="no")
        assert organizer_client.post(f"/admin/events/{event.id}/edit", data=data).status_code == (
            302
        )
        assert fresh(event).venue_id == venue.id
        assert outbox_messages() == []

    def test_a_change_of_text_alone_asks_nothing(self, app, organizer_client, event):
        data = form_values(event, summary="内容を追記しました。")
        assert organizer_client.post(f"/admin/events/{event.id}/edit", data=data).status_code == (
            302
        )
        assert fresh(event).summary == "内容を追記しました。"
        assert outbox_messages() == []

    def test_drafts_are_saved_without_asking(self, app, organizer_client):
        draft = make_event(status=EventStatus.draft, starts_at=soon())
        db.session.commit()
        new_start = (draft.starts_at + timedelta(days=1)).astimezone(TOKYO)
        data = form_values(
            draft,
            starts_at=new_start.strftime("%Y-%m-%dT%H:%M"),
            ends_at=(new_start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        )
        assert organizer_client.post(f"/admin/events/{draft.id}/edit", data=data).status_code == (
            302
        )
        assert fresh(draft).sequence == 0


class TestCapacity:
    @pytest.fixture
    def event(self, app):
        event = make_event(capacity=2, starts_at=soon())
        self.confirmed = [make_registration(event) for _ in range(2)]
        self.waiting = [
            make_registration(event, status=RegistrationStatus.waiting, name=f"待ち{n}")
            for n in range(1, 4)
        ]
        db.session.commit()
        return event

    def test_raising_promotes_the_waiting_list_in_order(self, app, organizer_client, event):
        data = form_values(event, capacity="4")
        response = organizer_client.post(f"/admin/events/{event.id}/edit", data=data)
        assert response.status_code == 302
        event = fresh(event)
        assert (event.capacity, event.confirmed_count, event.waiting_count) == (4, 4, 1)
        statuses = {
            r.name: (r.status, r.waiting_position)
            for r in db.session.scalars(select(Registration).where(Registration.name.like("待ち%")))
        }
        assert statuses == {
            "待ち1": ("confirmed", None),
            "待ち2": ("confirmed", None),
            "待ち3": ("waiting", 1),
        }
        assert len(outbox_messages("promoted")) == 2

    def test_unlimited_capacity_promotes_everyone(self, app, organizer_client, event):
        organizer_client.post(
            f"/admin/events/{event.id}/edit", data=form_values(event, capacity="")
        )
        event = fresh(event)
        assert (event.capacity, event.confirmed_count, event.waiting_count) == (None, 5, 0)

    def test_lowering_below_the_confirmed_count_is_refused(self, app, organizer_client, event):
        data = form_values(event, capacity="1", title="変更してはいけない")
        response = organizer_client.post(f"/admin/events/{event.id}/edit?lang=en", data=data)
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert "Confirmed seats already taken: 2." in page
        event = fresh(event)
        assert (event.capacity, event.title) != (1, "変更してはいけない")
        assert event.capacity == 2
        assert audit_entries("event.update") == []

    def test_service_keeps_counts_right(self, app, event):
        with app.test_request_context():
            data = event_services.EventData.from_event(event)
            data.capacity = 3
            result = event_services.update_event(event.id, data)
        assert result.promoted == 1
        count = db.session.scalar(
            select(func.count())
            .select_from(Registration)
            .where(Registration.event_id == event.id, Registration.status == "confirmed")
        )
        assert count == fresh(event).confirmed_count == 3


class TestCancel:
    def test_needs_a_reason(self, app, organizer_client):
        event = make_event()
        db.session.commit()
        response = organizer_client.post(f"/admin/events/{event.id}/cancel", data={"reason": " "})
        assert response.status_code == 400
        assert 'id="reason-error"' in response.get_data(as_text=True)
        assert fresh(event).status == EventStatus.published

    def test_tells_confirmed_and_waiting_and_stays_visible(self, app, client, organizer_client):
        event = make_event(capacity=1, title="特許取得 個別相談会")
        confirmed = make_registration(event)
        waiting = make_registration(event, status=RegistrationStatus.waiting)
        make_registration(event, status=RegistrationStatus.cancelled)
        db.session.commit()
        response = organizer_client.post(
            f"/admin/events/{event.id}/cancel", data={"reason": "講師の急病のため中止します。"}
        )
        assert response.status_code == 302
        event = fresh(event)
        assert event.status == EventStatus.cancelled
        assert event.cancellation_reason == "講師の急病のため中止します。"
        messages = outbox_messages("event_cancelled")
        assert sorted(m.registration_id for m in messages) == sorted([confirmed.id, waiting.id])
        for message in messages:
            [ics] = [a for a in message.attachments if "calendar" in a["content_type"]]
            assert "METHOD:CANCEL" in ics["data"]
        page = client.get(f"/events/{event.slug}").get_data(as_text=True)
        assert "中止" in page and "講師の急病のため中止します。" in page
        assert audit_entries("event.cancel")[0].after["recipients"] == 2
        again = organizer_client.post(f"/admin/events/{event.id}/cancel", data={"reason": "x"})
        assert again.status_code == 409
        assert len(outbox_messages("event_cancelled")) == 2


class TestVenuesAndCategories:
    def test_venue_crud_and_delete_refused_while_used(self, app, organizer_client):
        response = organizer_client.post(
            "/admin/venues/new",
            data={
                "name": "　YRP事務所（本部）　",
                "address": "横須賀市光の丘8番3号",
                "map_url": "ｈｔｔｐｓ://maps.example.org/yrp",
            },
        )
        assert response.status_code == 302
        venue = db.session.scalar(select(Venue))
        assert venue.name == "YRP事務所（本部）"  # as typed, only trimmed
        assert venue.map_url == "https://maps.example.org/yrp"
        organizer_client.post(
            f"/admin/venues/{venue.id}/edit", data={"name": "YRP事務所", "access_notes": "バス"}
        )
        assert fresh_venue(venue).access_notes == "バス"
        make_event(venue=fresh_venue(venue))
        db.session.commit()
        organizer_client.post(f"/admin/venues/{venue.id}/delete")
        assert db.session.get(Venue, venue.id) is not None
        assert [e.action for e in db.session.scalars(select(AuditLogEntry))] == [
            "venue.create",
            "venue.update",
        ]

    def test_bad_map_link_is_refused(self, app, organizer_client):
        response = organizer_client.post(
            "/admin/venues/new", data={"name": "会場", "map_url": "javascript:alert(1)"}
        )
        assert response.status_code == 400
        assert db.session.scalar(select(Venue)) is None

    def test_category_crud(self, app, organizer_client):
        data = {"name_ja": "セミナー", "name_en": "Seminars", "slug": "seminar", "sort_order": "1"}
        assert organizer_client.post("/admin/categories/new", data=data).status_code == 302
        category = db.session.scalar(select(Category))
        response = organizer_client.post("/admin/categories/new", data=data)
        assert response.status_code == 400
        assert organizer_client.post(f"/admin/categories/{category.id}/delete").status_code == 302
        assert db.session.scalar(select(Category)) is None


def fresh_venue(venue: Venue) -> Venue:
    db.session.expire_all()
    return db.session.get(Venue, venue.id)


class TestAuditLog:
    def test_admin_reads_it_filtered_by_event(self, app, client, logged_in_client):
        logged_in_client("admin")
        one, other = make_event(title="一つ目"), make_event(title="二つ目")
        db.session.commit()
        client.post(f"/admin/events/{one.id}/unpublish")
        client.post(f"/admin/events/{other.id}/unpublish")
        page = client.get(f"/admin/audit?event={one.id}&lang=en").get_data(as_text=True)
        assert page.count("Event unpublished") == 1
        assert f"(event #{one.id})" in page and f"(event #{other.id})" not in page
        assert "status:</span> published" in page and "status:</span> draft" in page
        everything = client.get("/admin/audit?lang=ja").get_data(as_text=True)
        assert everything.count("非公開に変更") == 2
        assert client.get("/admin/audit?event=9999").status_code == 404
        assert client.get("/admin/audit?event=99999999999999999999").status_code == 400
        assert client.get("/admin/audit?page=99999999999999999999").status_code == 400

    def test_organizers_may_not(self, organizer_client):
        assert organizer_client.get("/admin/audit").status_code == 403
