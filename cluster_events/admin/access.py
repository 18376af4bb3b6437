"""Who may use the console: every /admin URL needs a logged-in organizer; some need an admin."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user

from cluster_events.admin.blueprint import bp
from cluster_events.extensions import login_manager


@bp.before_request
def _require_organizer() -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Views that change organizer accounts or read the audit log."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
