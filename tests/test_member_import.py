"""The member list's import and export (issue 10, point 2) over HTTP, on SQLite and
PostgreSQL: .xlsx made by openpyxl here, CSV in UTF-8 with and without a BOM and in
Shift_JIS; every bad file named by row and column with nothing stored; the import all or
nothing and idempotent; the exports neutralised and importable again unchanged."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import date, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.members import services
from cluster_events.members.services import PersonData
from cluster_events.models import (
    AuditLogEntry,
    Member,
    MemberImport,
    MemberPerson,
    MemberStatus,
)
from tests.factories import make_organizer

HEADER = [
    "会員番号",
    "種別",
    "会員名",
    "ふりがな",
    "状態",
    "入会日",
    "担当者名",
    "担当者ふりがな",
    "メールアドレス",
    "電話番号",
    "部署",
    "役職",
    "メモ",
]
ROWS = [
    ["C-001", "法人", "株式会社さくら精機", "サクラセイキ", "有効", "2020-04-01",
     "山田太郎", "やまだたろう", "yamada@example.org", "03-1234-5678", "総務部", "部長",
     "古くからの会員"],
    ["C-001", "", "", "", "", "",
     "鈴木花子", "スズキハナコ", "suzuki@example.org", "", "営業部", "", ""],
    ["I-001", "個人", "佐藤一郎", "さとういちろう", "有効", "2021/6/15",
     "佐藤一郎", "さとういちろう", "sato@example.jp", "090-1111-2222", "", "", ""],
]  # fmt: skip


# --- files ---------------------------------------------------------------------------------


def xlsx(rows, header=HEADER) -> bytes:
    """A workbook as Excel saves one; text starting with "=" is text (as typed '=...)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    for cells in sheet.iter_rows():
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_text(rows, header=HEADER) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def upload(client, content: bytes, filename: str = "members.xlsx", **extra):
    return client.post(
        "/admin/members/import",
        data={"file": (io.BytesIO(content), filename), **extra},
        content_type="multipart/form-data",
    )


def hidden(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert match, f"no {name} in the page"
    return re.search(r'value="([^"]*)"', match.group(0)).group(1)


def import_file(client, content: bytes, filename: str = "members.xlsx"):
    """Upload, then press the preview's import button; the answer of the import."""
    preview = upload(client, content, filename)
    assert preview.status_code == 200, problems_of(preview.get_data(as_text=True))
    html = preview.get_data(as_text=True)
    action = re.search(r'action="(/admin/members/import/\d+)"', html).group(1)
    return client.post(
        action, data={"sha256": hidden(html, "sha256"), "changes": hidden(html, "changes")}
    )


def problems_of(html: str) -> list[tuple[str, str, str]]:
    """(row, column, message) of each line of the page's problem table."""
    table = re.search(r'<table class="data[^"]*" id="problems">(.*?)</table>', html, re.S)
    if not table:
        return []
    found = []
    for row in re.findall(
        r"<tr>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>", table[1], re.S
    ):
        found.append(tuple(re.sub(r"<[^>]+>", "", cell).strip() for cell in row))
    return found


def counts() -> tuple[int, int, int]:
    db.session.expire_all()
    return (
        db.session.scalar(select(func.count(Member.id))),
        db.session.scalar(select(func.count(MemberPerson.id))),
        db.session.scalar(select(func.count(AuditLogEntry.id))),
    )


def stored_uploads() -> int:
    return db.session.scalar(select(func.count(MemberImport.id)))


def member(number: str) -> Member:
    db.session.expire_all()
    return db.session.scalars(select(Member).where(Member.number == number)).one()


@pytest.fixture
def admin(logged_in_client):
    return logged_in_client(role="admin")


# --- reading each kind of file -------------------------------------------------------------


def test_an_xlsx_made_by_openpyxl_is_imported(app, admin):
    content = xlsx(ROWS)
    response = import_file(admin, content)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/members")
    page = admin.get("/admin/members").get_data(as_text=True)
    assert "会員：追加2件、変更0件、変更なし0件" in page
    assert "担当者：追加3人" in page
    sakura = member("C-001")
    assert (sakura.kind, sakura.name, sakura.name_kana) == (
        "corporate",
        "株式会社さくら精機",
        "さくらせいき",
    )
    assert sakura.joined_on == date(2020, 4, 1) and sakura.note == "古くからの会員"
    people = sorted((p.name, p.name_kana, p.email, p.department) for p in sakura.people)
    assert people == [
        ("山田太郎", "やまだたろう", "yamada@example.org", "総務部"),
        ("鈴木花子", "すずきはなこ", "suzuki@example.org", "営業部"),
    ]
    sato = member("I-001")
    assert (sato.kind, sato.joined_on, sato.people[0].phone) == (
        "individual",
        date(2021, 6, 15),
        "090-1111-2222",
    )
    actions = db.session.scalars(select(AuditLogEntry.action).order_by(AuditLogEntry.id)).all()
    assert actions.count("member.create") == 2 and actions.count("member_person.add") == 3
    entry = db.session.scalars(
        select(AuditLogEntry).where(AuditLogEntry.action == "member.import")
    ).one()
    assert entry.organizer_id == admin.organizer.id
    assert entry.after["sha256"] == hashlib.sha256(content).hexdigest()
    assert (entry.after["members_created"], entry.after["people_created"]) == (2, 3)
    stored = db.session.scalars(select(MemberImport)).one()
    assert stored.applied_at is not None and stored.content == b""


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8", b"\xef\xbb\xbf"), ("utf-8", b""), ("cp932", b"")],
    ids=["utf-8-bom", "utf-8", "shift_jis"],
)
def test_csv_in_each_encoding_is_imported(app, admin, encoding, prefix):
    content = prefix + csv_text(ROWS).encode(encoding)
    assert import_file(admin, content, "members.csv").status_code == 302
    assert member("C-001").name == "株式会社さくら精機"
    assert sorted(p.name for p in member("C-001").people) == ["山田太郎", "鈴木花子"]


def test_english_column_names_and_words_are_read(app, admin):
    header = [
        "number",
        "kind",
        "name",
        "name_kana",
        "status",
        "person_name",
        "person_kana",
        "email",
    ]
    rows = [["C-9", "corporate", "Acme", "あくめ", "lapsed", "Ann", "あん", "ann@example.org"]]
    assert import_file(admin, xlsx(rows, header)).status_code == 302
    acme = member("C-9")
    assert (acme.kind, acme.status, acme.people[0].email) == (
        "corporate",
        "lapsed",
        "ann@example.org",
    )


def test_rows_are_numbered_as_excel_shows_them_and_cells_of_any_type_are_read(app, admin):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append([])  # row 1 blank: the column names are on row 2
    sheet.append(HEADER)
    sheet.append([1001, "法人", "数字の会", "すうじのかい", "有効", date(2019, 4, 1),
                  "一", "いち", "one@example.org", "", "", "", ""])  # fmt: skip
    sheet.append([])  # row 4 blank
    sheet.append([1002.0, "個人", "二郎", "じろう", "", 43922,
                  "二郎", "じろう", "two@@example.org", "", "", "", ""])  # fmt: skip
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = upload(admin, buffer.getvalue())
    assert response.status_code == 400
    assert problems_of(response.get_data(as_text=True)) == [
        (
            "5",
            "メールアドレス (I列)",
            "メールアドレスを正しくご入力ください（例：taro@example.jp）。",
        )
    ]
    sheet["I5"] = "two@example.org"
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert import_file(admin, buffer.getvalue()).status_code == 302
    assert member("1001").joined_on == date(2019, 4, 1)
    assert (member("1002").kind, member("1002").joined_on) == ("individual", date(2020, 4, 1))


def test_a_quoted_line_break_in_a_csv_stays_in_its_row(app, admin):
    rows = _bad({0: {NOTE: "一行目\n二行目"}, 2: {EMAIL: "bad"}})
    response = upload(admin, csv_text(rows).encode("utf-8-sig"), "members.csv")
    (problem,) = problems_of(response.get_data(as_text=True))
    assert problem[:2] == ("4", "メールアドレス (I列)")


def test_the_preview_shows_the_changes_and_stores_nothing_but_the_upload(app, admin):
    before = counts()
    response = upload(admin, xlsx(ROWS))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "取り込む前に変更内容をご確認ください" in html
    assert "ファイルにない担当者は、そのまま残ります" in html
    assert "株式会社さくら精機" in html and "担当者を追加：鈴木花子" in html
    assert counts() == before
    assert stored_uploads() == 1


# --- bad files -----------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (PNG, "members.xlsx", "表として読み込めませんでした"),
        (PNG, "members.csv", "表として読み込めませんでした"),
        (b"PK\x03\x04not really a zip", "members.xlsx", "表として読み込めませんでした"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "members.xls", "古い形式"),
        (b"", "members.csv", "ファイルが空です"),
        (b"\xef\xbb\xbf\r\n\r\n", "members.csv", "ファイルが空です"),
        (",".join(HEADER).encode(), "members.csv", "会員の行がありません"),
        (b"\xff\xfe\x00\x00binary", "members.csv", "表として読み込めませんでした"),
    ],
    ids=[
        "png-as-xlsx",
        "png-as-csv",
        "broken-zip",
        "xls",
        "empty",
        "blank",
        "header-only",
        "binary",
    ],
)
def test_a_file_that_is_not_a_member_list_is_refused_at_the_field(
    app, admin, content, filename, message
):
    before = counts()
    response = upload(admin, content, filename)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    error = re.search(r'<p class="field-error" id="file-error">(.*?)</p>', html, re.S)
    assert error and message in error.group(1)
    assert 'aria-describedby="file-hint file-error"' in html
    assert counts() == before and stored_uploads() == 0


def test_too_many_rows(app, admin):
    rows = [
        [f"C-{n}", "法人", "会社", "かいしゃ", "", "", "人", "ひと", f"p{n}@example.org"] + [""] * 4
        for n in range(2001)
    ]
    response = upload(admin, csv_text(rows).encode(), "members.csv")
    assert response.status_code == 400
    assert "2000行を超えています" in response.get_data(as_text=True)
    assert counts()[0] == 0


def test_wrong_and_missing_columns_are_named(app, admin):
    header = [
        "会員番号",
        "種別",
        "会員名",
        "ふりがな",
        "担当者名",
        "メールアドレス",
        "FAX",
        "会員名",
        "",
    ]
    rows = [["C-1", "法人", "会社", "かいしゃ", "人", "p@example.org", "03", "会社", "x"]]
    response = upload(admin, xlsx(rows, header))
    assert response.status_code == 400
    found = problems_of(response.get_data(as_text=True))
    assert (
        "1",
        "FAX (G列)",
        "会員名簿にない列です。この画面の表にある列の名前をお使いください。",
    ) in found
    assert ("1", "会員名 (H列)", "この列が2回あります（C列にもあります）。") in found
    assert ("1", "(I列)", "この列には内容がありますが、1行目に列の名前がありません。") in found
    assert ("1", "担当者ふりがな", "1行目にこの列がありません。") in found
    assert len(found) == 4
    assert counts()[0] == 0 and stored_uploads() == 0


def _bad(rows_by_index: dict[int, dict[int, str]], extra_rows=()):
    rows = [list(row) for row in ROWS] + [list(row) for row in extra_rows]
    for index, changes in rows_by_index.items():
        for column, value in changes.items():
            rows[index][column] = value
    return rows


EMAIL = HEADER.index("メールアドレス")
KANA = HEADER.index("ふりがな")
PERSON_KANA = HEADER.index("担当者ふりがな")
NAME = HEADER.index("会員名")
PERSON = HEADER.index("担当者名")
NUMBER = HEADER.index("会員番号")
KIND = HEADER.index("種別")
STATUS = HEADER.index("状態")
JOINED = HEADER.index("入会日")
NOTE = HEADER.index("メモ")


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            _bad({0: {EMAIL: "yamada@@example"}}),
            [("2", "メールアドレス (I列)", "メールアドレスを正しく")],
        ),
        (
            _bad({1: {EMAIL: "YAMADA@example.org"}}),
            [("3", "メールアドレス (I列)", "このメールアドレスは2行目にもあります。")],
        ),
        (
            _bad({2: {EMAIL: "yamada@example.org"}}),
            [("4", "メールアドレス (I列)", "このメールアドレスは2行目にもあります。")],
        ),
        (
            _bad({1: {NAME: "別の会社"}}),
            [("3", "会員名 (C列)", "同じ会員番号C-001の2行目と、この列の内容が違います。")],
        ),
        (
            _bad({0: {KANA: "sakura"}}),
            [("2", "ふりがな (D列)", "ひらがなかカタカナでご入力ください")],
        ),
        (
            _bad({1: {PERSON_KANA: "鈴木"}}),
            [("3", "担当者ふりがな (H列)", "ひらがなかカタカナでご入力ください")],
        ),
        (
            _bad({0: {PERSON: "山田\x01太郎"}}),
            [("2", "担当者名 (G列)", "使えない文字")],
        ),
        (
            _bad({2: {NOTE: "メモ\x07です"}}),
            [("4", "メモ (M列)", "使えない文字")],
        ),
        (
            _bad({2: {KIND: "会社"}}),
            [("4", "種別 (B列)", "「法人」か「個人」と書いてください。")],
        ),
        (
            _bad({0: {STATUS: "休止"}}),
            [("2", "状態 (E列)", "「有効」「休会」「退会」のどれかを書いてください。")],
        ),
        (
            _bad({0: {JOINED: "昨年"}}),
            [("2", "入会日 (F列)", "2024-04-01 のように書いてください。")],
        ),
        (
            _bad({0: {NUMBER: "C 001"}, 1: {NUMBER: "C 001"}}),
            [("2", "会員番号 (A列)", "英数字とハイフン")],
        ),
        (
            _bad({1: {NUMBER: ""}}),
            [("3", "会員番号 (A列)", "このメールアドレスの会員はありません")],
        ),
        (
            _bad({0: {PERSON: ""}}),
            [("2", "担当者名 (G列)", "名前をご入力ください。")],
        ),
        (
            _bad(
                {},
                extra_rows=[
                    [
                        "I-001",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "佐藤二郎",
                        "さとうじろう",
                        "jiro@example.jp",
                        "",
                        "",
                        "",
                        "",
                    ]
                ],
            ),
            [
                (
                    "5",
                    "担当者名 (G列)",
                    "個人会員の担当者は1人だけです。会員番号I-001の担当者は、すでに4行目にあります。",
                )
            ],
        ),
        (
            _bad({0: {NAME: "あ" * 201}}),
            [("2", "会員名 (C列)", "200文字以内でご入力ください")],
        ),
    ],
    ids=[
        "bad-address",
        "same-address-same-member",
        "same-address-two-members",
        "conflicting-member-data",
        "kana",
        "person-kana",
        "control-character",
        "control-character-in-note",
        "kind",
        "status",
        "date",
        "number-pattern",
        "number-missing",
        "name-missing",
        "individual-with-two-people",
        "too-long",
    ],
)
@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_each_bad_row_is_named_by_row_and_column_and_nothing_is_stored(
    app, admin, rows, expected, file_format
):
    if file_format == "xlsx":
        if any("\x01" in str(cell) or "\x07" in str(cell) for row in rows for cell in row):
            pytest.skip("an .xlsx cannot hold a control character (openpyxl refuses it)")
        content, filename = xlsx(rows), "members.xlsx"
    else:
        content, filename = csv_text(rows).encode("utf-8-sig"), "members.csv"
    before = counts()
    response = upload(admin, content, filename)
    assert response.status_code == 400
    found = problems_of(response.get_data(as_text=True))
    assert len(found) == len(expected), found
    for (row, column, message), (want_row, want_column, want_message) in zip(
        found, expected, strict=True
    ):
        assert (row, column) == (want_row, want_column), found
        assert want_message in message, found
    assert counts() == before and stored_uploads() == 0


def test_problems_are_in_the_readers_language(app, admin):
    response = admin.post(
        "/admin/members/import?lang=en",
        data={"file": (io.BytesIO(xlsx(_bad({0: {EMAIL: "nope"}}))), "members.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    found = problems_of(response.get_data(as_text=True))
    assert found[0][:2] == ("2", "Email address (column I)")
    assert "valid email address" in found[0][2]


def test_an_address_of_another_active_member_is_refused(app, admin):
    with app.test_request_context():
        services.create_member(
            kind="corporate",
            number="C-500",
            name="青木工業",
            name_kana="あおきこうぎょう",
            people=[PersonData(name="青木", name_kana="あおき", email="suzuki@example.org")],
        )
    before = counts()
    response = upload(admin, xlsx(ROWS))
    assert response.status_code == 400
    assert problems_of(response.get_data(as_text=True)) == [
        (
            "3",
            "メールアドレス (I列)",
            "このメールアドレスは、ほかの有効な会員（C-500 青木工業）の担当者が使っています。",
        )
    ]
    assert counts() == before and stored_uploads() == 0


def test_the_kind_of_an_existing_member_cannot_change(app, admin):
    assert import_file(admin, xlsx(ROWS)).status_code == 302
    rows = _bad({2: {KIND: "法人"}})
    response = upload(admin, xlsx(rows))
    assert response.status_code == 400
    (problem,) = problems_of(response.get_data(as_text=True))
    assert problem[:2] == ("4", "種別 (B列)") and "種別を変えることはできません" in problem[2]


# --- the import ----------------------------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing(app, admin):
    content = xlsx(ROWS)
    assert import_file(admin, content).status_code == 302
    db.session.expire_all()
    updated = {m.number: m.updated_at for m in db.session.scalars(select(Member))}
    people_updated = {p.id: p.updated_at for p in db.session.scalars(select(MemberPerson))}
    members, people, audit = counts()

    response = import_file(admin, content)
    assert response.status_code == 302
    page = admin.get("/admin/members").get_data(as_text=True)
    assert "会員：追加0件、変更0件、変更なし2件" in page
    assert "担当者：追加0人、変更0人、変更なし3人" in page
    assert counts() == (members, people, audit + 1)  # only the import's own entry
    last = db.session.scalars(select(AuditLogEntry).order_by(AuditLogEntry.id.desc())).first()
    assert last.action == "member.import"
    assert (last.after["members_created"], last.after["members_updated"]) == (0, 0)
    assert (last.after["people_created"], last.after["people_updated"]) == (0, 0)
    assert {m.number: m.updated_at for m in db.session.scalars(select(Member))} == updated
    assert {p.id: p.updated_at for p in db.session.scalars(select(MemberPerson))} == people_updated


def test_a_second_file_updates_matches_by_number_then_email_and_keeps_missing_people(app, admin):
    assert import_file(admin, xlsx(ROWS)).status_code == 302
    rows = [
        # C-001: a new title for 山田, 鈴木 left out (kept), a new person.
        ["C-001", "法人", "株式会社さくら精機", "さくらせいき", "休会", "2020-04-01",
         "山田太郎", "やまだたろう", "yamada@example.org", "03-1234-5678", "総務部", "社長",
         "古くからの会員"],
        ["C-001", "", "", "", "", "", "高橋", "たかはし", "takahashi@example.org", "", "", "", ""],
        # No member number: the member is found by the address; its blank cells stay.
        ["", "", "", "", "", "",
         "佐藤一郎", "さとういちろう", "sato@example.jp", "090-9999-0000", "", "", ""],
    ]  # fmt: skip
    preview = upload(admin, xlsx(rows))
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, problems_of(html)
    assert "担当者 山田太郎 さん（2行目）の変更：役職" in html
    assert "担当者 佐藤一郎 さん（4行目）の変更：電話番号" in html
    response = admin.post(
        re.search(r'action="(/admin/members/import/\d+)"', html).group(1),
        data={"sha256": hidden(html, "sha256"), "changes": hidden(html, "changes")},
    )
    assert response.status_code == 302
    sakura = member("C-001")
    assert sakura.status == MemberStatus.lapsed
    assert sorted((p.name, p.title) for p in sakura.current_people) == [
        ("山田太郎", "社長"),
        ("鈴木花子", ""),
        ("高橋", ""),
    ]
    sato = member("I-001")
    assert (sato.name, sato.joined_on, sato.people[0].phone) == (
        "佐藤一郎",
        date(2021, 6, 15),
        "090-9999-0000",
    )
    actions = db.session.scalars(select(AuditLogEntry.action)).all()
    assert actions.count("member_person.update") == 2
    assert actions.count("member_person.add") == 4
    assert actions.count("member.update") == 1


def test_a_row_without_a_number_needs_a_known_address(app, admin):
    response = upload(admin, xlsx(_bad({2: {NUMBER: ""}})))
    assert response.status_code == 400
    assert problems_of(response.get_data(as_text=True)) == [
        (
            "4",
            "会員番号 (A列)",
            "会員番号をご入力ください。会員名簿に、このメールアドレスの会員はありません。",
        )
    ]


def test_withdrawing_and_reactivating_by_import(app, admin):
    assert import_file(admin, xlsx(ROWS)).status_code == 302
    assert import_file(admin, xlsx(_bad({2: {STATUS: "退会"}}))).status_code == 302
    assert member("I-001").status == MemberStatus.withdrawn
    assert not member("I-001").people[0].is_active
    # A withdrawn member is not changed while it stays withdrawn.
    response = upload(admin, xlsx(_bad({2: {STATUS: "退会", NAME: "佐藤 一郎"}})))
    assert response.status_code == 400
    (problem,) = problems_of(response.get_data(as_text=True))
    assert problem[:2] == ("4", "状態 (E列)") and "退会済み" in problem[2]
    assert import_file(admin, xlsx(_bad({2: {NAME: "佐藤 一郎"}}))).status_code == 302
    sato = member("I-001")
    assert (sato.status, sato.name, sato.people[0].is_active) == ("active", "佐藤 一郎", True)


def test_an_address_taken_after_the_preview_is_refused_at_the_import(app, admin):
    """The checks run again at the import: another admin took an address after the
    preview, so nothing at all is imported (not even the first member)."""
    preview = upload(admin, xlsx(ROWS))
    html = preview.get_data(as_text=True)
    with app.test_request_context():
        services.create_member(
            kind="individual",
            number="I-900",
            name="別人",
            name_kana="べつじん",
            people=[PersonData(name="別人", name_kana="べつじん", email="sato@example.jp")],
        )
    before = counts()
    response = admin.post(
        re.search(r'action="(/admin/members/import/\d+)"', html).group(1),
        data={"sha256": hidden(html, "sha256"), "changes": hidden(html, "changes")},
    )
    assert response.status_code == 409
    found = problems_of(response.get_data(as_text=True))
    assert found[0][:2] == ("4", "メールアドレス (I列)")
    assert counts() == before
    assert db.session.scalars(select(MemberImport)).one().applied_at is None


def _lapsed_member_with_two_people(app) -> None:
    with app.test_request_context():
        lapsed = services.create_member(
            kind="corporate",
            number="C-700",
            name="休会商事",
            name_kana="きゅうかいしょうじ",
            people=[
                PersonData(name="一", name_kana="いち", email="p1@example.org"),
                PersonData(name="二", name_kana="に", email="p2@example.org"),
            ],
        )
        services.update_member(
            lapsed.id,
            number="C-700",
            name="休会商事",
            name_kana="きゅうかいしょうじ",
            joined_on=None,
            note="",
            status="lapsed",
        )


LAPSED_BACK = ["C-700", "法人", "休会商事", "きゅうかいしょうじ", "有効", "",
               "一", "いち", "p1@example.org", "", "", "", ""]  # fmt: skip


def test_a_refusal_of_the_services_midway_leaves_nothing_half_done(app, admin):
    """C-700 comes back to 有効 after C-001 and I-001 were created; its person who is not
    in the file has an address another active member took meanwhile, so
    members.services refuses the reactivation: the whole import is rolled back."""
    _lapsed_member_with_two_people(app)
    html = upload(admin, xlsx([*ROWS, LAPSED_BACK])).get_data(as_text=True)
    assert "取り込む前に変更内容をご確認ください" in html
    with app.test_request_context():
        services.create_member(
            kind="individual",
            number="I-900",
            name="別人",
            name_kana="べつじん",
            people=[PersonData(name="別人", name_kana="べつじん", email="p2@example.org")],
        )
    before = counts()
    response = admin.post(
        re.search(r'action="(/admin/members/import/\d+)"', html).group(1),
        data={"sha256": hidden(html, "sha256"), "changes": hidden(html, "changes")},
    )
    assert response.status_code == 409
    (problem,) = problems_of(response.get_data(as_text=True))
    assert problem[:2] == ("5", "担当者名 (G列)")
    assert "p2@example.org" in problem[2]
    assert counts() == before
    assert db.session.scalars(select(Member.number).order_by(Member.number)).all() == [
        "C-700",
        "I-900",
    ]
    assert member("C-700").status == MemberStatus.lapsed


def test_the_preview_shows_a_refusal_of_the_services_too(app, admin):
    _lapsed_member_with_two_people(app)
    with app.test_request_context():
        services.create_member(
            kind="individual",
            number="I-900",
            name="別人",
            name_kana="べつじん",
            people=[PersonData(name="別人", name_kana="べつじん", email="p2@example.org")],
        )
    before = counts()
    response = upload(admin, xlsx([*ROWS, LAPSED_BACK]))
    assert response.status_code == 400
    (problem,) = problems_of(response.get_data(as_text=True))
    assert problem[:2] == ("5", "担当者名 (G列)") and "p2@example.org" in problem[2]
    assert counts() == before and stored_uploads() == 0


def test_a_changed_member_list_asks_for_a_new_look(app, admin):
    preview = upload(admin, xlsx(ROWS))
    html = preview.get_data(as_text=True)
    assert import_file(admin, xlsx(ROWS[2:])).status_code == 302  # I-001 now exists
    before = counts()
    response = admin.post(
        re.search(r'action="(/admin/members/import/\d+)"', html).group(1),
        data={"sha256": hidden(html, "sha256"), "changes": hidden(html, "changes")},
    )
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "確認画面を表示したあとで会員名簿が変わりました" in page
    assert counts() == before
    # The new preview's button imports what it now shows.
    response = admin.post(
        re.search(r'action="(/admin/members/import/\d+)"', page).group(1),
        data={"sha256": hidden(page, "sha256"), "changes": hidden(page, "changes")},
    )
    assert response.status_code == 302
    assert len(member("C-001").people) == 2


def test_used_foreign_forged_and_stale_uploads(app, admin, client, login):
    preview = upload(admin, xlsx(ROWS)).get_data(as_text=True)
    action = re.search(r'action="(/admin/members/import/\d+)"', preview).group(1)
    data = {"sha256": hidden(preview, "sha256"), "changes": hidden(preview, "changes")}

    forged = {**data, "sha256": "0" * 64}
    response = admin.post(action, data=forged)
    assert response.status_code == 404 and 'class="site-header"' in response.get_data(as_text=True)
    assert admin.post("/admin/members/import/999999", data=data).status_code == 404
    assert admin.post(action, data={"sha256": "x"}).status_code == 400

    other = app.test_client()
    login(make_organizer(email="other-admin@example.org", role="admin"), other)
    db.session.commit()
    assert other.post(action, data=data).status_code == 404
    assert counts()[0] == 0

    assert admin.post(action, data=data).status_code == 302
    response = admin.post(action, data=data)
    assert response.status_code == 409
    assert "すでに取り込み済み" in response.get_data(as_text=True)

    stale = upload(admin, xlsx(ROWS)).get_data(as_text=True)
    stale_action = re.search(r'action="(/admin/members/import/(\d+))"', stale)
    row = db.session.get(MemberImport, int(stale_action.group(2)))
    row.created_at = utcnow() - timedelta(days=2)
    db.session.commit()
    response = admin.post(
        stale_action.group(1),
        data={"sha256": hidden(stale, "sha256"), "changes": hidden(stale, "changes")},
    )
    assert response.status_code == 409
    assert "1日以上たっています" in response.get_data(as_text=True)
    # The next upload deletes uploads that waited too long.
    upload(admin, xlsx(ROWS))
    db.session.expire_all()
    old = utcnow() - timedelta(days=1)
    assert db.session.scalars(select(MemberImport).where(MemberImport.created_at < old)).all() == []


def test_an_organizer_may_export_but_not_import(app, logged_in_client):
    client = logged_in_client()
    assert client.get("/admin/members/import").status_code == 403
    response = upload(client, xlsx(ROWS))
    assert response.status_code == 403 and "<main" in response.get_data(as_text=True)
    assert client.post("/admin/members/import/1", data={"sha256": "0" * 64}).status_code == 403
    assert counts()[0] == 0 and stored_uploads() == 0
    assert client.get("/admin/members/export").status_code == 200
    assert client.get("/admin/members/export.xlsx").status_code == 200
    assert client.get("/admin/members/export.csv").status_code == 200
    page = client.get("/admin/members").get_data(as_text=True)
    assert "/admin/members/export" in page and "/admin/members/import" not in page


def test_an_upload_over_the_size_limit_is_refused_unread(app, admin):
    body = io.BytesIO(
        b"--XX\r\n"
        b'Content-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
        + b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
        + b"\r\n--XX--\r\n"
    )
    response = admin.post(
        "/admin/members/import",
        input_stream=body,
        content_type="multipart/form-data; boundary=XX",
        headers={"Content-Length": str(len(body.getvalue()))},
    )
    assert response.status_code == 413
    assert "送信された内容が大きすぎます" in response.get_data(as_text=True)
    assert body.tell() == 0
    assert stored_uploads() == 0


def test_only_the_file_field_of_the_import_takes_a_file(app, admin):
    # A file under another name is dropped: the form says the file is missing.
    response = admin.post(
        "/admin/members/import",
        data={"other": (io.BytesIO(xlsx(ROWS)), "members.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert 'id="file-error">取り込むファイルを選んでください。' in response.get_data(as_text=True)
    # Two files in the field: the first is read, the second closed unread.
    response = admin.post(
        "/admin/members/import",
        data={
            "file": [
                (io.BytesIO(xlsx(ROWS[2:])), "one.xlsx"),
                (io.BytesIO(PNG), "two.png"),
            ]
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert "one.xlsx" in response.get_data(as_text=True)
    # Elsewhere a file part is still no field at all (tests/test_request_checks.py).
    response = admin.post(
        "/admin/venues/new",
        data={"name": (io.BytesIO(b"MZ"), "venue.exe")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert 'id="name-error"' in response.get_data(as_text=True)


class TestWithCsrf:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    def test_a_post_without_a_token_is_refused(self, app, admin):
        response = upload(admin, xlsx(ROWS))
        assert response.status_code == 400
        assert counts()[0] == 0 and stored_uploads() == 0

    def test_the_upload_works_with_the_token_and_file_parts_stay_refused_elsewhere(
        self, app, admin
    ):
        page = admin.get("/admin/members/import").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = upload(admin, xlsx(ROWS), csrf_token=token)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        action = re.search(r'action="(/admin/members/import/\d+)"', html).group(1)
        data = {"sha256": hidden(html, "sha256"), "changes": hidden(html, "changes")}
        assert admin.post(action, data=data).status_code == 400  # no token
        assert counts()[0] == 0
        data["csrf_token"] = hidden(html, "csrf_token")
        assert admin.post(action, data=data).status_code == 302
        assert counts()[0] == 2


# --- export --------------------------------------------------------------------------------


def _workbook_rows(content: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(content)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_the_export_round_trip_imports_unchanged(app, admin):
    rows = _bad({0: {NOTE: "複数行の\nメモ"}, 2: {PERSON: "=佐藤一郎"}})
    rows[0][HEADER.index("電話番号")] = "+81-3-1234-5678"
    assert import_file(admin, xlsx(rows)).status_code == 302
    # A withdrawn and a lapsed member are exported and imported again unchanged too.
    _lapsed_member_with_two_people(app)
    with app.test_request_context():
        services.withdraw_member(member("I-001").id)
    members, people, audit = counts()
    for url, filename in (
        ("/admin/members/export.xlsx", "export.xlsx"),
        ("/admin/members/export.csv?encoding=utf-8", "export.csv"),
        ("/admin/members/export.csv?encoding=cp932", "export.csv"),
    ):
        exported = admin.get(url)
        assert exported.status_code == 200
        audit += 1
        response = upload(admin, exported.data, filename)
        assert response.status_code == 200, problems_of(response.get_data(as_text=True))
        html = response.get_data(as_text=True)
        assert "このファイルで変わるところはありません" in html, url
        assert import_file(admin, exported.data, filename).status_code == 302
        audit += 1
        assert counts() == (members, people, audit)


def test_the_export_neutralises_formulas_and_follows_the_filters(app, admin):
    rows = _bad({0: {NAME: '=HYPERLINK("http://evil.example")'}, 1: {NAME: ""}})
    assert import_file(admin, xlsx(rows)).status_code == 302
    content = admin.get("/admin/members/export.xlsx").data
    sheet = load_workbook(io.BytesIO(content)).active
    assert [cell.value for cell in sheet[1]] == HEADER
    values = {cell.value for row in sheet.iter_rows(min_row=2) for cell in row}
    assert '\'=HYPERLINK("http://evil.example")' in values
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    text = admin.get("/admin/members/export.csv").data.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "\n=" not in text and ",=" not in text
    only = _workbook_rows(admin.get("/admin/members/export.xlsx?kind=individual").data)
    assert [row[0] for row in only[1:]] == ["I-001"]
    assert admin.get("/admin/members/export.csv?encoding=latin-1").status_code == 400
    assert admin.get("/admin/members/export.xlsx?kind=nonsense").status_code == 400
    entry = db.session.scalars(
        select(AuditLogEntry)
        .where(AuditLogEntry.action == "members.export")
        .order_by(AuditLogEntry.id.desc())
    ).first()
    assert entry.after == {"format": "xlsx", "rows": 1, "kind": "individual"}


def test_the_export_page_warns_of_what_shift_jis_loses(app, admin):
    rows = _bad({2: {PERSON: "𠮷田一郎", NAME: "𠮷田一郎"}})
    assert import_file(admin, xlsx(rows)).status_code == 302
    page = admin.get("/admin/members/export").get_data(as_text=True)
    assert "Shift_JISでは表せない文字が" in page and "𠮷" in page
    response = admin.get("/admin/members/export.csv?encoding=cp932")
    assert response.headers["X-Replaced-Characters"] == "2"
    assert "charset=shift_jis" in response.headers["Content-Type"]
