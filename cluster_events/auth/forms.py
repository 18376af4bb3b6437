"""Forms of the login page and of the organizer's own password change."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from cluster_events.auth.services import MIN_PASSWORD_LENGTH
from cluster_events.forms import Form


class LoginForm(Form):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    next = HiddenField()


#: Made before the new-password fields, so that forms list (and report errors for) the
#: current password first: WTForms orders fields by when they were made.
_CURRENT_PASSWORD = PasswordField(_l("Current password"), validators=[DataRequired()])


class NewPasswordForm(Form):
    """A new password, typed twice (an admin's reset of someone else's)."""

    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)],
        description=_l("At least %(count)d characters.", count=MIN_PASSWORD_LENGTH),
    )
    password_again = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )


class PasswordChangeForm(NewPasswordForm):
    """An organizer's own change: the current password is asked again."""

    current_password = _CURRENT_PASSWORD
