"""The secret tokens of a person's private calendar feeds: made on the first view of
My page, renewed on request, checked when a calendar polls.

As with registrations' personal links (registration/tokens.py), a person keeps only a
random salt and the SHA-256 of the token; the token is an HMAC of the salt under the
secret key, so My page can show the same address again while a database leak alone
reveals no working feed. Renewing draws a new salt: the old address then matches no
stored hash and answers 404.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets

from flask import current_app
from sqlalchemy import select

from cluster_events.errors import NotFound
from cluster_events.extensions import db
from cluster_events.models import MemberPerson
from cluster_events.transactions import write_transaction

#: 32 bytes of HMAC-SHA256 in URL-safe base64 without padding: 256 bits.
TOKEN_LENGTH = 43
_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")


class FeedKind(enum.StrEnum):
    #: Every event a member may see, public and members-only.
    members = "members"
    #: The events this person registered for.
    my = "my"


def _columns(kind: FeedKind) -> tuple[str, str]:
    return f"{kind.value}_feed_salt", f"{kind.value}_feed_token_hash"


def _token(kind: FeedKind, salt: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"member-feed-{kind.value}:{salt}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed_hash(token: str) -> str | None:
    """The hash to look a token up by, or None for a value that cannot be a token
    (its length is checked before anything else, so no long value is hashed)."""
    if len(token) != TOKEN_LENGTH or not _TOKEN_PATTERN.match(token):
        return None
    return hash_token(token)


def _set_new_token(person: MemberPerson, kind: FeedKind) -> None:
    salt_column, hash_column = _columns(kind)
    salt = secrets.token_hex(16)
    setattr(person, salt_column, salt)
    setattr(person, hash_column, hash_token(_token(kind, salt)))


def _locked_person(person_id: int) -> MemberPerson:
    person = db.session.scalar(
        select(MemberPerson)
        .where(MemberPerson.id == person_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if person is None:
        raise NotFound()
    return person


def _has_all_tokens(person: MemberPerson) -> bool:
    return all(getattr(person, _columns(kind)[0]) is not None for kind in FeedKind)


def ensure_feed_tokens(person: MemberPerson) -> MemberPerson:
    """Give the person the feeds' tokens they do not have yet, in a short transaction
    of its own (two tabs opened at once make them only once: the row is locked)."""
    if _has_all_tokens(person):
        return person
    with write_transaction():
        locked = _locked_person(person.id)
        for kind in FeedKind:
            if getattr(locked, _columns(kind)[0]) is None:
                _set_new_token(locked, kind)
    return locked


def renew_feed_token(person_id: int, kind: FeedKind) -> MemberPerson:
    """A new token for one feed; the old address stops working at once."""
    with write_transaction():
        person = _locked_person(person_id)
        _set_new_token(person, kind)
    return person


def feed_token(person: MemberPerson, kind: FeedKind) -> str | None:
    salt = getattr(person, _columns(kind)[0])
    return None if salt is None else _token(kind, salt)
