"""Organizer accounts: creating them, checking passwords, changing roles and passwords.

Every function that changes an account runs in one write transaction and records
the change in the audit log; none of them ever stores or logs a password.

Sessions end with the account's ``session_generation``: it is part of every login
session's and remember cookie's identity (``users.OrganizerUser.get_id``), and the
user loader accepts only the current one. Logout, a new password (one's own or an
admin's reset), disabling and a role change raise it, so every session opened before
stops working at its next request.
"""

from __future__ import annotations

import math
from functools import cache

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from cluster_events.audit import record_change
from cluster_events.auth import throttle
from cluster_events.database import utcnow
from cluster_events.errors import NotFound, ServiceError
from cluster_events.extensions import db
from cluster_events.models import Organizer, OrganizerRole
from cluster_events.text import InvalidEmailAddress, normalise_email_address, normalise_input
from cluster_events.transactions import write_transaction

MIN_PASSWORD_LENGTH = 10


class AccountError(ServiceError):
    """A change to an account that the rules refuse; ``field`` names the form field
    the message belongs to."""

    def __init__(self, message: str, *, field: str | None = None, http_status: int = 400):
        super().__init__(message, {field: message} if field else None, http_status)


class AccountNotFound(NotFound):
    pass


class LoginDelayed(ServiceError):
    """Too many failed logins for this address from this network address: wait."""

    http_status = 429

    def __init__(self, wait_seconds: int) -> None:
        self.wait_seconds = wait_seconds
        super().__init__(
            _(
                "The password was wrong several times for this email address from your "
                "network, so please wait %(wait)s before you try again.",
                wait=_duration(wait_seconds),
            )
        )


def _duration(seconds: int) -> str:
    if seconds < 60:
        return ngettext("%(num)d second", "%(num)d seconds", seconds)
    minutes = math.ceil(seconds / 60)
    return ngettext("%(num)d minute", "%(num)d minutes", minutes)


def _hash_method() -> str:
    return current_app.config["PASSWORD_HASH_METHOD"]


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=_hash_method())


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash was not made with today's method and cost."""
    return password_hash.split("$", 1)[0] != _hash_method()


@cache
def _dummy_hash(method: str) -> str:
    """Compared against when the address is unknown, so a wrong address costs as much
    time as a wrong password and timing tells nothing."""
    return generate_password_hash("not a real password", method=method)


def normalise_email(email: str) -> str:
    """Accounts are found whatever the case of the address: the normalised address
    (``text.normalise_email_address``) in lower case, or the typed text if it is none."""
    try:
        return normalise_email_address(email).lower()
    except InvalidEmailAddress:
        return normalise_input(email).lower()


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            _("The password needs at least %(count)d characters.", count=MIN_PASSWORD_LENGTH),
            field="password",
        )


def organizer_by_email(email: str) -> Organizer | None:
    return db.session.scalar(select(Organizer).where(Organizer.email == normalise_email(email)))


def authenticate(email: str, password: str) -> Organizer | None:
    """The enabled organizer with this address and password, else None (whatever was wrong).

    A hash made with an older method or cost is made again from the password just
    checked, so every account reaches today's cost at its next login."""
    organizer = organizer_by_email(email)
    if organizer is None:
        check_password_hash(_dummy_hash(_hash_method()), password)
        return None
    if not check_password_hash(organizer.password_hash, password) or not organizer.is_enabled:
        return None
    with write_transaction():
        organizer.last_login_at = utcnow()
        if needs_rehash(organizer.password_hash):
            organizer.password_hash = hash_password(password)
    return organizer


def attempt_login(email: str, password: str, client_address: str) -> Organizer | None:
    """``authenticate`` from one network address, with the growing delay of
    ``auth.throttle``: raises LoginDelayed, without looking at the password, while
    this address and network address must wait."""
    email = normalise_email(email)
    wait = throttle.wait_seconds(email, client_address)
    if wait:
        raise LoginDelayed(wait)
    organizer = authenticate(email, password)
    if organizer is None:
        throttle.record_failure(email, client_address)
        return None
    throttle.forget_failures(email, client_address)
    return organizer


def _end_sessions(organizer: Organizer) -> None:
    organizer.session_generation = Organizer.session_generation + 1


def end_sessions(organizer_id: int) -> None:
    """End every session and remember cookie of the account (logout ends them all)."""
    with write_transaction():
        organizer = db.session.get(Organizer, organizer_id)
        if organizer is None:
            raise AccountNotFound(_("This account does not exist."))
        _end_sessions(organizer)


def create_organizer(
    email: str,
    password: str,
    *,
    name: str = "",
    role: str = OrganizerRole.organizer,
    audit: bool = True,
) -> Organizer:
    try:
        email = normalise_email_address(email).lower()
    except InvalidEmailAddress as error:
        raise AccountError(_("Enter a valid email address."), field="email") from error
    if role not in OrganizerRole.__members__:
        raise AccountError(_("Choose a role."), field="role")
    check_password_rules(password)
    with write_transaction():
        if organizer_by_email(email) is not None:
            raise AccountError(
                _("An account with this email address already exists."),
                field="email",
                http_status=409,
            )
        organizer = Organizer(
            email=email,
            name=normalise_input(name),
            role=role,
            password_hash=hash_password(password),
        )
        db.session.add(organizer)
        db.session.flush()
        if audit:
            record_change(
                "organizer.create",
                "organizer",
                organizer.id,
                after={"email": email, "name": organizer.name, "role": role},
            )
    return organizer


def get_organizer(organizer_id: int) -> Organizer | None:
    return db.session.get(Organizer, organizer_id)


def list_organizers() -> list[Organizer]:
    return list(db.session.scalars(select(Organizer).order_by(Organizer.email)))


def _enabled_admin_count() -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Organizer)
        .where(Organizer.role == OrganizerRole.admin, Organizer.is_enabled.is_(True))
    )


def update_organizer(
    organizer_id: int, *, name: str, role: str, is_enabled: bool, acting_id: int | None = None
) -> Organizer:
    """Change name, role and whether the account may log in. The last enabled admin
    cannot be demoted or disabled, and nobody can lock themselves out."""
    with write_transaction():
        organizer = db.session.get(Organizer, organizer_id)
        if organizer is None:
            raise AccountNotFound(_("This account does not exist."))
        if role not in OrganizerRole.__members__:
            raise AccountError(_("Choose a role."), field="role")
        loses_admin = (
            organizer.is_admin
            and organizer.is_enabled
            and (role != OrganizerRole.admin or not is_enabled)
        )
        if loses_admin and acting_id == organizer.id:
            raise AccountError(
                _("You cannot remove your own admin role or disable your own account."),
                field="role",
            )
        if loses_admin and _enabled_admin_count() <= 1:
            raise AccountError(_("At least one enabled admin account must remain."), field="role")
        before = {
            "name": organizer.name,
            "role": organizer.role,
            "is_enabled": organizer.is_enabled,
        }
        organizer.name = normalise_input(name)
        organizer.role = role
        organizer.is_enabled = is_enabled
        after = {"name": organizer.name, "role": organizer.role, "is_enabled": organizer.is_enabled}
        if before != after:
            record_change("organizer.update", "organizer", organizer.id, before=before, after=after)
        if (before["role"], before["is_enabled"]) != (role, is_enabled):
            # Whoever was logged in must log in again, with the new role or not at all.
            _end_sessions(organizer)
    return organizer


def set_password(organizer_id: int, password: str, *, action: str = "organizer.reset_password"):
    """Set a new password (an admin's reset, or the organizer's own change). Every
    session of the account ends; the view keeps the caller's own session
    (``users.renew_login``)."""
    check_password_rules(password)
    with write_transaction():
        organizer = db.session.get(Organizer, organizer_id)
        if organizer is None:
            raise AccountNotFound(_("This account does not exist."))
        organizer.password_hash = hash_password(password)
        _end_sessions(organizer)
        record_change(action, "organizer", organizer.id, after={"email": organizer.email})
    return organizer


def change_own_password(organizer_id: int, current_password: str, new_password: str) -> Organizer:
    organizer = db.session.get(Organizer, organizer_id)
    if organizer is None or not check_password_hash(organizer.password_hash, current_password):
        raise AccountError(_("The current password is not correct."), field="current_password")
    return set_password(organizer_id, new_password, action="organizer.change_password")
