"""The member list as a spreadsheet: reading an uploaded .xlsx or CSV, its preview, the
import, and the export in the same columns (so an exported file imports unchanged).

- One row per contact person; a corporate member with several people is several rows
  with the same 会員番号 (its member columns repeated, or left blank after the first).
- The file is read for what it is, whatever its name: an .xlsx (a zip) with openpyxl,
  else CSV in UTF-8 (with or without a BOM) or, failing that, Shift_JIS (cp932).
- Every problem is named by its row (as Excel numbers it: the column names are row 1),
  its column and the reason; nothing is imported while there is one. The checks are
  members.services' own; the import calls its functions, so every change is in the
  audit log, and a row that changes nothing calls none (the same file twice changes
  nothing).
- Rows find their member by member number, then by a person's address; a person by
  address within the member (an individual member's one person is that row). People
  missing from the file are kept; a column left out of the file is left as it is.
- The uploaded bytes wait in ``member_import`` between the preview and the import (the
  console runs in several processes); the preview posts back the id, the file's SHA-256
  and a digest of the changes it showed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask_babel import LazyString, lazy_pgettext
from flask_babel import lazy_gettext as _l
from openpyxl.utils import get_column_letter
from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from cluster_events.audit import record_change
from cluster_events.database import utcnow
from cluster_events.errors import Conflict, Message, NotFound, ServiceError
from cluster_events.extensions import db
from cluster_events.members import services
from cluster_events.members.services import PersonData, _checked_member, _checked_person
from cluster_events.members.spreadsheet_reader import (
    cell_date,
    cell_text,
    read_table,
)
from cluster_events.models import Member, MemberImport, MemberKind, MemberPerson, MemberStatus
from cluster_events.text import (
    drop_forbidden_characters,
    katakana_to_hiragana,
    normalise_input,
    normalise_multiline,
)
from cluster_events.transactions import write_transaction

#: Problems listed on the page; the rest are counted.
MAX_PROBLEMS_SHOWN = 200
#: How long an upload waits for its import.
UPLOAD_VALID_FOR = timedelta(hours=24)

# --- columns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    #: The name written in files (and read first); Japanese, as the office types it.
    header: str
    #: Other names accepted in the first row (compared without case, spaces, - or _).
    aliases: tuple[str, ...]
    #: A member's column (the same on each of its rows), else the person's.
    of_member: bool
    required: bool

    @property
    def label(self) -> LazyString:
        """The column's name on the page, in the reader's language."""
        return COLUMN_LABELS[self.key]


_M, _P = True, False  # the member's column, the person's
COLUMNS: tuple[Column, ...] = (
    Column("number", "会員番号", ("number", "member number", "member no", "会員no"), _M, True),
    Column("kind", "種別", ("kind", "type", "member type", "会員種別", "種類"), _M, True),
    Column("name", "会員名", ("name", "member name", "名称"), _M, True),
    Column("name_kana", "ふりがな", ("name_kana", "reading", "kana", "よみがな"), _M, True),
    Column("status", "状態", ("status", "会員状態"), _M, False),
    Column("joined_on", "入会日", ("joined_on", "joined", "join date"), _M, False),
    Column("person_name", "担当者名", ("person_name", "contact", "担当者", "氏名"), _P, True),
    Column("person_kana", "担当者ふりがな", ("person_kana", "contact kana"), _P, True),
    Column("email", "メールアドレス", ("email", "e-mail", "email address", "メール"), _P, True),
    Column("phone", "電話番号", ("phone", "tel", "phone number", "電話"), _P, False),
    Column("department", "部署", ("department", "部署名"), _P, False),
    Column("title", "役職", ("title", "job title", "役職名"), _P, False),
    Column("note", "メモ", ("note", "notes", "備考"), _M, False),
)
COLUMN_LABELS = {
    "number": lazy_pgettext("member list column", "Member number"),
    "kind": lazy_pgettext("member list column", "Kind"),
    "name": lazy_pgettext("member list column", "Member name"),
    "name_kana": lazy_pgettext("member list column", "Reading (furigana)"),
    "status": lazy_pgettext("member list column", "Status"),
    "joined_on": lazy_pgettext("member list column", "Joined on"),
    "person_name": lazy_pgettext("member list column", "Contact person"),
    "person_kana": lazy_pgettext("member list column", "Contact person's reading"),
    "email": lazy_pgettext("member list column", "Email address"),
    "phone": lazy_pgettext("member list column", "Phone number"),
    "department": lazy_pgettext("member list column", "Department"),
    "title": lazy_pgettext("member list column", "Title"),
    "note": lazy_pgettext("member list column", "Note"),
}
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}
#: The person's columns, by the name members.services gives the field.
PERSON_COLUMNS = {
    "name": "person_name",
    "name_kana": "person_kana",
    "email": "email",
    "phone": "phone",
    "department": "department",
    "title": "title",
}


def _compact(text: str) -> str:
    """How names in the first row and words in cells are compared: NFKC, readings in
    hiragana, no case, no spaces, hyphens or underscores, no 「（必須）」 mark."""
    text = katakana_to_hiragana(normalise_input(text)).casefold()
    text = text.replace("(必須)", "").replace("*", "")
    return re.sub(r"[\s_\-・]", "", text)


HEADER_NAMES = {
    _compact(name): column.key
    for column in COLUMNS
    for name in (column.header, column.key, *column.aliases)
}

#: What a file writes, and what it may write, for the kind and the status.
KIND_WORDS = {MemberKind.corporate.value: "法人", MemberKind.individual.value: "個人"}
STATUS_WORDS = {
    MemberStatus.active.value: "有効",
    MemberStatus.lapsed.value: "休会",
    MemberStatus.withdrawn.value: "退会",
}
KIND_VALUES = {
    _compact(word): kind
    for kind, words in {
        MemberKind.corporate.value: ("法人", "法人会員", "corporate", "corporate member"),
        MemberKind.individual.value: ("個人", "個人会員", "individual", "individual member"),
    }.items()
    for word in words
}
STATUS_VALUES = {
    _compact(word): status
    for status, words in {
        MemberStatus.active.value: ("有効", "active"),
        MemberStatus.lapsed.value: ("休会", "失効", "lapsed"),
        MemberStatus.withdrawn.value: ("退会", "withdrawn"),
    }.items()
    for word in words
}
KIND_LABELS = {
    MemberKind.corporate.value: _l("Corporate member"),
    MemberKind.individual.value: _l("Individual member"),
}

# --- messages ----------------------------------------------------------------------------

UNKNOWN_COLUMN = _l(
    "This is not a column of the member list. Please use the column names listed on this page."
)
MISSING_COLUMN = _l("This column is missing from the first row.")
UNNAMED_COLUMN = _l("This column has values but no name in the first row.")
NUMBER_MISSING = _l("Please enter the member number.")
KIND_WORD = _l("Please write 法人 (corporate) or 個人 (individual).")
STATUS_WORD = _l("Please write 有効 (active), 休会 (lapsed) or 退会 (withdrawn).")
DATE_FORMAT = _l("Please write the date like 2024-04-01.")


# --- problems and results ----------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """What is wrong, where: ``row`` as Excel shows it (None: the whole file), the
    column's name and letter (None: the whole row)."""

    row: int | None
    column: Message | None
    letter: str | None
    message: Message


class ImportRefused(Conflict):
    """The import found problems (the member list changed since the preview)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(_l("Nothing was imported: the file has problems (see the list)."))


class StalePreview(Conflict):
    """The member list changed after the preview: the changes would not be the ones shown."""

    default_message = _l(
        "The member list changed after this preview was made. Please check the changes "
        "again before importing."
    )


class UploadNotFound(NotFound):
    default_message = _l("This upload could not be found. Please upload the file again.")


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class PersonChange:
    row: int
    name: str
    #: "create", "update" or "unchanged".
    action: str
    changed: list[Message] = field(default_factory=list)


@dataclass
class MemberChange:
    """What an import does to one member, as the preview lists it."""

    row: int
    number: str
    name: str
    action: str
    changed: list[Message] = field(default_factory=list)
    people: list[PersonChange] = field(default_factory=list)


@dataclass
class Preview:
    problems: list[Problem]
    changes: list[MemberChange] = field(default_factory=list)
    members: Counts = field(default_factory=Counts)
    people: Counts = field(default_factory=Counts)
    #: The rows of people read.
    rows: int = 0
    #: A digest of the changes shown, posted back with the import.
    digest: str = ""

    @property
    def shown_problems(self) -> list[Problem]:
        return self.problems[:MAX_PROBLEMS_SHOWN]

    @property
    def hidden_problems(self) -> int:
        return max(len(self.problems) - MAX_PROBLEMS_SHOWN, 0)

    @property
    def summary(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "members_created": self.members.created,
            "members_updated": self.members.updated,
            "members_unchanged": self.members.unchanged,
            "people_created": self.people.created,
            "people_updated": self.people.updated,
            "people_unchanged": self.people.unchanged,
        }


# --- the rows, checked -------------------------------------------------------------------


@dataclass
class Row:
    number: int
    cells: dict[str, object]
    #: The row's person as members.services checks it.
    person: PersonData | None = None

    def text(self, key: str) -> str:
        return cell_text(self.cells.get(key))


@dataclass
class Group:
    """The rows of one member, its values after the import, and what they match."""

    number: str
    rows: list[Row]
    #: The member in the list with this number, if any.
    member: Member | None = None
    #: number, name, name_kana, joined_on, note (and status when the file gives one).
    values: dict[str, Any] = field(default_factory=dict)
    kind: str | None = None
    #: The row each member value came from (for problems).
    sources: dict[str, int] = field(default_factory=dict)
    #: The person in the list each row updates (None: a new person).
    matched_people: list[MemberPerson | None] = field(default_factory=list)

    @property
    def first_row(self) -> int:
        return self.rows[0].number

    @property
    def people(self) -> list[tuple[Row, PersonData]]:
        return [(row, row.person) for row in self.rows if row.person is not None]

    @property
    def status(self) -> str:
        """The member's status after the import."""
        if "status" in self.values:
            return self.values["status"]
        return self.member.status if self.member else MemberStatus.active.value


class _Problems:
    def __init__(self, letters: dict[str, str]) -> None:
        self.letters = letters
        self.items: list[Problem] = []

    def add(self, row: int | None, key: str | None, message: Message) -> None:
        column = COLUMN_BY_KEY[key].label if key else None
        self.items.append(Problem(row, column, self.letters.get(key or ""), message))


def _header(
    values: list[object], rows: list[tuple[int, list[object]]], header_row: int
) -> tuple[dict[int, str], list[Problem]]:
    """Which column (by position) holds which field, and what is wrong with the names."""
    positions: dict[int, str] = {}
    seen: dict[str, int] = {}
    problems: list[Problem] = []
    for index, value in enumerate(values):
        name = cell_text(value)
        letter = get_column_letter(index + 1)
        if not name:
            if any(index < len(cells) and cell_text(cells[index]) for _, cells in rows):
                problems.append(Problem(header_row, None, letter, UNNAMED_COLUMN))
            continue
        key = HEADER_NAMES.get(_compact(name))
        if key is None:
            problems.append(Problem(header_row, name, letter, UNKNOWN_COLUMN))
        elif key in seen:
            problems.append(
                Problem(
                    header_row,
                    COLUMN_BY_KEY[key].label,
                    letter,
                    _l(
                        "This column appears twice (also in column %(letter)s).",
                        letter=get_column_letter(seen[key] + 1),
                    ),
                )
            )
        else:
            seen[key] = index
            positions[index] = key
    for column in COLUMNS:
        if column.required and column.key not in seen:
            problems.append(Problem(header_row, column.label, None, MISSING_COLUMN))
    return positions, problems


def _comparable(key: str, text: str) -> object:
    """A member value in the form that decides whether two rows say the same."""
    if key == "kind":
        return KIND_VALUES.get(_compact(text), text)
    if key == "status":
        return STATUS_VALUES.get(_compact(text), text)
    if key == "note":
        return normalise_multiline(text)
    if key == "name_kana":
        return katakana_to_hiragana(normalise_input(text)).replace(" ", "")
    return normalise_input(text)


@dataclass
class _List:
    """The member list as the checks read it: two queries, whatever the file's length."""

    by_number: dict[str, Member]
    #: Current (not removed) people by lower-cased address.
    people_by_email: dict[str, list[MemberPerson]]

    @classmethod
    def load(cls) -> _List:
        members = db.session.scalars(select(Member).options(selectinload(Member.people))).all()
        people: dict[str, list[MemberPerson]] = {}
        for member in members:
            for person in member.current_people:
                people.setdefault(person.email_normalized, []).append(person)
        return cls({member.number: member for member in members}, people)


def _read(content: bytes) -> tuple[list[Group], list[Problem], dict[str, str]]:
    """The file's rows, grouped by member and checked, on their own and against the
    member list. Raises UnreadableFile."""
    table = read_table(content)
    header_row, header_values, body = table.header_row, table.header, table.rows
    positions, header_problems = _header(header_values, body, header_row)
    letters = {key: get_column_letter(index + 1) for index, key in positions.items()}
    if header_problems:
        return [], header_problems, letters
    rows = [
        Row(number, {key: cells[i] for i, key in positions.items() if i < len(cells)})
        for number, cells in body
    ]
    problems = _Problems(letters)
    for row in rows:
        _check_person(row, problems)
    member_list = _List.load()
    groups: dict[str, Group] = {}
    for row in rows:
        number = normalise_input(row.text("number")) or _number_by_address(
            row, member_list, problems
        )
        if number:
            group = groups.setdefault(number, Group(number, []))
            group.rows.append(row)
    for group in groups.values():
        group.member = member_list.by_number.get(group.number)
        _check_group(group, letters, problems)
        group.matched_people = [_person_for(group, data) for _, data in group.people]
    _check_addresses(list(groups.values()), member_list, problems)
    return list(groups.values()), problems.items, letters


def _check_person(row: Row, problems: _Problems) -> None:
    """The row's person, as the console's form checks it."""
    errors: dict[str, Message] = {}
    row.person = _checked_person(
        errors,
        PersonData(
            name=row.text("person_name"),
            name_kana=row.text("person_kana"),
            email=row.text("email"),
            phone=row.text("phone"),
            department=row.text("department"),
            title=row.text("title"),
        ),
    )
    for key, message in errors.items():
        problems.add(row.number, PERSON_COLUMNS[key], message)


def _number_by_address(row: Row, member_list: _List, problems: _Problems) -> str:
    """A row without a member number belongs to the member whose person has its address
    (an active member's first)."""
    found = member_list.people_by_email.get(row.person.email.lower(), []) if row.person else []
    members = {person.member_id: person.member for person in found}
    if len(members) > 1:
        members = {p.member_id: p.member for p in found if p.is_active} or members
    if len(members) == 1:
        return next(iter(members.values())).number
    if members:
        message = _l(
            "Please enter the member number: this address belongs to people of several "
            "members (%(numbers)s).",
            numbers=", ".join(sorted(member.number for member in members.values())),
        )
    else:
        message = _l("Please enter the member number: no member in the list has this address.")
    problems.add(row.number, "number", message)
    return ""


def _check_group(group: Group, letters: dict[str, str], problems: _Problems) -> None:
    """The member's columns: one value for the member across its rows, each valid; a
    member's value left blank on all its rows stays as the list has it."""
    given: dict[str, tuple[int, object]] = {}
    for row in group.rows:
        for key in ("kind", "name", "name_kana", "status", "joined_on", "note"):
            if key not in letters or not row.text(key):
                continue
            if key == "joined_on":
                comparable: object = cell_date(row.cells[key])
                if comparable is None:
                    problems.add(row.number, key, DATE_FORMAT)
                    continue
            else:
                comparable = _comparable(key, row.text(key))
            if key not in given:
                given[key] = (row.number, comparable)
            elif given[key][1] != comparable:
                problems.add(
                    row.number,
                    key,
                    _l(
                        "Row %(row)d gives member %(number)s a different value in this column.",
                        row=given[key][0],
                        number=group.number,
                    ),
                )
    group.sources = {key: source for key, (source, _) in given.items()}
    member, first = group.member, group.first_row

    def text_of(key: str) -> str:
        source = group.sources.get(key)
        row = next((r for r in group.rows if r.number == source), None)
        if row is not None:
            return row.text(key)
        return getattr(member, key) if member else ""

    kind = given["kind"][1] if "kind" in given else (member.kind if member else None)
    if kind not in tuple(MemberKind):
        problems.add(group.sources.get("kind", first), "kind", KIND_WORD)
    elif member is not None and kind != member.kind:
        problems.add(
            group.sources["kind"],
            "kind",
            _l(
                "Member %(number)s is in the member list as %(kind)s: an import cannot "
                "change the kind.",
                number=member.number,
                kind=KIND_LABELS[member.kind],
            ),
        )
    group.kind = kind if kind in tuple(MemberKind) else None
    if "status" in given:
        if given["status"][1] not in tuple(MemberStatus):
            problems.add(group.sources["status"], "status", STATUS_WORD)
        else:
            group.values["status"] = given["status"][1]
    errors: dict[str, Message] = {}
    group.values.update(
        _checked_member(
            errors,
            number=group.number,
            name=text_of("name"),
            name_kana=text_of("name_kana"),
            note=text_of("note"),
            exclude_id=member.id if member else None,
        )
    )
    for key, message in errors.items():
        problems.add(group.sources.get(key, first), key, message)
    if "joined_on" in given:
        group.values["joined_on"] = given["joined_on"][1]
    else:
        group.values["joined_on"] = member.joined_on if member else None
    if group.kind == MemberKind.individual and len(group.rows) > 1:
        for row in group.rows[1:]:
            problems.add(
                row.number,
                "person_name",
                _l(
                    "An individual member has exactly one contact person: member "
                    "%(number)s already has one on row %(row)d.",
                    number=group.number,
                    row=first,
                ),
            )


def _person_for(group: Group, data: PersonData) -> MemberPerson | None:
    """The person a row updates: an individual member's one person, else the member's
    person with the row's address."""
    if group.member is None:
        return None
    current = group.member.current_people
    if group.member.kind == MemberKind.individual and len(current) == 1:
        return current[0]
    return next((p for p in current if p.email_normalized == data.email.lower()), None)


def _check_addresses(groups: list[Group], member_list: _List, problems: _Problems) -> None:
    """One address per person of the active members: in the file, and against the
    people of the other members in the list."""
    first_row_of: dict[str, tuple[int, Group]] = {}
    for group in groups:
        active = group.status == MemberStatus.active
        for row, data in group.people:
            address = data.email.lower()
            if not address:
                continue
            if address in first_row_of:
                earlier, other = first_row_of[address]
                if other is group or (active and other.status == MemberStatus.active):
                    problems.add(
                        row.number,
                        "email",
                        _l("This address is already on row %(row)d.", row=earlier),
                    )
                continue
            first_row_of[address] = (row.number, group)
            if not active:
                continue
            for person in member_list.people_by_email.get(address, []):
                if person.is_active and person.member is not group.member:
                    problems.add(
                        row.number,
                        "email",
                        _l(
                            "This address belongs to a contact person of another active "
                            "member (%(number)s %(name)s).",
                            number=person.member.number,
                            name=person.member.name,
                        ),
                    )


# --- what changes ------------------------------------------------------------------------


TARGET_FIELDS = ("number", "name", "name_kana", "joined_on", "note")


def _member_target(group: Group) -> dict[str, Any]:
    """The member's values after the import."""
    return {key: group.values[key] for key in TARGET_FIELDS}


def _person_target(
    data: PersonData, person: MemberPerson | None, letters: dict[str, str]
) -> PersonData:
    if person is None:
        return data
    return PersonData(
        **{
            name: getattr(data, name) if column in letters else getattr(person, name)
            for name, column in PERSON_COLUMNS.items()
        }
    )


def _plan(groups: list[Group], letters: dict[str, str], problems: _Problems) -> Preview:
    preview = Preview(problems=[])
    for group in groups:
        target = _member_target(group)
        member = group.member
        change = MemberChange(group.first_row, target["number"], target["name"], "create")
        if member is not None:
            change.action = "unchanged"
            change.changed = [
                COLUMN_BY_KEY[key].label
                for key in TARGET_FIELDS
                if getattr(member, key) != target[key]
            ]
            if group.status != member.status:
                change.changed.append(COLUMN_BY_KEY["status"].label)
        people_changed = False
        for (row, data), person in zip(group.people, group.matched_people, strict=True):
            wanted = _person_target(data, person, letters)
            if person is None:
                person_change = PersonChange(row.number, wanted.name, "create")
            else:
                changed = [
                    COLUMN_BY_KEY[column].label
                    for name, column in PERSON_COLUMNS.items()
                    if getattr(person, name) != getattr(wanted, name)
                ]
                person_change = PersonChange(
                    row.number, wanted.name, "update" if changed else "unchanged", changed
                )
            people_changed = people_changed or person_change.action != "unchanged"
            change.people.append(person_change)
            _count(preview.people, person_change.action)
        if member is not None and change.changed:
            change.action = "update"
        if member is not None and _stays_withdrawn(group) and (change.changed or people_changed):
            problems.add(
                group.sources.get("status", group.first_row),
                "status",
                _l(
                    "Member %(number)s has withdrawn, and an import does not change a "
                    "withdrawn member. To make it a member again, write 有効 or 休会 in "
                    "this column.",
                    number=member.number,
                ),
            )
        _count(preview.members, change.action)
        preview.changes.append(change)
    preview.rows = sum(len(group.rows) for group in groups)
    preview.digest = _digest(preview.changes, groups)
    return preview


def _stays_withdrawn(group: Group) -> bool:
    return (
        group.member is not None
        and group.member.status == MemberStatus.withdrawn
        and group.status == MemberStatus.withdrawn
    )


_COUNTED = {"create": "created", "update": "updated", "unchanged": "unchanged"}


def _count(counts: Counts, action: str) -> None:
    name = _COUNTED[action]
    setattr(counts, name, getattr(counts, name) + 1)


def _digest(changes: list[MemberChange], groups: list[Group]) -> str:
    """Changes to the same members and people with the same values have the same digest."""
    state = [
        [
            group.member.id if group.member else None,
            group.status,
            _member_target(group),
            [
                [person.id if person else None, vars(data)]
                for (_, data), person in zip(group.people, group.matched_people, strict=True)
            ],
            change.action,
            [p.action for p in change.people],
        ]
        for group, change in zip(groups, changes, strict=True)
    ]
    return hashlib.sha256(json.dumps(state, default=str, sort_keys=True).encode()).hexdigest()


# --- applying ----------------------------------------------------------------------------


class _Failed(ServiceError):
    """A refusal of members.services during the import, with the row it was for."""

    def __init__(self, row: int, person: bool, error: ServiceError) -> None:
        self.row, self.person, self.error = row, person, error
        super().__init__(error.message, error.field_errors, error.http_status)

    def problem(self, letters: dict[str, str]) -> Problem:
        key = next(iter(self.error.field_errors), "")
        name = key.rsplit("-", 1)[-1]
        if name == "people":
            column: str | None = "person_name"
        elif self.person or key.startswith("people-"):
            column = PERSON_COLUMNS.get(name)
        else:
            column = name if name in COLUMN_BY_KEY else None
        problems = _Problems(letters)
        problems.add(self.row, column, self.error.message)
        return problems.items[0]


class _DryRun(ServiceError):
    """Carries the preview out of the import's transaction, which rolls it back; caught
    at once by ``preview_file``."""

    def __init__(self, preview: Preview) -> None:
        self.preview = preview
        super().__init__()


def _call(row: int, person: bool, change: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return change(*args, **kwargs)
    except ServiceError as error:
        raise _Failed(row, person, error) from error


def _apply(groups: list[Group], letters: dict[str, str]) -> None:
    for group in groups:
        _apply_group(group, letters)


def _apply_group(group: Group, letters: dict[str, str]) -> None:
    target = _member_target(group)
    status = group.status
    member = group.member
    first = group.first_row
    if member is None:
        people = [data for _, data in group.people]
        created = _call(
            first, False, services.create_member, kind=group.kind, people=people, **target
        )
        if status == MemberStatus.lapsed:
            _call(first, False, services.update_member, created.id, status=status, **target)
        elif status == MemberStatus.withdrawn:
            _call(first, False, services.withdraw_member, created.id)
        return
    if member.status == MemberStatus.withdrawn and status != MemberStatus.withdrawn:
        _call(first, False, services.reactivate_member, member.id)
    # A member withdrawn by this import is changed first and withdrawn last; one that
    # stays withdrawn has nothing to change (the preview refuses it otherwise).
    kept_status = member.status if status == MemberStatus.withdrawn else status
    if kept_status == MemberStatus.withdrawn:
        kept_status = None
    if any(getattr(member, key) != value for key, value in target.items()) or (
        kept_status is not None and kept_status != member.status
    ):
        _call(first, False, services.update_member, member.id, status=kept_status, **target)
    for (row, data), person in zip(group.people, group.matched_people, strict=True):
        wanted = _person_target(data, person, letters)
        if person is None:
            _call(row.number, True, services.add_person, member.id, wanted)
        elif any(getattr(person, name) != getattr(wanted, name) for name in PERSON_COLUMNS):
            _call(row.number, True, services.update_person, person.id, wanted)
    if status == MemberStatus.withdrawn and member.status != MemberStatus.withdrawn:
        _call(first, False, services.withdraw_member, member.id)


def _examine(content: bytes) -> tuple[Preview, list[Group], dict[str, str]]:
    groups, problem_list, letters = _read(content)
    problems = _Problems(letters)
    problems.items = list(problem_list)
    if problems.items:
        return Preview(problems=_sorted(problems.items)), groups, letters
    preview = _plan(groups, letters, problems)
    preview.problems = _sorted(problems.items)
    return preview, groups, letters


def _sorted(problems: list[Problem]) -> list[Problem]:
    def where(problem: Problem) -> tuple[int, int, str]:
        letter = problem.letter or ""
        return (problem.row or 0, len(letter) or 99, letter)

    return sorted(problems, key=where)


def preview_file(content: bytes) -> Preview:
    """Every problem of the file, or the changes an import would make. The import is
    tried in a transaction that is rolled back, so a refusal of members.services shows
    here too. Raises UnreadableFile."""
    try:
        with write_transaction():
            preview, groups, letters = _examine(content)
            if not preview.problems:
                try:
                    _apply(groups, letters)
                except _Failed as failure:
                    preview.problems = [failure.problem(letters)]
            raise _DryRun(preview)
    except _DryRun as dry_run:
        return dry_run.preview


# --- uploads -----------------------------------------------------------------------------


def file_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def upload(filename: str, content: bytes, organizer_id: int) -> tuple[Preview, MemberImport | None]:
    """Check the file; when nothing is wrong, keep it for the import and return it with
    the preview. A file with problems is not kept. Raises UnreadableFile."""
    preview = preview_file(content)
    if preview.problems:
        return preview, None
    with write_transaction():
        db.session.execute(
            delete(MemberImport).where(
                MemberImport.applied_at.is_(None),
                MemberImport.created_at < utcnow() - UPLOAD_VALID_FOR,
            )
        )
        stored = MemberImport(
            organizer_id=organizer_id,
            filename=drop_forbidden_characters(filename, single_line=True).strip()[:255],
            sha256=file_digest(content),
            content=content,
        )
        db.session.add(stored)
    return preview, stored


def _upload_to_import(import_id: int, sha256: str, organizer_id: int) -> MemberImport:
    """The upload, locked for this transaction; another account's upload or a wrong
    digest is not found, one that was imported or waited too long is a Conflict."""
    stored = db.session.scalar(
        select(MemberImport)
        .where(MemberImport.id == import_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if stored is None or stored.organizer_id != organizer_id or stored.sha256 != sha256:
        raise UploadNotFound()
    if stored.applied_at is not None:
        raise Conflict(_l("This file has already been imported."))
    if stored.created_at < utcnow() - UPLOAD_VALID_FOR:
        raise Conflict(_l("This upload is more than a day old. Please upload the file again."))
    return stored


def import_upload(import_id: int, sha256: str, changes: str, organizer_id: int) -> Preview:
    """Import an upload whose preview had no problem, all or nothing, if the changes are
    still those the preview showed (``changes``: its digest). Raises UploadNotFound,
    Conflict, StalePreview (with a new preview) or ImportRefused (with the problems)."""
    with write_transaction():
        stored = _upload_to_import(import_id, sha256, organizer_id)
        preview, groups, letters = _examine(stored.content)
        if preview.problems:
            raise ImportRefused(preview.problems)
        if preview.digest != changes:
            raise StalePreview()
        try:
            _apply(groups, letters)
        except _Failed as failure:
            raise ImportRefused([failure.problem(letters)]) from failure
        stored.applied_at = utcnow()
        stored.summary = preview.summary
        stored.content = b""  # the people's data need not wait here any longer
        record_change(
            "member.import",
            "member_import",
            stored.id,
            after={"filename": stored.filename, "sha256": stored.sha256, **preview.summary},
        )
    return preview


def get_upload(import_id: int, organizer_id: int) -> MemberImport:
    stored = db.session.get(MemberImport, import_id)
    if stored is None or stored.organizer_id != organizer_id:
        raise UploadNotFound()
    return stored


# --- export ------------------------------------------------------------------------------


def headers() -> list[str]:
    return [column.header for column in COLUMNS]


def export_rows(members: Iterable[Member]) -> list[list[object]]:
    """One row per current person, the member's columns on every row, in the order given."""
    rows: list[list[object]] = []
    for member in members:
        for person in member.current_people:
            values: dict[str, object] = {
                "number": member.number,
                "kind": KIND_WORDS.get(member.kind, member.kind),
                "name": member.name,
                "name_kana": member.name_kana,
                "status": STATUS_WORDS.get(member.status, member.status),
                "joined_on": member.joined_on,
                "person_name": person.name,
                "person_kana": person.name_kana,
                "email": person.email,
                "phone": person.phone,
                "department": person.department,
                "title": person.title,
                "note": member.note,
            }
            rows.append([values[column.key] for column in COLUMNS])
    return rows


def record_export(file_format: str, rows: int, filters: dict[str, str]) -> None:
    """Downloads of personal data are logged like changes: who took the list, when."""
    with write_transaction():
        record_change(
            "members.export",
            "member",
            None,
            after={"format": file_format, "rows": rows, **filters},
        )
