"""The console's first page: what is coming up and what is still a draft."""

from __future__ import annotations

from flask import render_template

from cluster_events.admin import event_services as services
from cluster_events.admin.blueprint import bp


@bp.route("/")
def index() -> str:
    upcoming = services.list_events("upcoming")
    return render_template(
        "admin/index.html",
        upcoming=[event for event in upcoming if not event.is_draft][:10],
        drafts=[event for event in upcoming if event.is_draft],
    )
