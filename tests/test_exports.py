"""Exports for Excel: CSV in UTF-8 with BOM and in Shift_JIS, .xlsx, roster and .ics."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from urllib.parse import quote

import openpyxl
import pytest
from sqlalchemy import func, select

from cluster_events.extensions import db
from cluster_events.models import AuditLogEntry, RegistrationStatus
from cluster_events.registration import exports
from tests.factories import make_event, make_registration

HOSTILE = {
    "name": '=HYPERLINK("http://evil.example/","click")',
    "organization": "+81-46-000",
    "job_title": "-2+3",
    "remarks": "@SUM(A1:A9)",
    "phone": "\t=1+1",
}


@pytest.fixture
def event(app):
    event = make_event(
        title="ISO 9001・14001 認証取得セミナー",
        starts_at=datetime(2026, 12, 5, 5, 0, tzinfo=UTC),  # 14:00 in Tokyo
        capacity=3,
    )
    make_registration(
        event,
        name="髙橋 𠮷男",  # 髙 is in cp932 (IBM extension), 𠮷 is not
        name_kana="たかはし よしお",
        organization="株式会社①電機",
        remarks="駐車場を利用します😀 — 2台",
        created_at=datetime(2026, 11, 1, 15, 30, tzinfo=UTC),  # 2026-11-02 00:30 JST
        checked_in_at=datetime(2026, 12, 5, 4, 55, tzinfo=UTC),
    )
    make_registration(event, name_kana="あいざわ はなこ", **HOSTILE)
    make_registration(event, name="佐々木 実", name_kana="ささき みのる", status="waiting")
    db.session.commit()
    return event


KEYS = {
    "Name": "name",
    "Name reading (furigana)": "name_kana",
    "Organization": "organization",
    "Job title": "job_title",
    "Phone": "phone",
    "Remarks": "remarks",
    "Status": "status",
    "Waiting list position": "waiting_position",
    "Registered at (JST)": "created_at",
    "Checked in at (JST)": "checked_in_at",
}


def _rows(data: str) -> list[dict[str, str]]:
    """Rows by the English header, whatever the language of the file's own header."""
    header, *rows = csv.reader(io.StringIO(data))
    with_keys = [dict(zip([c.key for c in exports.columns()], r, strict=True)) for r in rows]
    assert len(header) == len(exports.columns())
    return [{label: row[key] for label, key in KEYS.items()} for row in with_keys]


def test_utf8_csv_has_a_bom_and_reads_back_with_the_japanese_intact(event, logged_in_client):
    client = logged_in_client()
    response = client.get(f"/admin/events/{event.id}/attendees.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = _rows(response.data.decode("utf-8-sig"))
    assert [row["Name"] for row in rows] == ["'" + HOSTILE["name"], "佐々木 実", "髙橋 𠮷男"]
    takahashi = rows[-1]
    assert takahashi["Name reading (furigana)"] == "たかはし よしお"
    assert takahashi["Organization"] == "株式会社①電機"
    assert takahashi["Remarks"] == "駐車場を利用します😀 — 2台"
    assert takahashi["Registered at (JST)"] == "2026-11-02 00:30"
    assert takahashi["Checked in at (JST)"] == "2026-12-05 13:55"
    assert takahashi["Status"] in ("Confirmed", "参加確定")
    waiting = rows[1]
    assert waiting["Waiting list position"] == "1"
    assert response.headers["X-Replaced-Characters"] == "0"


def test_formula_cells_are_neutralised_in_csv(event, logged_in_client):
    client = logged_in_client()
    data = client.get(f"/admin/events/{event.id}/attendees.csv").data.decode("utf-8-sig")
    hostile = next(row for row in _rows(data) if row["Job title"].endswith("-2+3"))
    assert hostile["Name"] == "'" + HOSTILE["name"]
    assert hostile["Organization"] == "'+81-46-000"
    assert hostile["Job title"] == "'-2+3"
    assert hostile["Remarks"] == "'@SUM(A1:A9)"
    assert hostile["Phone"] == "'\t=1+1"
    for row in _rows(data):
        for value in row.values():
            assert not value.startswith(exports.FORMULA_PREFIXES)


def test_cp932_csv_replaces_what_shift_jis_lacks_and_counts_it(event, logged_in_client):
    client = logged_in_client()
    response = client.get(
        f"/admin/events/{event.id}/attendees.csv", query_string={"encoding": "cp932"}
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=shift_jis"
    assert not response.data.startswith(b"\xef\xbb\xbf")
    rows = _rows(response.data.decode("cp932"))
    takahashi = rows[-1]
    assert takahashi["Name"] == "髙橋 ?男"
    assert takahashi["Organization"] == "株式会社①電機"
    # The emoji is lost; the em dash becomes the JIS dash without counting as lost.
    assert takahashi["Remarks"] == "駐車場を利用します? ― 2台"
    assert response.headers["X-Replaced-Characters"] == "2"


def test_export_page_states_the_count_before_the_download(event, logged_in_client):
    client = logged_in_client()
    html = client.get(f"/admin/events/{event.id}/export").get_data(as_text=True)
    assert "cp932-warning" in html
    assert "𠮷 😀" in html
    assert "2 characters" in html or "2文字" in html


def test_export_page_says_nothing_is_lost_when_nothing_is(app, logged_in_client):
    client = logged_in_client()
    event = make_event()
    make_registration(event, name="山田 太郎")
    db.session.commit()
    html = client.get(f"/admin/events/{event.id}/export").get_data(as_text=True)
    assert "cp932-warning" not in html


def test_xlsx_reads_back_with_text_cells_and_no_formulas(event, logged_in_client):
    client = logged_in_client()
    response = client.get(f"/admin/events/{event.id}/attendees.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    assert len(header) == len(exports.columns())
    keys = [column.key for column in exports.columns()]
    by_key = [dict(zip(keys, (c.value for c in row), strict=True)) for row in sheet.iter_rows(2)]
    rows = [{label: row[key] for label, key in KEYS.items()} for row in by_key]
    hostile = next(r for r in rows if r["Job title"] == "'-2+3")
    assert hostile["Name"] == "'" + HOSTILE["name"]
    assert hostile["Remarks"] == "'@SUM(A1:A9)"
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f"
    takahashi = rows[-1]
    assert takahashi["Name"] == "髙橋 𠮷男"
    assert takahashi["Registered at (JST)"] == datetime(2026, 11, 2, 0, 30)


def test_filenames_keep_the_japanese_title_rfc5987(event, logged_in_client):
    client = logged_in_client()
    response = client.get(f"/admin/events/{event.id}/attendees.xlsx")
    disposition = response.headers["Content-Disposition"]
    expected = "20261205_ISO 9001・14001 認証取得セミナー_attendees.xlsx"
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote(expected)}" in disposition
    assert response.headers["Cache-Control"] == "no-store"


def test_exports_follow_the_list_filters_and_are_logged(event, logged_in_client):
    client = logged_in_client()
    data = client.get(
        f"/admin/events/{event.id}/attendees.csv", query_string={"status": "waiting"}
    ).data.decode("utf-8-sig")
    assert [row["Name"] for row in _rows(data)] == ["佐々木 実"]
    entry = db.session.scalar(select(AuditLogEntry))
    assert entry.action == "attendees.export"
    assert entry.organizer_id == client.organizer.id
    assert entry.after == {"format": "csv-utf-8", "rows": 1}


def test_unknown_encoding_is_400(event, logged_in_client):
    response = logged_in_client().get(
        f"/admin/events/{event.id}/attendees.csv", query_string={"encoding": "latin-1"}
    )
    assert response.status_code == 400


def test_roster_is_a4_in_kana_order_with_check_and_signature_columns(event, logged_in_client):
    client = logged_in_client()
    html = client.get(f"/admin/events/{event.id}/roster").get_data(as_text=True)
    assert 'href="/static/css/roster.css"' in html
    with client.get("/static/css/roster.css") as style_sheet:
        css = style_sheet.get_data(as_text=True)
    assert "size: A4" in css
    assert "break-inside: avoid" in css
    assert "display: table-header-group" in css
    assert html.index("あいざわ はなこ") < html.index("たかはし よしお")
    assert "佐々木 実" not in html  # only people with a seat
    assert "Signature" in html or "署名" in html
    assert html.count("✓") == 1  # 髙橋 has arrived


def test_organizer_ics_is_the_calendar_module_output(event, logged_in_client):
    client = logged_in_client()
    response = client.get(f"/admin/events/{event.id}/event.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    body = response.data.decode()
    assert f"UID:{event.uid}" in body
    assert "METHOD:PUBLISH" in body


def test_waiting_status_label_and_cp932_report_unit():
    header = ["氏名"]
    report = exports.cp932_report(header, [["𠮷田"], ["𠮷野"], ["田中"]])
    assert report.replaced == 2
    assert report.characters == ("𠮷",)
    assert exports.neutralise("-") == "'-"
    assert exports.neutralise("山田") == "山田"
    assert exports.neutralise(5) == 5
    assert RegistrationStatus.waiting == "waiting"


def test_an_xlsx_that_could_not_be_made_is_not_logged_as_taken(
    event, logged_in_client, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("the file could not be made")

    monkeypatch.setattr(exports, "to_xlsx", broken)
    with pytest.raises(RuntimeError):
        logged_in_client().get(f"/admin/events/{event.id}/attendees.xlsx")
    assert db.session.scalar(select(AuditLogEntry)) is None


@pytest.mark.parametrize("suffix", ["csv", "csv?encoding=cp932", "xlsx"])
def test_a_range_header_still_gets_the_whole_file_and_one_log_entry(
    event, logged_in_client, suffix
):
    """An export is made for its request: no partial content, no 416 after it was logged."""
    client = logged_in_client()
    whole = client.get(f"/admin/events/{event.id}/attendees.{suffix}").data
    before = db.session.scalar(select(func.count(AuditLogEntry.id)))
    for byte_range in ("bytes=999999-", "bytes=0-9"):
        response = client.get(
            f"/admin/events/{event.id}/attendees.{suffix}", headers={"Range": byte_range}
        )
        assert response.status_code == 200, byte_range
        assert "Content-Range" not in response.headers
        # The whole file: the .xlsx carries its creation time, so compare what it holds.
        assert _contents(response.data, suffix) == _contents(whole, suffix)
    assert db.session.scalar(select(func.count(AuditLogEntry.id))) == before + 2


def _contents(data: bytes, suffix: str) -> object:
    if suffix != "xlsx":
        return data
    import io

    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]
