"""A growing delay after failed logins, for one typed address from one network address.

After ``LOGIN_FAILURES_BEFORE_DELAY`` failures, each further try from that network
address for that email address must wait 2, 4, 8, ... seconds (at most
``LOGIN_MAX_DELAY``). Only that pair waits: the owner of the account, logging in
from any other address, is never held up, so nobody can lock an account out. (The
per-network-address limit over all accounts is Flask-Limiter's, in auth/routes.py.)

The state is a database row, so every gunicorn worker and host sees the same count
whatever the rate-limit storage is. Its key is an HMAC of the pair made with the
secret key: the table holds neither the address typed nor the network address, and
a failure for an unknown address counts exactly like one for a real account.
Callers pass the email address already normalised (``services.normalise_email``).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import LoginThrottle
from cluster_events.transactions import write_transaction

#: A pair with no failure for this long starts again from zero (and its row is removed).
FAILURE_MEMORY = timedelta(days=1)


def _key(email: str, client_address: str) -> str:
    secret = current_app.config["SECRET_KEY"]
    secret = secret if isinstance(secret, bytes) else str(secret).encode()
    message = f"{email}\n{client_address}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def wait_seconds(email: str, client_address: str, now: datetime | None = None) -> int:
    """Seconds before this pair may try again; 0 when it may try now."""
    row = db.session.get(LoginThrottle, _key(email, client_address), populate_existing=True)
    if row is None or row.blocked_until is None:
        return 0
    remaining = (row.blocked_until - (now or utcnow())).total_seconds()
    return max(0, math.ceil(remaining))


def delay_after(failures: int) -> int:
    """The wait imposed after the ``failures``-th failure in a row (0: none yet)."""
    free = int(current_app.config["LOGIN_FAILURES_BEFORE_DELAY"])
    if failures < free:
        return 0
    exponent = min(failures - free + 1, 30)
    return min(2**exponent, int(current_app.config["LOGIN_MAX_DELAY"]))


def record_failure(email: str, client_address: str, now: datetime | None = None) -> int:
    """Count one failed login for the pair; returns the wait it now imposes."""
    now = now or utcnow()
    key = _key(email, client_address)
    with write_transaction():
        session = db.session
        session.execute(
            delete(LoginThrottle).where(LoginThrottle.last_failure_at < now - FAILURE_MEMORY)
        )
        # Two workers may count the first failure of a pair at once: the row is made if
        # missing, then locked, so neither insert fails and neither count is lost.
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(LoginThrottle)
            .values(key=key, failures=0, last_failure_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        row = session.scalars(
            select(LoginThrottle)
            .where(LoginThrottle.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        row.failures += 1
        row.last_failure_at = now
        delay = delay_after(row.failures)
        if delay:
            row.blocked_until = now + timedelta(seconds=delay)
    return delay


def forget_failures(email: str, client_address: str) -> None:
    """A successful login from this network address clears the pair's count."""
    key = _key(email, client_address)
    if db.session.get(LoginThrottle, key) is None:
        return
    with write_transaction():
        db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
