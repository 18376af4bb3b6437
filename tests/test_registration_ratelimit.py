"""A flood of sign-ups from one address gets 429 in the site layout, in memory and in Redis."""

from __future__ import annotations

import uuid

import pytest
import redis
from sqlalchemy import func, select

from cluster_events.extensions import db
from cluster_events.models import Registration
from tests.factories import make_event

REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_available() -> bool:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False
    return True


@pytest.fixture(params=["memory", "redis"])
def storage_uri(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    if not _redis_available():
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def app_config(app_config, storage_uri):
    return {
        **app_config,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": storage_uri,
        "REGISTRATION_RATE_LIMIT": "3 per minute",
    }


def random_address() -> str:
    number = uuid.uuid4().int
    return f"10.{number % 250}.{number // 250 % 250}.{number // 62500 % 250 + 1}"


@pytest.fixture
def address() -> str:
    """A client address of its own per test, so counts left in Redis by earlier runs
    (or other tests) do not leak in; the limiter's key is the address."""
    return random_address()


def sign_up(client, event, number: int, address: str):
    return client.post(
        f"/events/{event.slug}/register?lang=ja",
        data={
            "name": f"参加者{number}",
            "name_kana": "さんかしゃ",
            "email": f"person{number}@example.jp",
            "member_type": "general",
            "agree_privacy": "y",
        },
        environ_base={"REMOTE_ADDR": address},
    )


def test_flood_from_one_address_is_refused_with_429(client, address):
    event = make_event(capacity=50)
    db.session.commit()
    statuses = [sign_up(client, event, n, address).status_code for n in range(3)]
    assert statuses == [303, 303, 303]
    refused = sign_up(client, event, 99, address)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 429
    assert "アクセスが集中しています" in text and 'class="site-header"' in text
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 3
    assert sign_up(client, event, 100, random_address()).status_code == 303


def test_invalid_submissions_count_too(client, address):
    event = make_event(capacity=50)
    db.session.commit()
    for _ in range(3):
        response = client.post(
            f"/events/{event.slug}/register", data={}, environ_base={"REMOTE_ADDR": address}
        )
        assert response.status_code == 400
    assert sign_up(client, event, 1, address).status_code == 429


def test_reading_pages_is_not_limited(client, address):
    event = make_event(capacity=50)
    db.session.commit()
    for _ in range(6):
        response = client.get(f"/events/{event.slug}", environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 200
