"""The member list as Excel and CSV files: the import (upload, preview, import; admins
only) and the exports (every organizer). The rules are in members/spreadsheets.py."""

from __future__ import annotations

import io
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cluster_events.admin.access import admin_required
from cluster_events.admin.blueprint import bp
from cluster_events.admin.members.forms import (
    ImportConfirmForm,
    MemberImportForm,
    MemberSearchForm,
)
from cluster_events.database import utcnow
from cluster_events.errors import ServiceError, show_on_form
from cluster_events.members import queries, spreadsheets
from cluster_events.members.spreadsheet_reader import MAX_ROWS
from cluster_events.models import Member, MemberImport
from cluster_events.registration import exports
from cluster_events.request_checks import accepts_files
from cluster_events.timefmt import to_tokyo

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _organizer_id() -> int:
    return current_user.organizer.id


def _upload_page(
    form: MemberImportForm, preview: spreadsheets.Preview | None, status: int
) -> tuple[str, int]:
    if preview is not None and preview.problems:
        form.file.errors = [
            *form.file.errors,
            _("Nothing was imported: the file has problems. Please see the list below."),
        ]
    return render_template(
        "admin/members/import.html",
        form=form,
        preview=preview,
        columns=spreadsheets.COLUMNS,
        max_rows=MAX_ROWS,
    ), status


def _preview_page(
    stored: MemberImport, preview: spreadsheets.Preview, status: int = 200, notice: str = ""
) -> tuple[str, int]:
    form = ImportConfirmForm(formdata=None, sha256=stored.sha256, changes=preview.digest)
    return render_template(
        "admin/members/import_preview.html",
        stored=stored,
        preview=preview,
        form=form,
        notice=notice,
    ), status


@bp.route("/members/import", methods=["GET", "POST"])
@accepts_files("file")
@admin_required
def member_import() -> Any:
    form = MemberImportForm()
    if request.method == "GET":
        return _upload_page(form, None, 200)
    if not form.validate_on_submit():
        return _upload_page(form, None, 400)
    upload = form.file.data
    try:
        preview, stored = spreadsheets.upload(upload.filename or "", upload.read(), _organizer_id())
    except ServiceError as error:
        show_on_form(form, error)
        return _upload_page(form, None, error.http_status)
    if stored is None:
        return _upload_page(form, preview, 400)
    return _preview_page(stored, preview)


@bp.route("/members/import/<int:import_id>", methods=["POST"])
@admin_required
def member_import_apply(import_id: int) -> Any:
    form = ImportConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        preview = spreadsheets.import_upload(
            import_id, form.sha256.data, form.changes.data, _organizer_id()
        )
    except spreadsheets.ImportRefused as error:
        return _upload_page(MemberImportForm(formdata=None), _with(error.problems), 409)
    except spreadsheets.StalePreview as error:
        stored = spreadsheets.get_upload(import_id, _organizer_id())
        fresh = spreadsheets.preview_file(stored.content)
        if fresh.problems:
            return _upload_page(MemberImportForm(formdata=None), fresh, 409)
        return _preview_page(stored, fresh, 409, str(error.message))
    counts = preview.summary
    flash(
        _(
            "The member list was imported. Members: %(members_created)d added, "
            "%(members_updated)d changed, %(members_unchanged)d unchanged. Contact people: "
            "%(people_created)d added, %(people_updated)d changed, %(people_unchanged)d "
            "unchanged. Contact people who were not in the file were kept.",
            **counts,
        ),
        "success",
    )
    return redirect(url_for("admin.members"))


def _with(problems: list[spreadsheets.Problem]) -> spreadsheets.Preview:
    return spreadsheets.Preview(problems=problems)


# Exports ----------------------------------------------------------------------------------


def _export_data() -> tuple[list[Member], dict[str, str]]:
    form = MemberSearchForm(request.args)
    if not form.validate():
        message = next(iter(form.errors.values()))[0]
        raise ServiceError(message)
    filters = {
        name: value
        for name, value in (
            ("q", form.q.data or ""),
            ("kind", form.kind.data or ""),
            ("status", form.status.data or ""),
        )
        if value
    }
    members = queries.list_members(
        search=filters.get("q", ""), kind=filters.get("kind"), status=filters.get("status")
    )
    return members, filters


def _filename(extension: str) -> str:
    return f"{to_tokyo(utcnow()):%Y%m%d}_{_('member list')}.{extension}"


def _download(data: bytes, filename: str, content_type: str) -> Response:
    # Not conditional: a Range header would make it a 416 after the download was logged.
    response = send_file(
        io.BytesIO(data), as_attachment=True, download_name=filename, conditional=False
    )
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/members/export")
def member_export() -> str:
    """Choose a format; says before the download what a Shift_JIS file would lose."""
    members, filters = _export_data()
    rows = spreadsheets.export_rows(members)
    return render_template(
        "admin/members/export.html",
        member_count=len(members),
        row_count=len(rows),
        cp932=exports.cp932_report(spreadsheets.headers(), rows),
        filter_args=filters,
    )


@bp.get("/members/export.xlsx")
def member_export_xlsx() -> Response:
    members, filters = _export_data()
    rows = spreadsheets.export_rows(members)
    data = exports.workbook_bytes(
        spreadsheets.headers(), rows, sheet_title=_("Members"), title=_("Member list")
    )
    spreadsheets.record_export("xlsx", len(rows), filters)
    return _download(data, _filename("xlsx"), XLSX_TYPE)


@bp.get("/members/export.csv")
def member_export_csv() -> Response:
    encoding = request.args.get("encoding", "utf-8")
    if encoding not in ("utf-8", "cp932"):
        abort(400)
    members, filters = _export_data()
    rows = spreadsheets.export_rows(members)
    if encoding == "cp932":
        data, report = exports.to_csv_cp932(spreadsheets.headers(), rows)
        replaced = report.replaced
        content_type = "text/csv; charset=shift_jis"
    else:
        data, replaced = exports.to_csv_utf8(spreadsheets.headers(), rows), 0
        content_type = "text/csv; charset=utf-8"
    spreadsheets.record_export(f"csv-{encoding}", len(rows), filters)
    response = _download(data, _filename("csv"), content_type)
    response.headers["X-Replaced-Characters"] = str(replaced)
    return response
