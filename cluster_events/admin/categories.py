"""Console pages for categories: list, add, edit, delete (only when empty)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cluster_events.admin import event_services as services
from cluster_events.admin.access import resumable
from cluster_events.admin.blueprint import bp
from cluster_events.admin.forms import CategoryForm, ConfirmForm
from cluster_events.extensions import db
from cluster_events.models import Category


@bp.route("/categories")
def categories() -> str:
    return render_template(
        "admin/categories.html", categories=services.list_categories(), form=ConfirmForm()
    )


@bp.route("/categories/new", methods=["GET", "POST"], defaults={"category_id": None})
@bp.route("/categories/<int:category_id>/edit", methods=["GET", "POST"])
@resumable
def category_edit(category_id: int | None) -> Any:
    category = db.get_or_404(Category, category_id) if category_id is not None else None
    form = CategoryForm(obj=category if request.method == "GET" else None)
    status = 200
    if request.method == "POST" and "_resume" not in request.form:
        if form.validate_on_submit():
            values = {name: form[name].data for name in services.CATEGORY_FIELDS}
            values["sort_order"] = values["sort_order"] or 0
            try:
                services.save_category(category_id, values)
            except services.ConsoleError as error:
                if error.http_status == 404:
                    abort(404)
                for field, message in error.errors.items():
                    form[field].errors = [*form[field].errors, message]
            else:
                flash(_("The category was saved."), "success")
                return redirect(url_for("admin.categories"))
        status = 400
    return render_template("admin/category_form.html", form=form, category=category), status


@bp.route("/categories/<int:category_id>/delete", methods=["POST"])
def category_delete(category_id: int) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.delete_category(category_id)
    except services.ConsoleError as error:
        if error.http_status == 404:
            abort(404)
        flash(error.message, "error")
    else:
        flash(_("The category was deleted."), "success")
    return redirect(url_for("admin.categories"))
