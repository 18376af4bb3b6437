"""A second sign-up with a registered address from another browser: a page that says
nothing about the registration, and the personal link emailed again to the address's
owner, at most once an hour per registration."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.models import OutboxMessage, Registration, RegistrationStatus
from cluster_events.registration import services
from tests.concurrency import run_at_once
from tests.conftest import sending_to
from tests.factories import make_event

FORM = {
    "name": "三浦 花子",
    "name_kana": "みうら はなこ",
    "email": "hanako@example.jp",
    "phone": "046-000-1234",
    "member_type": "general",
    "agree_privacy": "y",
}


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {**app_config, **sending_to(smtp_server)}


@pytest.fixture
def event(app):
    event = make_event(capacity=20)
    db.session.commit()
    return event


def sign_up(browser, event, **changes):
    return browser.post(f"/events/{event.slug}/register?lang=ja", data={**FORM, **changes})


def link_emails() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "personal_link"))
    )


def test_one_email_per_hour_and_the_owner_gets_back_in(app, client, event, smtp_server):
    first = sign_up(client, event)
    assert first.status_code == 303
    owner_page = first.headers["Location"]

    pages = []
    for name in ("別人", "もう一度"):
        response = sign_up(app.test_client(), event, name=name, email="HANAKO@example.jp")
        assert response.status_code == 200
        pages.append(response.get_data(as_text=True).replace(name, ""))
    assert len(link_emails()) == 1
    assert pages[0] == pages[1]  # nothing tells whether an email went this time
    assert "メールをご確認ください" in pages[0] and "三浦" not in pages[0]

    stored = link_emails()[0]
    assert stored.recipient == "hanako@example.jp"
    # Rendered when it is sent: the link is written in then, and never stored.
    assert stored.render_when_sent is not None
    assert "/registrations/" not in stored.body_text + stored.body_html + str(stored.attachments)

    # An hour later, another attempt sends the link again.
    registration = db.session.scalar(select(Registration))
    registration.link_resent_at -= timedelta(minutes=61)
    db.session.commit()
    assert sign_up(app.test_client(), event).status_code == 200
    assert len(link_emails()) == 2

    outbox.deliver_due()
    resent = [m for m in smtp_server.messages() if "お申込み内容" in m["Subject"]]
    assert len(resent) == 2
    body = resent[0].get_body(("plain",)).get_content()
    assert "すでにお申込みいただいています" in body or "お申込みはそのまま" in body
    link = next(line for line in body.splitlines() if "/registrations/" in line).strip()
    assert link.endswith(owner_page)
    assert app.test_client().get(owner_page).status_code == 200


def test_the_same_browser_still_sees_its_registration_and_gets_no_email(client, event):
    first = sign_up(client, event)
    second = sign_up(client, event, name="同じ人")
    assert second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert link_emails() == []


def test_two_attempts_at_once_queue_one_email(app, event):
    sign_up(app.test_client(), event)
    registration_id = db.session.scalar(select(Registration.id))
    db.session.commit()
    results = run_at_once(app, 4, lambda: services.resend_personal_link(registration_id))
    assert sorted(results) == [False, False, False, True]
    assert len(link_emails()) == 1


def test_a_cancelled_registration_is_not_sent_again(app, event):
    sign_up(app.test_client(), event)
    registration = db.session.scalar(select(Registration))
    registration.status = RegistrationStatus.cancelled
    db.session.commit()
    assert services.resend_personal_link(registration.id) is False
    assert link_emails() == []
