"""Organizer accounts as Flask-Login users."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin

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
        return str(self.organizer.id)

    @property
    def is_active(self) -> bool:
        return self.organizer.is_enabled

    @property
    def is_admin(self) -> bool:
        return self.organizer.is_admin


@login_manager.user_loader
def load_organizer(user_id: str) -> OrganizerUser | None:
    if not user_id.isdigit():
        return None
    organizer = db.session.get(Organizer, int(user_id))
    if organizer is None or not organizer.is_enabled:
        return None
    return OrganizerUser(organizer)
