"""Forms of the members' pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, HiddenField
from wtforms.validators import DataRequired, Length

from cluster_events.forms import EmailAddress, Form


class SignInForm(Form):
    """The address to send a sign-in link to; ``next`` is where to go after signing in
    (kept in this browser's session, the link itself carries nothing else)."""

    email = EmailField(
        _l("Email address"),
        validators=[
            DataRequired(_l("Please enter your email address.")),
            Length(max=254, message=_l("Please keep this within %(max)d characters.")),
            EmailAddress(),
        ],
        description=_l("The address the office has for you as a member."),
    )
    next = HiddenField()
