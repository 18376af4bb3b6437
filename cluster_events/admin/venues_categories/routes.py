"""Console pages for venues: list, add, edit, delete (only when no event uses it)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext as _

from cluster_events.admin import event_services as services
from cluster_events.admin.access import resumable
from cluster_events.admin.blueprint import bp
from cluster_events.admin.forms import ConfirmForm, VenueForm
from cluster_events.admin.record_views import delete_confirmed, is_submission, save_submitted
from cluster_events.extensions import db
from cluster_events.models import Venue


@bp.route("/venues")
def venues() -> str:
    return render_template("admin/venues.html", venues=services.list_venues(), form=ConfirmForm())


@bp.route("/venues/new", methods=["GET", "POST"], defaults={"venue_id": None})
@bp.route("/venues/<int:venue_id>/edit", methods=["GET", "POST"])
@resumable
def venue_edit(venue_id: int | None) -> Any:
    venue = db.get_or_404(Venue, venue_id) if venue_id is not None else None
    form = VenueForm(obj=venue if request.method == "GET" else None)

    def save() -> object:
        values = {name: form[name].data or "" for name in services.VENUE_FIELDS}
        return services.save_venue(venue_id, values)

    saved = save_submitted(form, save, _("The venue was saved."), "admin.venues")
    if saved is not None:
        return saved
    status = 400 if is_submission() else 200
    return render_template("admin/venue_form.html", form=form, venue=venue), status


@bp.route("/venues/<int:venue_id>/delete", methods=["POST"])
def venue_delete(venue_id: int) -> Any:
    return delete_confirmed(
        lambda: services.delete_venue(venue_id), _("The venue was deleted."), "admin.venues"
    )
