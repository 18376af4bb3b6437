"""Login abuse: failures count per network address and per email address and network
address, with a growing delay, so nobody elsewhere can lock an account out; the counts
are shared by every worker; passwords are hashed at OWASP's cost and old hashes are
upgraded at the next login."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from cluster_events import create_app
from cluster_events.auth import throttle
from cluster_events.config import DefaultConfig
from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import LoginThrottle, Organizer
from tests.factories import ORGANIZER_PASSWORD, make_organizer

ADDRESS_A = "203.0.113.7"
ADDRESS_B = "198.51.100.20"


def log_in(client, email: str, password: str, address: str, lang: str = "en"):
    return client.post(
        f"/login?lang={lang}",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"Redis is not reachable at {url}")
    return url


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(throttle, "utcnow", clock)
    return clock


class TestGrowingDelay:
    """The database throttle alone (Flask-Limiter is off, as in the rest of the suite)."""

    def test_each_failure_past_the_fifth_doubles_the_wait_for_that_pair_only(self, app, clock):
        client = app.test_client()
        make_organizer(email="admin@example.org", role="admin")
        db.session.commit()
        for _ in range(5):
            assert log_in(client, "admin@example.org", "guess", ADDRESS_A).status_code == 401

        refused = log_in(client, "admin@example.org", ORGANIZER_PASSWORD, ADDRESS_A)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "2"
        page = refused.get_data(as_text=True)
        assert "please wait 2 seconds before you try again" in page
        assert 'class="site-header"' in page and 'id="login-error"' in page
        assert refused.headers.get("Set-Cookie", "").find("remember_token") == -1

        waits = []
        for _ in range(4):
            clock.advance(int(refused.headers["Retry-After"]))
            assert log_in(client, "admin@example.org", "guess", ADDRESS_A).status_code == 401
            refused = log_in(client, "admin@example.org", "guess", ADDRESS_A)
            assert refused.status_code == 429
            waits.append(int(refused.headers["Retry-After"]))
        assert waits == [4, 8, 16, 32]

        # The owner elsewhere is not held up at all.
        assert log_in(client, "ADMIN@example.org", ORGANIZER_PASSWORD, ADDRESS_B).status_code == 302

        # After the wait, the right password works from A too and the count starts over.
        clock.advance(32)
        assert log_in(client, "admin@example.org", ORGANIZER_PASSWORD, ADDRESS_A).status_code == 302
        assert db.session.scalar(select(func.count()).select_from(LoginThrottle)) == 0

    def test_the_wait_is_said_in_japanese_and_minutes(self, app, clock):
        client = app.test_client()
        app.config["LOGIN_FAILURES_BEFORE_DELAY"] = 1
        for _ in range(7):
            clock.advance(3600)
            assert log_in(client, "someone@example.org", "guess", ADDRESS_A).status_code == 401
        refused = log_in(client, "someone@example.org", "guess", ADDRESS_A, lang="ja")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "128"
        assert "3分ほどお待ちのうえ" in refused.get_data(as_text=True)

    def test_an_unknown_address_is_treated_like_a_real_account(self, app, clock):
        client = app.test_client()
        make_organizer(email="real@example.org")
        db.session.commit()
        pages = {}
        for email in ("real@example.org", "nobody@example.org"):
            for _ in range(5):
                assert log_in(client, email, "guess", ADDRESS_A).status_code == 401
            refused = log_in(client, email, "guess", ADDRESS_A)
            assert refused.status_code == 429
            pages[email] = refused.get_data(as_text=True).replace(email, "EMAIL")
        assert pages["real@example.org"] == pages["nobody@example.org"]

    def test_the_wait_is_capped_and_old_failures_are_forgotten(self, app, clock):
        assert throttle.delay_after(4) == 0
        assert throttle.delay_after(5) == 2
        assert throttle.delay_after(1000) == DefaultConfig.LOGIN_MAX_DELAY == 3600
        for _ in range(3):
            throttle.record_failure("x@example.org", ADDRESS_A)
        clock.advance(25 * 3600)
        throttle.record_failure("y@example.org", ADDRESS_A)  # removes the day-old row
        rows = db.session.scalars(select(LoginThrottle)).all()
        assert [row.failures for row in rows] == [1]
        assert "x@example.org" not in rows[0].key and ADDRESS_A not in rows[0].key


def test_every_worker_sees_the_same_delay(app, app_config, clock):
    """Two app instances on one database stand for two gunicorn workers."""
    other_worker = create_app(app_config)
    for _ in range(5):
        assert log_in(app.test_client(), "w@example.org", "guess", ADDRESS_A).status_code == 401
    with other_worker.app_context():
        refused = log_in(other_worker.test_client(), "w@example.org", "guess", ADDRESS_A)
        db.session.remove()
        db.engine.dispose()
    assert refused.status_code == 429


class TestPerAddressLimit:
    """Flask-Limiter's limit per network address, over all accounts, in memory and Redis."""

    @pytest.fixture(params=["memory", "redis"])
    def storage_uri(self, request) -> str:
        return "memory://" if request.param == "memory" else redis_url()

    @pytest.fixture
    def app_config(self, app_config, storage_uri) -> dict[str, Any]:
        return {
            **app_config,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": storage_uri,
            "LOGIN_RATE_LIMIT": "5 per minute",
        }

    @pytest.fixture
    def addresses(self) -> tuple[str, str]:
        """Addresses of their own per test, so counts left in Redis do not leak in."""
        number = int.from_bytes(os.urandom(3))
        return f"10.{number >> 16}.{number >> 8 & 255}.1", f"10.{number >> 16}.{number & 255}.2"

    def test_many_failures_from_a_do_not_stop_the_right_password_from_b(self, app, addresses):
        address_a, address_b = addresses
        client = app.test_client()
        make_organizer(email="admin@example.org", role="admin")
        db.session.commit()
        statuses = [
            log_in(client, "admin@example.org", f"guess {n}", address_a).status_code
            for n in range(12)
        ]
        assert statuses == [401] * 5 + [429] * 7
        assert log_in(client, "admin@example.org", ORGANIZER_PASSWORD, address_a).status_code == 429
        response = log_in(client, "admin@example.org", ORGANIZER_PASSWORD, address_b)
        assert response.status_code == 302
        assert client.get("/admin/").status_code == 200

    def test_the_limit_counts_failures_over_all_accounts(self, app, addresses):
        address_a, _ = addresses
        client = app.test_client()
        for number in range(5):
            assert log_in(client, f"guess{number}@example.org", "x", address_a).status_code == 401
        blocked = log_in(client, "another@example.org", "x", address_a)
        assert blocked.status_code == 429
        assert 'class="site-header"' in blocked.get_data(as_text=True)

    def test_workers_share_the_count_only_through_redis(self, app, app_config, addresses):
        address_a, _ = addresses
        for number in range(5):
            log_in(app.test_client(), f"g{number}@example.org", "x", address_a)
        other_worker = create_app(app_config)
        with other_worker.app_context():
            status = log_in(other_worker.test_client(), "h@example.org", "x", address_a).status_code
            db.session.remove()
            db.engine.dispose()
        shared = app_config["RATELIMIT_STORAGE_URI"] != "memory://"
        assert status == (429 if shared else 401)


class TestPasswordHashing:
    @pytest.fixture
    def app_config(self, app_config) -> dict[str, Any]:
        """The production default cost, not the suite's cheap one."""
        return {k: v for k, v in app_config.items() if k != "PASSWORD_HASH_METHOD"}

    def test_the_default_is_scrypt_at_n_2_17(self, app):
        from cluster_events.auth.services import create_organizer

        assert DefaultConfig.PASSWORD_HASH_METHOD == "scrypt:131072:8:1"
        organizer = create_organizer("new@example.org", "a long enough password")
        assert organizer.password_hash.startswith("scrypt:131072:8:1$")
        assert check_password_hash(organizer.password_hash, "a long enough password")

    def test_an_old_hash_is_upgraded_at_the_next_successful_login(self, app):
        client = app.test_client()
        organizer = make_organizer(email="old@example.org")
        organizer.password_hash = generate_password_hash(ORGANIZER_PASSWORD, "scrypt:32768:8:1")
        db.session.commit()
        old_hash = organizer.password_hash

        assert log_in(client, "old@example.org", "wrong", ADDRESS_A).status_code == 401
        db.session.expire_all()
        assert db.session.get(Organizer, organizer.id).password_hash == old_hash

        assert log_in(client, "old@example.org", ORGANIZER_PASSWORD, ADDRESS_A).status_code == 302
        db.session.expire_all()
        upgraded = db.session.get(Organizer, organizer.id).password_hash
        assert upgraded.startswith("scrypt:131072:8:1$")
        assert check_password_hash(upgraded, ORGANIZER_PASSWORD)

        client.post("/logout")
        assert log_in(client, "old@example.org", ORGANIZER_PASSWORD, ADDRESS_A).status_code == 302
        db.session.expire_all()
        assert db.session.get(Organizer, organizer.id).password_hash == upgraded


def test_an_unreachable_redis_does_not_break_logging_in(app_config):
    config = {
        **app_config,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0",  # nothing listens there
    }
    app = create_app(config)
    with app.app_context():
        make_organizer(email="office@example.org")
        db.session.commit()
        client = app.test_client()
        assert log_in(client, "office@example.org", "wrong", ADDRESS_A).status_code == 401
        response = log_in(client, "office@example.org", ORGANIZER_PASSWORD, ADDRESS_A)
        assert response.status_code == 302
        db.session.remove()
        db.engine.dispose()
