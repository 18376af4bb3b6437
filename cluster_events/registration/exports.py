"""Attendee lists as files the office opens in Excel: .xlsx, and CSV in UTF-8 with a
BOM (Excel then reads the Japanese correctly) or in Shift_JIS (cp932) for older tools.

Every cell is text written by registrants, so a value that Excel would read as a
formula (=, +, -, @, or a leading tab or carriage return) gets a leading apostrophe.
Characters that no file should hold (control characters, noncharacters; the forms refuse
them, but older rows may have them) are dropped, so an export never fails on what is stored.

A course (an event with sessions) has one attendance column per session: when that
person arrived at it (JST), empty if they did not.

A file has one row per person: a registrant's row, then one for each of their
companions, who share the registration's frame, status and times and name the
registrant in the column 申込者 (Registrant); their contact columns and answers are
empty (a companion gives a name and its reading only).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from cluster_events.audit import record_change
from cluster_events.i18n import current_locale
from cluster_events.models import Event, Registration, RegistrationCompanion
from cluster_events.registration import answers
from cluster_events.registration.attendees import membership_labels, membership_of
from cluster_events.registration.checkin import event_arrivals
from cluster_events.registration.labels import (
    LANGUAGE_NAMES,
    LOTTERY_RESULT_LABELS,
    MEMBER_TYPE_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    translated,
)
from cluster_events.schedule import session_label
from cluster_events.text import drop_forbidden_characters
from cluster_events.timefmt import to_tokyo
from cluster_events.transactions import write_transaction

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

#: Characters that Shift_JIS text usually carries as a look-alike: written as the
#: look-alike without counting them as lost.
CP932_EQUIVALENTS = str.maketrans(
    {
        "\u2014": "\u2015",  # EM DASH -> HORIZONTAL BAR (the JIS dash)
        "\u00a0": " ",
    }
)
CP932_REPLACEMENT = "?"


@dataclass(frozen=True)
class Column:
    header: str
    key: str


@dataclass(frozen=True)
class Cp932Report:
    """What a Shift_JIS export would lose: how many characters, and which ones."""

    replaced: int
    characters: tuple[str, ...]


def columns() -> list[Column]:
    return [
        Column(_("No."), "number"),
        Column(_("Full name"), "name"),
        Column(_("Name reading (furigana)"), "name_kana"),
        Column(_("Registrant"), "registrant"),
        Column(_("Organization"), "organization"),
        Column(_("Job title"), "job_title"),
        Column(_("Email address"), "email"),
        Column(_("Phone number"), "phone"),
        Column(_("Member type"), "member_type"),
        Column(_("Membership check"), "membership"),
        Column(_("Member number"), "member_number"),
        Column(_("Remarks"), "remarks"),
        Column(_("Language of the emails"), "locale"),
        Column(_("Participation frame"), "frame"),
        Column(_("Registration status"), "status"),
        Column(_("Waiting list position"), "waiting_position"),
        Column(_("Registered at (JST)"), "created_at"),
        Column(_("Checked in at (JST)"), "checked_in_at"),
        Column(_("Cancelled at (JST)"), "cancelled_at"),
        Column(_("Signed up by"), "source"),
        Column(_("Office note"), "organizer_note"),
    ]


def attendee_table(
    event: Event, registrations: Sequence[Registration]
) -> tuple[list[str], list[list[object]]]:
    """The header and rows of an export: the columns above, the lottery's result for
    an event with a lottery frame, then one per question of the event (headed by its
    wording; a removed question that people answered keeps its column), each answer as
    the registrant gave it."""
    header = [column.header for column in columns()]
    people = list(each_person(registrations))
    rows = attendee_rows(registrations)
    if any(frame.is_lottery for frame in event.frames):
        # The draw's result, beside the status it gave (a later promotion keeps it).
        header.append(_("Lottery result"))
        results = translated(LOTTERY_RESULT_LABELS)
        # Per person, as the rows are: a companion's row is their registrant's.
        for row, (registration, _companion) in zip(rows, people, strict=True):
            row.append(results.get(registration.lottery_result or "", ""))
    locale = current_locale()
    if event.session_count:
        arrivals = event_arrivals(event.id)
        for session in event.sessions:
            header.append(
                _(
                    "%(session)s: checked in at (JST)",
                    session=session_label(session.position, locale),
                )
            )
            for row, (registration, companion) in zip(rows, people, strict=True):
                person = companion.position if companion is not None else 0
                row.append(_local(arrivals.get((session.id, registration.id, person))))
    question_columns = answers.answer_columns(event, locale)
    if question_columns:
        given = answers.answers_by_registration(event.id)
        header += [column.header for column in question_columns]
        for row, (registration, companion) in zip(rows, people, strict=True):
            if companion is None:
                row += answers.answer_cells(
                    question_columns, given.get(registration.id, {}), locale
                )
            else:
                row += [""] * len(question_columns)
    return header, rows


def each_person(
    registrations: Iterable[Registration],
) -> Iterable[tuple[Registration, RegistrationCompanion | None]]:
    """Each registrant, followed by each of their companions."""
    for registration in registrations:
        yield registration, None
        for companion in registration.companions:
            yield registration, companion


def attendee_rows(registrations: Iterable[Registration]) -> list[list[object]]:
    """One row per person (a registrant, then their companions) in the order given;
    times are Tokyo times without zone."""
    keys = [column.key for column in columns()]
    # Labels are translated once per file, not once per row.
    statuses = translated(STATUS_LABELS)
    member_types = translated(MEMBER_TYPE_LABELS)
    sources = translated(SOURCE_LABELS)
    memberships = membership_labels()
    rows: list[list[object]] = []
    for number, (registration, companion) in enumerate(each_person(registrations), start=1):
        values: dict[str, object] = {
            "number": number,
            "name": registration.name,
            "name_kana": registration.name_kana,
            "registrant": "",
            "organization": registration.organization,
            "job_title": registration.job_title,
            "email": registration.email,
            "phone": registration.phone,
            "member_type": member_types.get(registration.member_type, registration.member_type),
            "membership": memberships[membership_of(registration)],
            "member_number": _member_number(registration),
            "remarks": registration.remarks,
            "locale": LANGUAGE_NAMES.get(registration.locale, registration.locale),
            "frame": registration.frame.name_ja,
            "status": statuses.get(registration.status, registration.status),
            "waiting_position": registration.waiting_position,
            "created_at": _local(registration.created_at),
            "checked_in_at": _local(registration.checked_in_at),
            "cancelled_at": _local(registration.cancelled_at),
            "source": sources.get(registration.source, registration.source),
            "organizer_note": registration.organizer_note,
        }
        if companion is not None:
            values.update(_companion_values(registration, companion))
        rows.append([values[key] for key in keys])
    return rows


#: What a companion's row leaves empty: the registrant's own details and notes.
_REGISTRANT_ONLY = (
    "organization",
    "job_title",
    "email",
    "phone",
    "member_type",
    "membership",
    "member_number",
    "remarks",
    "locale",
    "organizer_note",
)


def _companion_values(
    registration: Registration, companion: RegistrationCompanion
) -> dict[str, object]:
    return {
        **dict.fromkeys(_REGISTRANT_ONLY, ""),
        "name": companion.name,
        "name_kana": companion.name_kana,
        "registrant": registration.name,
        "checked_in_at": _local(companion.checked_in_at),
    }


def _member_number(registration: Registration) -> str:
    """The linked member's 会員番号 (the list loads the member with the registration)."""
    person = registration.member_person
    return person.member.number if person is not None else ""


def _local(value: datetime | None) -> datetime | None:
    return to_tokyo(value).replace(tzinfo=None, microsecond=0) if value else None


def neutralise(value: object) -> object:
    """Text that a spreadsheet would run as a formula, made plain text; characters a
    file cannot hold are dropped first."""
    if not isinstance(value, str):
        return value
    value = drop_forbidden_characters(value)
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(neutralise(value))


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_cell_text(value) for value in header])
    for row in rows:
        writer.writerow([_cell_text(value) for value in row])
    return buffer.getvalue()


def to_csv_utf8(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    return _csv_text(header, rows).encode("utf-8-sig")


def cp932_report(header: Sequence[str], rows: Sequence[Sequence[object]]) -> Cp932Report:
    text = _csv_text(header, rows).translate(CP932_EQUIVALENTS)
    missing = [character for character in text if not _fits_cp932(character)]
    return Cp932Report(replaced=len(missing), characters=tuple(dict.fromkeys(missing)))


def to_csv_cp932(
    header: Sequence[str], rows: Sequence[Sequence[object]]
) -> tuple[bytes, Cp932Report]:
    report = cp932_report(header, rows)
    text = _csv_text(header, rows).translate(CP932_EQUIVALENTS)
    if report.replaced:
        text = "".join(c if _fits_cp932(c) else CP932_REPLACEMENT for c in text)
    return text.encode("cp932"), report


def _fits_cp932(character: str) -> bool:
    try:
        character.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


def to_xlsx(event: Event, header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    return workbook_bytes(header, rows, sheet_title=_("Attendees"), title=event.title)


def workbook_bytes(
    header: Sequence[str], rows: Sequence[Sequence[object]], *, sheet_title: str, title: str
) -> bytes:
    """One sheet: the header in bold and frozen, every text cell plain text (neutralised)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_title[:31]
    sheet.append([drop_forbidden_characters(str(value)) for value in header])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([neutralise(value) for value in row])
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(cell.value, str):
                # openpyxl would otherwise store any text starting with "=" as a formula.
                cell.data_type = "s"
    for index, column in enumerate(header, start=1):
        widths = [len(str(column))] + [len(_cell_text(row[index - 1])) for row in rows]
        sheet.column_dimensions[get_column_letter(index)].width = min(max(widths) * 2 + 2, 60)
    sheet.freeze_panes = "A2"
    sheet.print_title_rows = "1:1"
    workbook.properties.title = drop_forbidden_characters(title)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_filename(event: Event, extension: str) -> str:
    """「受付名簿」-style names that keep the event's Japanese title (sent with RFC 5987)."""
    title = "".join(c for c in event.title if c not in '\\/:*?"<>|\r\n\t')
    title = drop_forbidden_characters(title)[:60]
    date = to_tokyo(event.starts_at).strftime("%Y%m%d")
    return f"{date}_{title}_{_('attendees')}.{extension}"


def record_export(event_id: int, file_format: str, rows: int) -> None:
    """Downloads of personal data are logged like changes: who took which list, when."""
    with write_transaction():
        record_change(
            "attendees.export",
            "event",
            event_id,
            event_id=event_id,
            after={"format": file_format, "rows": rows},
        )
