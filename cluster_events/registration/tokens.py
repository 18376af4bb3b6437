"""Personal tokens and check-in codes: making and checking them (the URLs that carry
them are built in registration/notifications.py).

A registration keeps only a random salt and the SHA-256 of its personal token.
The token is an HMAC of the salt under the secret key, so every later email can
carry the same link without the token ever being stored; a database leak alone
does not reveal working links. The check-in code is a second, shorter HMAC that
names the registration id, for the QR code scanned at the door.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from flask import current_app
from sqlalchemy import select

from cluster_events.extensions import db
from cluster_events.models import Registration

_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
# Nine digits at most: any id a 32-bit INTEGER column can hold, and never a number
# PostgreSQL refuses to compare with one.
_CHECKIN_PATTERN = re.compile(r"^([0-9]{1,9})-([A-Z2-7]{10})$")


def new_token_salt() -> str:
    return secrets.token_hex(16)


def _hmac(purpose: str, salt: str) -> bytes:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{purpose}:{salt}".encode(), hashlib.sha256).digest()


def personal_token(registration: Registration) -> str:
    digest = _hmac("registration-link", registration.token_salt)
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def registration_by_token(token: str) -> Registration | None:
    if not _TOKEN_PATTERN.match(token):
        return None
    return db.session.scalar(
        select(Registration).where(Registration.token_hash == hash_token(token))
    )


def checkin_code(registration: Registration) -> str:
    digest = _hmac("check-in", registration.token_salt)
    return f"{registration.id}-{base64.b32encode(digest).decode()[:10]}"


def registration_by_checkin_code(code: str) -> Registration | None:
    found = _CHECKIN_PATTERN.match(code.strip().upper())
    if found is None:
        return None
    registration = db.session.get(Registration, int(found.group(1)))
    if registration is None or not hmac.compare_digest(checkin_code(registration), found.group(0)):
        return None
    return registration
