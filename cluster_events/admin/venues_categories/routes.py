"""Console pages for venues and categories: list, add, edit, and delete (only while no
event uses one). The rules are in events/venues_and_categories.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from cluster_events.admin.access import resumable
from cluster_events.admin.blueprint import bp
from cluster_events.admin.forms import ConfirmForm
from cluster_events.admin.venues_categories.forms import CategoryForm, VenueForm
from cluster_events.errors import ServiceError, flash_error, show_on_form
from cluster_events.events import venues_and_categories
from cluster_events.events.queries import all_categories, list_venues
from cluster_events.extensions import db
from cluster_events.models import Category, Venue


def _is_submission() -> bool:
    """A POST of the form itself, not the login page handing back a resumed form."""
    return request.method == "POST" and "_resume" not in request.form


def _save_submitted(
    form: FlaskForm, save: Callable[[], object], saved_message: str, list_endpoint: str
) -> Response | None:
    """Validate and save; a redirect to the list on success, None when the form must be
    shown again (with the service's complaints attached to their fields)."""
    if not _is_submission() or not form.validate_on_submit():
        return None
    try:
        save()
    except ServiceError as error:
        show_on_form(form, error)
        return None
    flash(saved_message, "success")
    return redirect(url_for(list_endpoint))


def _delete_confirmed(
    delete: Callable[[], object], deleted_message: str, list_endpoint: str
) -> Response:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        delete()
    except ServiceError as error:
        flash_error(error)
    else:
        flash(deleted_message, "success")
    return redirect(url_for(list_endpoint))


@bp.route("/venues")
def venues() -> str:
    return render_template("admin/venues.html", venues=list_venues(), form=ConfirmForm())


@bp.route("/venues/new", methods=["GET", "POST"], defaults={"venue_id": None})
@bp.route("/venues/<int:venue_id>/edit", methods=["GET", "POST"])
@resumable
def venue_edit(venue_id: int | None) -> Any:
    venue = db.get_or_404(Venue, venue_id) if venue_id is not None else None
    form = VenueForm(obj=venue if request.method == "GET" else None)

    def save() -> object:
        values = {name: form[name].data or "" for name in venues_and_categories.VENUE_FIELDS}
        return venues_and_categories.save_venue(venue_id, values)

    saved = _save_submitted(form, save, _("The venue was saved."), "admin.venues")
    if saved is not None:
        return saved
    status = 400 if _is_submission() else 200
    return render_template("admin/venue_form.html", form=form, venue=venue), status


@bp.route("/venues/<int:venue_id>/delete", methods=["POST"])
def venue_delete(venue_id: int) -> Any:
    return _delete_confirmed(
        lambda: venues_and_categories.delete_venue(venue_id),
        _("The venue was deleted."),
        "admin.venues",
    )


@bp.route("/categories")
def categories() -> str:
    return render_template("admin/categories.html", categories=all_categories(), form=ConfirmForm())


@bp.route("/categories/new", methods=["GET", "POST"], defaults={"category_id": None})
@bp.route("/categories/<int:category_id>/edit", methods=["GET", "POST"])
@resumable
def category_edit(category_id: int | None) -> Any:
    category = db.get_or_404(Category, category_id) if category_id is not None else None
    form = CategoryForm(obj=category if request.method == "GET" else None)

    def save() -> object:
        values = {name: form[name].data for name in venues_and_categories.CATEGORY_FIELDS}
        values["sort_order"] = values["sort_order"] or 0
        return venues_and_categories.save_category(category_id, values)

    saved = _save_submitted(form, save, _("The category was saved."), "admin.categories")
    if saved is not None:
        return saved
    status = 400 if _is_submission() else 200
    return render_template("admin/category_form.html", form=form, category=category), status


@bp.route("/categories/<int:category_id>/delete", methods=["POST"])
def category_delete(category_id: int) -> Any:
    return _delete_confirmed(
        lambda: venues_and_categories.delete_category(category_id),
        _("The category was deleted."),
        "admin.categories",
    )
