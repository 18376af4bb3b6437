"""Console pages for categories: list, add, edit, delete (only when empty)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext as _

from cluster_events.admin import event_services as services
from cluster_events.admin.access import resumable
from cluster_events.admin.blueprint import bp
from cluster_events.admin.forms import CategoryForm, ConfirmForm
from cluster_events.admin.record_views import delete_confirmed, is_submission, save_submitted
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

    def save() -> object:
        values = {name: form[name].data for name in services.CATEGORY_FIELDS}
        values["sort_order"] = values["sort_order"] or 0
        return services.save_category(category_id, values)

    saved = save_submitted(form, save, _("The category was saved."), "admin.categories")
    if saved is not None:
        return saved
    status = 400 if is_submission() else 200
    return render_template("admin/category_form.html", form=form, category=category), status


@bp.route("/categories/<int:category_id>/delete", methods=["POST"])
def category_delete(category_id: int) -> Any:
    return delete_confirmed(
        lambda: services.delete_category(category_id),
        _("The category was deleted."),
        "admin.categories",
    )
