"""Console pages for venues: list, add, edit, delete (only when no event uses it)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cluster_events.admin import event_services as services
from cluster_events.admin.access import resumable
from cluster_events.admin.blueprint import bp
from cluster_events.admin.forms import ConfirmForm, VenueForm
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
    status = 200
    if request.method == "POST" and "_resume" not in request.form:
        if form.validate_on_submit():
            values = {name: form[name].data or "" for name in services.VENUE_FIELDS}
            try:
                services.save_venue(venue_id, values)
            except services.ConsoleError as error:
                if error.http_status == 404:
                    abort(404)
                for field, message in error.errors.items():
                    form[field].errors = [*form[field].errors, message]
            else:
                flash(_("The venue was saved."), "success")
                return redirect(url_for("admin.venues"))
        status = 400
    return render_template("admin/venue_form.html", form=form, venue=venue), status


@bp.route("/venues/<int:venue_id>/delete", methods=["POST"])
def venue_delete(venue_id: int) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.delete_venue(venue_id)
    except services.ConsoleError as error:
        if error.http_status == 404:
            abort(404)
        flash(error.message, "error")
    else:
        flash(_("The venue was deleted."), "success")
    return redirect(url_for("admin.venues"))
