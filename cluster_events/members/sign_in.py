"""Sign-in by emailed link: asking for a link, and using it once.

A link's token is an HMAC under the secret key of a random 256-bit salt. The database
keeps only the token's SHA-256 (``member_login_token``); the email's outbox row keeps
the salt (as its ``dedupe_key``) and a placeholder where the link goes, which mail
fills in when it sends the message. So neither the table nor the outbox holds a
working link, and a message that has to be sent again still carries it.

Asking answers the same whatever the address: an unknown address, a person who is not
active and an address past its limit get no email and leave nothing stored.

Other unused links of the person stay valid when one is used, until they expire:
emails can arrive late and out of order, and a member who asked twice (once on the
computer, once on the phone) should be able to use either. Each link works once and
for MEMBER_LOGIN_LINK_MINUTES only, so little is left open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from limits import parse_many
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from cluster_events.database import utcnow
from cluster_events.errors import Conflict, NotFound, ServiceError
from cluster_events.extensions import db
from cluster_events.mail.messages import register_send_time_value
from cluster_events.members.notifications import SIGN_IN_KIND, queue_sign_in_link
from cluster_events.models import (
    Member,
    MemberLoginToken,
    MemberPerson,
    MemberStatus,
    OutboxMessage,
)
from cluster_events.registration.services import checked_email
from cluster_events.transactions import write_transaction
from cluster_events.urls import absolute_url

#: What a token looks like (43 characters of URL-safe base64); anything else is refused
#: before the database is asked.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
#: Stands for the sign-in link in the stored email; filled in at send time.
SIGN_IN_URL_MARK = "__MEMBER_SIGN_IN_URL__"
#: The outbox row's dedupe_key: this prefix and the link's salt.
DEDUPE_PREFIX = "member-sign-in:"


class SignInLinkNotFound(NotFound):
    """Unknown, forged or mangled: nothing tells which."""

    default_message = _l(
        "This sign-in link is not valid. Perhaps only part of it was copied: please open "
        "it from the email again, or ask for a new sign-in link."
    )


class SignInLinkExpired(Conflict):
    default_message = _l("This sign-in link has expired. Please ask for a new sign-in link.")


class SignInLinkUsed(Conflict):
    default_message = _l(
        "This sign-in link has already been used: each link works only once. If you are "
        "not signed in, please ask for a new sign-in link."
    )


class MembershipNotActive(ServiceError):
    """The person was removed, or their member withdrew or lapsed, after the link was sent."""

    http_status = 403
    default_message = _l(
        "This sign-in link can no longer be used, because the address no longer belongs "
        "to an active member. Please contact the office."
    )


# --- tokens -------------------------------------------------------------------------------


def new_salt() -> str:
    return secrets.token_urlsafe(32)


def link_token(salt: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"member-sign-in:{salt}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in_url(token: str) -> str:
    return absolute_url("members.login_link", token=token)


def _sign_in_url_of(message: OutboxMessage) -> str | None:
    key = message.dedupe_key or ""
    if message.kind != SIGN_IN_KIND or not key.startswith(DEDUPE_PREFIX):
        return None
    return sign_in_url(link_token(key[len(DEDUPE_PREFIX) :]))


def init_app(app: Flask) -> None:
    register_send_time_value(app, SIGN_IN_URL_MARK, _sign_in_url_of)


# --- asking for a link --------------------------------------------------------------------


def link_minutes() -> int:
    return int(current_app.config["MEMBER_LOGIN_LINK_MINUTES"])


def request_sign_in_link(email: str, locale: str) -> None:
    """Email a sign-in link to ``email`` if it is the address of a person of an active
    member and the address is within its limits; otherwise do nothing. The caller
    cannot tell which happened. An address that is not an address at all is refused
    (a ServiceError for the ``email`` field)."""
    address = checked_email(email).lower()
    if locale not in current_app.config["LANGUAGES"]:
        locale = current_app.config["BABEL_DEFAULT_LOCALE"]
    with write_transaction():
        now = utcnow()
        person = _active_person(address, lock=True)
        # The limit is counted for an unknown address too, so both take the same steps.
        within_limits = _within_address_limits(person.id if person else 0, now)
        if person is None or not within_limits:
            return
        salt, _token, login_token = _new_link(person, now)
        queue_sign_in_link(
            person,
            locale=locale,
            link=SIGN_IN_URL_MARK,
            expires_at=login_token.expires_at,
            minutes=link_minutes(),
            dedupe_key=DEDUPE_PREFIX + salt,
        )


def sign_in_link_for(email: str) -> str:
    """A sign-in URL for the person with this address, for `member-login-link`: no email,
    no limit. Refuses an address that no person of an active member has."""
    address = checked_email(email).lower()
    with write_transaction():
        person = _active_person(address, lock=True)
        if person is None:
            raise NotFound(
                _l("No contact person of an active member has the address %(email)s.", email=email)
            )
        _salt, token, _login_token = _new_link(person, utcnow())
    return sign_in_url(token)


def _active_person(address: str, *, lock: bool = False) -> MemberPerson | None:
    query = (
        select(MemberPerson)
        .join(Member, MemberPerson.member_id == Member.id)
        .where(
            MemberPerson.email_normalized == address,
            MemberPerson.is_active.is_(True),
            MemberPerson.removed_at.is_(None),
            Member.status == MemberStatus.active,
        )
    )
    if lock:
        # Two requests for one address at the same moment count its links one after the other.
        query = query.with_for_update(of=MemberPerson)
    return db.session.scalars(query).first()


def _within_address_limits(person_id: int, now: datetime) -> bool:
    for limit in parse_many(current_app.config["MEMBER_LOGIN_LINKS_PER_ADDRESS"]):
        since = now - timedelta(seconds=limit.get_expiry())
        recent = db.session.scalar(
            select(func.count())
            .select_from(MemberLoginToken)
            .where(MemberLoginToken.person_id == person_id, MemberLoginToken.created_at > since)
        )
        if (recent or 0) >= limit.amount:
            return False
    return True


def _new_link(person: MemberPerson, now: datetime) -> tuple[str, str, MemberLoginToken]:
    salt = new_salt()
    token = link_token(salt)
    login_token = MemberLoginToken(
        person_id=person.id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + timedelta(minutes=link_minutes()),
    )
    db.session.add(login_token)
    db.session.flush()
    return salt, token, login_token


# --- using a link -------------------------------------------------------------------------


def check_link(token: object) -> MemberLoginToken:
    """The link's row if it can be used now (for the page with the sign-in button, which
    must not use it up: mail scanners open links). Raises the refusal otherwise."""
    return _usable_link(token, utcnow())


def redeem(token: object) -> MemberPerson:
    """Use the link: it is marked used (once: of two requests at the same moment, exactly
    one gets the person, the other SignInLinkUsed) and its person returned."""
    with write_transaction():
        now = utcnow()
        login_token = _usable_link(token, now)
        # The conditional update is what makes the link single-use on PostgreSQL, where
        # two transactions can both read it unused: the second waits for the first's
        # row lock, then finds used_at set and changes nothing.
        result = db.session.execute(
            update(MemberLoginToken)
            .where(
                MemberLoginToken.id == login_token.id,
                MemberLoginToken.used_at.is_(None),
                MemberLoginToken.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise SignInLinkUsed()
        person = login_token.person
    return person


def _usable_link(token: object, now: datetime) -> MemberLoginToken:
    if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
        raise SignInLinkNotFound()
    login_token = db.session.scalars(
        select(MemberLoginToken)
        .options(joinedload(MemberLoginToken.person).joinedload(MemberPerson.member))
        .where(MemberLoginToken.token_hash == hash_token(token))
    ).one_or_none()
    if login_token is None:
        raise SignInLinkNotFound()
    if login_token.used_at is not None:
        raise SignInLinkUsed()
    if login_token.expires_at <= now:
        raise SignInLinkExpired()
    person = login_token.person
    if not person.is_active or person.removed_at is not None or not person.member.is_active:
        raise MembershipNotActive()
    return login_token
