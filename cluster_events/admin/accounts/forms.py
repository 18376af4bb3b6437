"""Forms for organizer accounts; the rules live in auth/services.py."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from cluster_events.admin.forms import normalise_address, strip_text
from cluster_events.auth.forms import NewPasswordForm
from cluster_events.auth.services import MIN_PASSWORD_LENGTH
from cluster_events.forms import EmailAddress, Form
from cluster_events.models import OrganizerRole

_ROLE_CHOICES = [
    SelectChoice(OrganizerRole.organizer.value, _l("Organizer: events and attendee lists")),
    SelectChoice(OrganizerRole.admin.value, _l("Admin: also organizer accounts and the audit log")),
]


class NewAccountForm(Form):
    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(), Length(max=254), EmailAddress()],
        filters=[normalise_address],
    )
    name = StringField(_l("Name"), validators=[Length(max=100)], filters=[strip_text])
    role = SelectField(_l("Role"), choices=_ROLE_CHOICES)
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)],
        description=_l(
            "At least %(count)d characters. Tell it to the person in person or by phone, "
            "not by email.",
            count=MIN_PASSWORD_LENGTH,
        ),
    )


class AccountForm(Form):
    name = StringField(_l("Name"), validators=[Length(max=100)], filters=[strip_text])
    role = SelectField(_l("Role"), choices=_ROLE_CHOICES)
    is_enabled = BooleanField(_l("May log in"))


#: An admin sets a new password for someone else's account.
PasswordResetForm = NewPasswordForm
