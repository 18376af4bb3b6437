"""Organizer accounts as Flask-Login users.

A login session and a remember cookie carry ``"<organizer id>:<session generation>"``
(``OrganizerUser.get_id``), and the user loader accepts only the account's current
generation. Raising the generation (``auth.services``) therefore ends every session
and remember cookie made before, in every browser, at its next request; both are
signed with the secret key, so nobody can write a newer generation into one.
"""

from __future__ import annotations

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, login_user

from cluster_events.extensions import db, login_manager
from cluster_events.models import Organizer

login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please log in to use the office console.")
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"


class OrganizerUser(UserMixin):
    """The logged-in organizer; wraps the model so that Flask-Login's
    ``is_active`` does not clash with the model's columns."""

    def __init__(self, organizer: Organizer) -> None:
        self.organizer = organizer

    def get_id(self) -> str:
        return f"{self.organizer.id}:{self.organizer.session_generation}"

    @property
    def is_active(self) -> bool:
        return self.organizer.is_enabled

    @property
    def is_admin(self) -> bool:
        return self.organizer.is_admin


@login_manager.user_loader
def load_organizer(user_id: str) -> OrganizerUser | None:
    organizer_id, _, generation = user_id.partition(":")
    if not (organizer_id.isdecimal() and generation.isdecimal()):
        return None  # also a session from before generations existed: log in again
    organizer = db.session.get(Organizer, int(organizer_id))
    if organizer is None or not organizer.is_enabled:
        return None
    if organizer.session_generation != int(generation):
        return None
    return OrganizerUser(organizer)


def renew_login(organizer: Organizer) -> None:
    """Keep the current browser logged in after its own account's generation rose
    (its own password change), while every other session stays ended. A remember
    cookie it came with is written again with the new generation."""
    cookie_name = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    db.session.refresh(organizer)
    login_user(OrganizerUser(organizer), remember=cookie_name in request.cookies)
