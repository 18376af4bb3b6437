"""An uploaded spreadsheet as rows of cells: what the file is (read from its bytes, not
its name), its encoding, its cells as text and dates; anything else is refused.

- A zip is an .xlsx, read with openpyxl (read-only, the values Excel last computed),
  first checking what its parts unpack to.
- Anything else is CSV: after a UTF-8 BOM, UTF-8; else strict UTF-8; else Shift_JIS
  (cp932); text that decodes as neither, or holds a NUL (a binary file), is not a
  spreadsheet. Other control characters are left for the checks of each cell, which
  name the row and column.
- Rows are numbered as Excel shows them; blank rows are skipped but keep their number.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time

from flask_babel import lazy_gettext as _l
from openpyxl import load_workbook
from openpyxl.utils.datetime import from_excel

from cluster_events.errors import Message, ServiceError
from cluster_events.registration.exports import FORMULA_PREFIXES

#: Rows below the first one (the association has about a hundred people).
MAX_ROWS = 2000
#: Rows read at most, blank ones included (a cell far below the list is refused).
MAX_SCANNED_ROWS = 10 * MAX_ROWS
#: Columns read in each row.
MAX_COLUMNS = 50
#: What the parts of an .xlsx may unpack to, in all (the upload is at most 1 MiB).
MAX_UNPACKED_BYTES = 32 * 1024 * 1024

XLSX_SIGNATURE = b"PK\x03\x04"
OLD_EXCEL_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

NOT_A_SPREADSHEET = _l(
    "This file could not be read as a spreadsheet. Please upload an Excel workbook (.xlsx) "
    "or a CSV file (UTF-8 or Shift_JIS)."
)
OLD_EXCEL = _l(
    "This is an Excel file in the old format (.xls). Please save it as an Excel workbook "
    "(.xlsx) and upload it again."
)
EMPTY_FILE = _l("The file is empty: there is no row with the column names.")
NO_ROWS = _l("The file has the column names but no rows of members below them.")
TOO_MANY_ROWS = _l(
    "The file has more than %(max)d rows. Please split it into several files.", max=MAX_ROWS
)

Cells = list[object]


class UnreadableFile(ServiceError):
    """The file as a whole cannot be used (not a spreadsheet, empty, too long); shown at
    the upload's field."""

    def __init__(self, message: Message) -> None:
        super().__init__(message, field_errors={"file": message})


@dataclass
class Table:
    header_row: int
    header: Cells
    #: (row number as Excel shows it, cells) of each row below the header that is not blank.
    rows: list[tuple[int, Cells]]


def read_table(content: bytes) -> Table:
    """The first row that is not blank, and the rows below it. Raises UnreadableFile."""
    if not content.strip():
        raise UnreadableFile(EMPTY_FILE)
    if content.startswith(XLSX_SIGNATURE):
        rows = _xlsx_rows(content)
    elif content.startswith(OLD_EXCEL_SIGNATURE):
        raise UnreadableFile(OLD_EXCEL)
    else:
        rows = _csv_rows(content)
    rows = [(number, cells) for number, cells in rows if any(cell_text(c) for c in cells)]
    if not rows:
        raise UnreadableFile(EMPTY_FILE)
    if len(rows) == 1:
        raise UnreadableFile(NO_ROWS)
    if len(rows) > MAX_ROWS + 1:
        raise UnreadableFile(TOO_MANY_ROWS)
    (header_row, header), *body = rows
    return Table(header_row, header, body)


def _decode_csv(content: bytes) -> str:
    try:
        if content.startswith(codecs.BOM_UTF8):
            text = content[len(codecs.BOM_UTF8) :].decode("utf-8")
        else:
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                text = content.decode("cp932")
    except UnicodeDecodeError as error:
        raise UnreadableFile(NOT_A_SPREADSHEET) from error
    if "\x00" in text:
        raise UnreadableFile(NOT_A_SPREADSHEET)
    return text


def _csv_rows(content: bytes) -> list[tuple[int, Cells]]:
    reader = csv.reader(io.StringIO(_decode_csv(content), newline=""))
    rows: list[tuple[int, Cells]] = []
    try:
        for number, values in enumerate(reader, start=1):
            if number > MAX_SCANNED_ROWS:
                raise UnreadableFile(TOO_MANY_ROWS)
            rows.append((number, list(values[:MAX_COLUMNS])))
    except csv.Error as error:
        raise UnreadableFile(NOT_A_SPREADSHEET) from error
    return rows


def _xlsx_rows(content: bytes) -> list[tuple[int, Cells]]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise UnreadableFile(NOT_A_SPREADSHEET) from error
    if unpacked > MAX_UNPACKED_BYTES:
        raise UnreadableFile(NOT_A_SPREADSHEET)
    rows: list[tuple[int, Cells]] = []
    try:
        with warnings.catch_warnings():
            # openpyxl warns of what it does not read (data validation, some styles).
            warnings.simplefilter("ignore")
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
            try:
                sheet = workbook.active
                if not hasattr(sheet, "iter_rows"):  # a chart sheet is the one shown
                    sheet = workbook.worksheets[0]
                for number, values in enumerate(
                    sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1
                ):
                    if number > MAX_SCANNED_ROWS:
                        raise UnreadableFile(TOO_MANY_ROWS)
                    rows.append((number, list(values)))
            finally:
                workbook.close()
    except UnreadableFile:
        raise
    except Exception as error:  # whatever openpyxl meets in a damaged or foreign file
        raise UnreadableFile(NOT_A_SPREADSHEET) from error
    return rows


def cell_text(value: object) -> str:
    """A cell as text: whole numbers without ".0", dates as 2024-04-01; the apostrophe
    an export puts before =, +, -, @ (registration.exports.neutralise) is taken off."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    text = str(value)
    if text.startswith("'") and text[1:2] and text[1] in FORMULA_PREFIXES:
        text = text[1:]
    return text.strip()


_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:\s+0{1,2}:00(?::00)?)?$")
#: Excel's serial numbers of 1950-01-01 and 2100-01-01: a number between is a date cell
#: whose format was lost.
_SERIALS = range(18264, 73051)


def cell_date(value: object) -> date | None:
    """A date cell, an Excel serial number or text like 2024-04-01, 2024/4/1 or
    2024年4月1日; None when it is none of them."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return from_excel(value).date() if int(value) in _SERIALS else None
    match = _DATE.match(unicodedata.normalize("NFKC", str(value)).strip())
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
