"""Deleting the personal data of old events: the CLI for cron and the admin's button."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from cluster_events.audit import record_change
from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry, OutboxMessage, Registration, RegistrationStatus
from cluster_events.registration import purge as services
from tests.factories import make_event, make_registration

PERSONAL = ("name", "name_kana", "email", "organization", "job_title", "phone", "remarks")


def _old_event(days_ago: int):
    event = make_event(starts_at=utcnow() - timedelta(days=days_ago), capacity=2)
    seated = make_registration(
        event,
        name="山田 太郎",
        name_kana="やまだ たろう",
        email="taro@example.org",
        organization="三浦電機",
        job_title="部長",
        phone="046-000-0000",
        remarks="駐車場希望",
        organizer_note="常連",
        checked_in_at=event.starts_at,
    )
    make_registration(event, status=RegistrationStatus.cancelled)
    make_registration(event)
    make_registration(event, status=RegistrationStatus.waiting)
    db.session.add(
        OutboxMessage(
            kind="confirmation",
            event_id=event.id,
            registration_id=seated.id,
            recipient="taro@example.org",
            subject="【お申込み受付】山田 太郎 様",
            body_text="山田 太郎 様",
            status="sent",
        )
    )
    record_change(
        "registration.edit",
        "registration",
        seated.id,
        event_id=event.id,
        before={"email": "old@example.org"},
        after={"email": "taro@example.org", "member_type": "general"},
    )
    return event, seated


def test_cli_purges_old_events_and_keeps_counts_and_statuses(app, runner):
    old, seated = _old_event(days_ago=400)
    _, recent_person = _old_event(days_ago=30)
    db.session.commit()
    statuses_before = sorted(r.status for r in old.registrations)

    result = runner.invoke(args=["purge-personal-data", "--older-than", "365"])
    assert result.exit_code == 0, result.output
    assert "4 registrations of 1 events" in result.output

    db.session.expire_all()
    assert (old.confirmed_count, old.waiting_count) == (2, 1)
    assert sorted(r.status for r in old.registrations) == statuses_before
    assert seated.checked_in_at is not None
    assert seated.name == "（削除済み）"
    assert seated.email == seated.email_normalized == f"purged-{seated.id}@invalid"
    for field in ("name_kana", "organization", "job_title", "phone", "remarks", "organizer_note"):
        assert getattr(seated, field) == ""
    assert all(r.personal_data_purged_at is not None for r in old.registrations)
    everything = " ".join(str(getattr(r, field)) for r in old.registrations for field in PERSONAL)
    assert "山田" not in everything and "taro" not in everything

    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.event_id == old.id))
    assert "山田" not in message.subject + message.body_text
    assert "taro" not in message.recipient
    assert message.status == "sent"
    edit = db.session.scalar(
        select(AuditLogEntry).where(
            AuditLogEntry.event_id == old.id, AuditLogEntry.action == "registration.edit"
        )
    )
    assert "taro@example.org" not in str(edit.after)
    assert edit.after["member_type"] == "general"
    purge_entry = db.session.scalar(
        select(AuditLogEntry).where(AuditLogEntry.action == "event.purge_personal_data")
    )
    assert purge_entry.event_id == old.id
    assert purge_entry.after == {
        "purged": 4,
        "answers": 0,
        "emails": 1,
        "audit_entries": 1,
        "older_than_days": 365,
    }

    # The recent event is untouched.
    assert recent_person.name == "山田 太郎"
    assert recent_person.personal_data_purged_at is None

    # Running again finds nothing more to do.
    again = runner.invoke(args=["purge-personal-data", "--older-than", "365"])
    assert "0 registrations of 0 events" in again.output


def test_cli_default_comes_from_the_retention_setting(app, runner):
    app.config["PERSONAL_DATA_RETENTION_DAYS"] = 20
    _, person = _old_event(days_ago=30)
    db.session.commit()
    result = runner.invoke(args=["purge-personal-data"])
    assert "more than 20 days ago" in result.output
    db.session.expire_all()
    assert person.personal_data_purged_at is not None


def test_cli_refuses_a_negative_number(app, runner):
    result = runner.invoke(args=["purge-personal-data", "--older-than", "-1"])
    assert result.exit_code != 0


def test_admin_purges_one_ended_event_after_confirming(app, logged_in_client):
    client = logged_in_client(role="admin")
    event, person = _old_event(days_ago=2)
    db.session.commit()
    url = f"/admin/events/{event.id}/purge"
    page = client.get(url)
    assert page.status_code == 200
    assert 'method="post"' in page.get_data(as_text=True)
    db.session.expire_all()
    assert person.name == "山田 太郎"  # the confirmation page changes nothing

    response = client.post(url, follow_redirects=True)
    assert response.status_code == 200
    db.session.expire_all()
    assert person.name == "（削除済み）"
    assert event.confirmed_count == 2
    listed = client.get(f"/admin/events/{event.id}/attendees").get_data(as_text=True)
    assert "山田" not in listed
    entry = db.session.scalar(
        select(AuditLogEntry).where(AuditLogEntry.action == "event.purge_personal_data")
    )
    assert entry.organizer_id == client.organizer.id


def test_plain_organizer_may_not_purge(app, logged_in_client):
    client = logged_in_client(role="organizer")
    event, person = _old_event(days_ago=400)
    db.session.commit()
    assert client.get(f"/admin/events/{event.id}/purge").status_code == 403
    assert client.post(f"/admin/events/{event.id}/purge").status_code == 403
    db.session.expire_all()
    assert person.personal_data_purged_at is None


def test_event_that_has_not_ended_is_refused(app, logged_in_client):
    client = logged_in_client(role="admin")
    event = make_event()
    person = make_registration(event)
    db.session.commit()
    response = client.post(f"/admin/events/{event.id}/purge", follow_redirects=True)
    assert "flash--error" in response.get_data(as_text=True)
    db.session.expire_all()
    assert person.personal_data_purged_at is None


def test_purged_registration_can_no_longer_be_edited(app, logged_in_client):
    client = logged_in_client()
    event, person = _old_event(days_ago=400)
    db.session.commit()
    services.purge_event(event.id)
    response = client.post(
        f"/admin/events/{event.id}/attendees/{person.id}/note",
        data={"organizer_note": "新しいメモ"},
        follow_redirects=True,
    )
    assert "flash--error" in response.get_data(as_text=True)
    db.session.expire_all()
    assert person.organizer_note == ""
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 4  # nothing deleted
