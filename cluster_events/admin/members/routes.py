"""Console pages for the member list: organizers read it, admins change it. The rules
are in members/services.py, the reads in members/queries.py."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from cluster_events.admin.access import admin_required, resumable
from cluster_events.admin.blueprint import bp
from cluster_events.admin.forms import ConfirmForm
from cluster_events.admin.members.forms import (
    STATUS_LABELS,
    EditMemberForm,
    MemberSearchForm,
    NewMemberForm,
    PersonForm,
)
from cluster_events.errors import NotFound, ServiceError, flash_error, show_on_form
from cluster_events.members import attendance, queries, services
from cluster_events.members.services import PERSON_FIELDS, PersonData
from cluster_events.registration.labels import STATUS_LABELS as REGISTRATION_STATUS_LABELS

FIRST_PERSON_PREFIX = "people-0-"


def _person_data(form: PersonForm) -> PersonData:
    return PersonData(**{name: form[name].data or "" for name in PERSON_FIELDS})


def _member_values(form: NewMemberForm | EditMemberForm) -> dict[str, Any]:
    return {
        "number": form.number.data or "",
        "name": form.name.data or "",
        "name_kana": form.name_kana.data or "",
        "joined_on": form.joined_on.data,
        "note": form.note.data or "",
    }


def _show_new_member_error(
    error: ServiceError, form: NewMemberForm, person_form: PersonForm
) -> None:
    """The service names the first person's fields ``people-0-…``; they go beside the
    person's fields, the rest beside the member's."""
    if isinstance(error, NotFound):
        raise error
    messages = dict(error.field_errors or {})
    person = {
        key.removeprefix(FIRST_PERSON_PREFIX): messages.pop(key)
        for key in list(messages)
        if key.startswith(FIRST_PERSON_PREFIX)
    }
    if person:
        show_on_form(person_form, ServiceError(error.message, field_errors=person))
    if messages or not person:
        show_on_form(form, ServiceError(error.message, field_errors=messages or None))


def _confirmed_change(change: Any, member_id: int, done_message: str) -> Response:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        change()
    except ServiceError as error:
        flash_error(error)
    else:
        flash(done_message, "success")
    return redirect(url_for("admin.member_detail", member_id=member_id))


def _is_submission() -> bool:
    """A POST of the form itself, not the login page handing back a resumed form
    (see admin.access.resumable): a resumed form is shown again, never saved."""
    return request.method == "POST" and "_resume" not in request.form


@bp.route("/members")
def members() -> Any:
    form = MemberSearchForm(request.args)
    valid = form.validate()
    members = queries.list_members(
        search=form.q.data or "" if valid else "",
        kind=form.kind.data or None if valid else None,
        status=form.status.data or None if valid else None,
    )
    year, attended = attendance.attended_this_year()
    return render_template(
        "admin/members/list.html",
        members=members,
        form=form,
        status_labels=STATUS_LABELS,
        year=year,
        attended=attended,
    ), (200 if valid else 400)


@bp.route("/members/<int:member_id>")
def member_detail(member_id: int) -> str:
    member = queries.get_member(member_id)
    return render_template(
        "admin/members/detail.html",
        member=member,
        history=attendance.member_attendance(member),
        attendance_labels=attendance.ATTENDANCE_LABELS,
        registration_status_labels=REGISTRATION_STATUS_LABELS,
        form=ConfirmForm(),
        status_labels=STATUS_LABELS,
    )


@bp.route("/members/new", methods=["GET", "POST"])
@resumable
@admin_required
def member_new() -> Any:
    form = NewMemberForm()
    person_form = PersonForm(prefix=FIRST_PERSON_PREFIX, meta={"csrf": False})
    if _is_submission():
        member_ok = form.validate_on_submit()
        if person_form.validate() and member_ok:
            try:
                member = services.create_member(
                    kind=form.kind.data,
                    people=[_person_data(person_form)],
                    **_member_values(form),
                )
            except ServiceError as error:
                _show_new_member_error(error, form, person_form)
                status = error.http_status
            else:
                flash(_("The member was added."), "success")
                return redirect(url_for("admin.member_detail", member_id=member.id))
        else:
            status = 400
    else:
        status = 200
    return render_template(
        "admin/members/member_form.html", form=form, person_form=person_form, member=None
    ), status


@bp.route("/members/<int:member_id>/edit", methods=["GET", "POST"])
@resumable
@admin_required
def member_edit(member_id: int) -> Any:
    member = queries.get_member(member_id)
    form = EditMemberForm(obj=member if request.method == "GET" else None)
    status = 200
    if _is_submission():
        status = 400
        if form.validate_on_submit():
            try:
                services.update_member(member_id, status=form.status.data, **_member_values(form))
            except ServiceError as error:
                show_on_form(form, error)
                status = error.http_status
            else:
                flash(_("The member was saved."), "success")
                return redirect(url_for("admin.member_detail", member_id=member_id))
    return render_template(
        "admin/members/member_form.html", form=form, person_form=None, member=member
    ), status


@bp.route("/members/<int:member_id>/withdraw", methods=["POST"])
@admin_required
def member_withdraw(member_id: int) -> Response:
    return _confirmed_change(
        lambda: services.withdraw_member(member_id), member_id, _("The member was withdrawn.")
    )


@bp.route("/members/<int:member_id>/reactivate", methods=["POST"])
@admin_required
def member_reactivate(member_id: int) -> Response:
    return _confirmed_change(
        lambda: services.reactivate_member(member_id), member_id, _("The member is active again.")
    )


def _person_of(member_id: int, person_id: int) -> Any:
    person = queries.get_person(person_id)
    if person.member_id != member_id:
        abort(404)
    return person


@bp.route(
    "/members/<int:member_id>/people/new", methods=["GET", "POST"], defaults={"person_id": None}
)
@bp.route("/members/<int:member_id>/people/<int:person_id>/edit", methods=["GET", "POST"])
@resumable
@admin_required
def member_person_edit(member_id: int, person_id: int | None) -> Any:
    member = queries.get_member(member_id)
    person = _person_of(member_id, person_id) if person_id is not None else None
    form = PersonForm(obj=person if request.method == "GET" else None)
    status = 200
    if _is_submission():
        status = 400
        if form.validate_on_submit():
            try:
                if person is None:
                    services.add_person(member_id, _person_data(form))
                else:
                    services.update_person(person.id, _person_data(form))
            except ServiceError as error:
                show_on_form(form, error)
                status = error.http_status
            else:
                flash(_("The contact person was saved."), "success")
                return redirect(url_for("admin.member_detail", member_id=member_id))
    return render_template(
        "admin/members/person_form.html", form=form, member=member, person=person
    ), status


@bp.route("/members/<int:member_id>/people/<int:person_id>/remove", methods=["POST"])
@admin_required
def member_person_remove(member_id: int, person_id: int) -> Response:
    _person_of(member_id, person_id)
    return _confirmed_change(
        lambda: services.remove_person(person_id), member_id, _("The contact person was removed.")
    )
