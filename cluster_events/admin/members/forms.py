"""Forms for the member list; the rules live in members/services.py."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from cluster_events.admin.forms import normalise_address, strip_multiline, strip_text
from cluster_events.forms import Form
from cluster_events.models import MemberKind, MemberStatus

KIND_CHOICES = [
    SelectChoice(MemberKind.corporate.value, _l("Corporate member")),
    SelectChoice(MemberKind.individual.value, _l("Individual member")),
]
STATUS_LABELS = {
    MemberStatus.active.value: _l("Active"),
    MemberStatus.lapsed.value: _l("Lapsed"),
    MemberStatus.withdrawn.value: _l("Withdrawn"),
}


class MemberSearchForm(Form):
    """The list's search box and filters, sent by GET (no token: it changes nothing)."""

    class Meta:
        csrf = False

    q = StringField(
        _l("Search"),
        validators=[Length(max=200)],
        filters=[strip_text],
        description=_l("Name, reading, email address or member number"),
    )
    kind = SelectField(
        _l("Kind"), choices=[SelectChoice("", _l("All kinds")), *KIND_CHOICES], default=""
    )
    status = SelectField(
        _l("Status"),
        choices=[
            SelectChoice("", _l("All statuses")),
            *(SelectChoice(k, v) for k, v in STATUS_LABELS.items()),
        ],
        default="",
    )


class MemberForm(Form):
    number = StringField(
        _l("Member number"),
        validators=[DataRequired(), Length(max=32)],
        filters=[normalise_address],
    )
    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=200)],
        filters=[strip_text],
        description=_l(
            "The company's name for a corporate member, the person's for an individual."
        ),
    )
    name_kana = StringField(
        _l("Reading (furigana)"),
        validators=[DataRequired(), Length(max=200)],
        filters=[strip_text],
        description=_l("In hiragana or katakana; the list is sorted by it."),
    )
    joined_on = DateField(_l("Joined on"), validators=[Optional()])
    note = TextAreaField(
        _l("Note"),
        filters=[strip_multiline],
        description=_l("For the office only; never shown to the member."),
    )


class NewMemberForm(MemberForm):
    kind = RadioField(_l("Kind"), choices=KIND_CHOICES, validators=[DataRequired()])


class EditMemberForm(MemberForm):
    status = SelectField(
        _l("Status"),
        choices=[SelectChoice(key, STATUS_LABELS[key]) for key in ("active", "lapsed")],
        description=_l("To withdraw a member, use the button on the member's page."),
    )


class PersonForm(Form):
    name = StringField(
        _l("Name"), validators=[DataRequired(), Length(max=100)], filters=[strip_text]
    )
    name_kana = StringField(
        _l("Reading (furigana)"),
        validators=[DataRequired(), Length(max=100)],
        filters=[strip_text],
    )
    email = StringField(
        _l("Email address"),
        validators=[DataRequired(), Length(max=254)],
        filters=[normalise_address],
    )
    phone = StringField(_l("Phone"), validators=[Length(max=30)], filters=[normalise_address])
    department = StringField(_l("Department"), validators=[Length(max=100)], filters=[strip_text])
    title = StringField(_l("Title"), validators=[Length(max=100)], filters=[strip_text])


class MemberImportForm(Form):
    """The file to import (the one form of the site that takes a file: its view is
    marked ``request_checks.accepts_files``)."""

    file = FileField(
        _l("Member list file"),
        validators=[FileRequired(_l("Please choose the file to import."))],
        description=_l(
            "An Excel workbook (.xlsx) or a CSV file (UTF-8 or Shift_JIS), at most 1 MB."
        ),
    )


class ImportConfirmForm(Form):
    """The preview's button: which file (its SHA-256) and which changes it showed."""

    sha256 = HiddenField(validators=[DataRequired(), Length(min=64, max=64)])
    changes = HiddenField(validators=[DataRequired(), Length(min=64, max=64)])
