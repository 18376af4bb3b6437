"""Organizer accounts (admins only), and every organizer's own password."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cluster_events.admin.access import admin_required
from cluster_events.admin.accounts.forms import AccountForm, NewAccountForm, PasswordResetForm
from cluster_events.admin.blueprint import bp
from cluster_events.auth import services
from cluster_events.auth.forms import PasswordChangeForm
from cluster_events.auth.users import renew_login
from cluster_events.errors import ServiceError, show_on_form


@bp.route("/accounts")
@admin_required
def accounts() -> str:
    return render_template("admin/accounts/list.html", organizers=services.list_organizers())


@bp.route("/accounts/new", methods=["GET", "POST"])
@admin_required
def account_new() -> Any:
    form = NewAccountForm()
    if request.method == "GET":
        return render_template("admin/accounts/new.html", form=form)
    if form.validate_on_submit():
        try:
            organizer = services.create_organizer(
                form.email.data, form.password.data, name=form.name.data, role=form.role.data
            )
        except ServiceError as error:
            show_on_form(form, error)
        else:
            flash(_("The account %(email)s was created.", email=organizer.email), "success")
            return redirect(url_for("admin.accounts"))
    return render_template("admin/accounts/new.html", form=form), 400


@bp.route("/accounts/<int:organizer_id>", methods=["GET", "POST"])
@admin_required
def account_edit(organizer_id: int) -> Any:
    organizer = services.get_organizer(organizer_id) or abort(404)
    form = AccountForm(obj=organizer if request.method == "GET" else None)
    password_form = PasswordResetForm(formdata=None, prefix="reset")
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                services.update_organizer(
                    organizer_id,
                    name=form.name.data,
                    role=form.role.data,
                    is_enabled=form.is_enabled.data,
                    acting_id=current_user.organizer.id,
                )
            except ServiceError as error:
                show_on_form(form, error)
            else:
                flash(_("The account was saved."), "success")
                return redirect(url_for("admin.accounts"))
        organizer = services.get_organizer(organizer_id)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "admin/accounts/edit.html", organizer=organizer, form=form, password_form=password_form
    ), status


@bp.route("/accounts/<int:organizer_id>/password", methods=["POST"])
@admin_required
def account_password(organizer_id: int) -> Any:
    organizer = services.get_organizer(organizer_id) or abort(404)
    password_form = PasswordResetForm(prefix="reset")
    if password_form.validate_on_submit():
        try:
            organizer = services.set_password(organizer_id, password_form.password.data)
        except ServiceError as error:
            show_on_form(password_form, error)
        else:
            if organizer.id == current_user.organizer.id:
                renew_login(organizer)
            flash(
                _(
                    "A new password was set for %(email)s. The account has been logged out "
                    "everywhere.",
                    email=organizer.email,
                ),
                "success",
            )
            return redirect(url_for("admin.account_edit", organizer_id=organizer_id))
    form = AccountForm(obj=organizer, formdata=None)
    return render_template(
        "admin/accounts/edit.html", organizer=organizer, form=form, password_form=password_form
    ), 400


@bp.route("/password", methods=["GET", "POST"])
def own_password() -> Any:
    """Any organizer changes their own password (the current one is asked again)."""
    form = PasswordChangeForm()
    if request.method == "GET":
        return render_template("admin/own_password.html", form=form)
    if form.validate_on_submit():
        try:
            organizer = services.change_own_password(
                current_user.organizer.id, form.current_password.data, form.password.data
            )
        except ServiceError as error:
            show_on_form(form, error)
        else:
            # This browser stays logged in; every other session of the account has ended.
            renew_login(organizer)
            flash(
                _(
                    "Your password was changed. Any other computer where you were logged "
                    "in has been logged out."
                ),
                "success",
            )
            return redirect(url_for("admin.index"))
    return render_template("admin/own_password.html", form=form), 400
