"""The save and delete steps shared by the console's simple lists (venues, categories)."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, redirect, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from cluster_events.admin import event_services as services
from cluster_events.admin.forms import ConfirmForm


def is_submission() -> bool:
    """A POST of the form itself, not the login page handing back a resumed form."""
    return request.method == "POST" and "_resume" not in request.form


def save_submitted(
    form: FlaskForm, save: Callable[[], object], saved_message: str, list_endpoint: str
) -> Response | None:
    """Validate and save; a redirect to the list on success, None when the form must be
    shown again (with the service's complaints attached to their fields)."""
    if not is_submission() or not form.validate_on_submit():
        return None
    try:
        save()
    except services.ConsoleError as error:
        if error.http_status == 404:
            abort(404)
        for field, message in error.errors.items():
            form[field].errors = [*form[field].errors, message]
        return None
    flash(saved_message, "success")
    return redirect(url_for(list_endpoint))


def delete_confirmed(
    delete: Callable[[], object], deleted_message: str, list_endpoint: str
) -> Response:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        delete()
    except services.ConsoleError as error:
        if error.http_status == 404:
            abort(404)
        flash(error.message, "error")
    else:
        flash(deleted_message, "success")
    return redirect(url_for(list_endpoint))
