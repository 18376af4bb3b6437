"""The base of every form of the site, and the validators that several forms share.

Every form subclasses :class:`Form` (tests/test_input.py walks the app and fails on a
form that does not refuse control characters), so no text field can forget the check.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict
from wtforms import Field, PasswordField, StringField, TextAreaField
from wtforms.csrf.core import CSRFTokenField
from wtforms.validators import StopValidation, ValidationError

from cluster_events.text import (
    FORBIDDEN_CHARACTERS,
    InvalidEmailAddress,
    drop_forbidden_characters,
    has_forbidden_characters,
    is_web_address,
    normalise_email_address,
)

FORBIDDEN_CHARACTERS_MESSAGE = _l(
    "This contained characters that cannot be used (invisible control characters). "
    "They have been removed: please check the text and send it again."
)
LINE_BREAKS_MESSAGE = _l(
    "Please write this on one line: line breaks and tabs cannot be used here. They have "
    "been replaced with spaces: please check the text and send it again."
)

_FROM_REQUEST = object()
_SUBMIT_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def is_single_line(field: Field) -> bool:
    """Names, subjects, addresses: no line breaks or tabs. Text areas keep them, and so do
    passwords, so that nobody whose password was pasted with a tab is locked out."""
    return not isinstance(field, TextAreaField | PasswordField)


def refuse_forbidden_characters(form: Any, field: Field) -> None:
    """The first validator of every text field: what was sent (before any filter could
    fold it away) holds no character of ``text.FORBIDDEN_CHARACTERS`` and, in a one-line
    field, no line break or tab. The form is shown again with them taken out."""
    single_line = is_single_line(field)
    sent = getattr(field, "raw_data", None) or [field.data]
    bad = [
        value
        for value in sent
        if isinstance(value, str) and has_forbidden_characters(value, single_line=single_line)
    ]
    if not bad:
        return
    if isinstance(field.data, str):
        field.data = drop_forbidden_characters(field.data, single_line=single_line)
    if any(FORBIDDEN_CHARACTERS.search(value) for value in bad):
        raise StopValidation(FORBIDDEN_CHARACTERS_MESSAGE)
    raise StopValidation(LINE_BREAKS_MESSAGE)


def _submitted_form_data() -> Any:
    """Like Flask-WTF, the request's form on a POST, but never a JSON body: no form of the
    site is sent as JSON, and JSON can carry numbers, lists and lone surrogates."""
    if request.method not in _SUBMIT_METHODS:
        return None
    if request.files:
        return CombinedMultiDict((request.files, request.form))
    return request.form or None


class Form(FlaskForm):
    """Every text field (``StringField`` and its kinds: text areas, passwords, hidden,
    email and search fields) refuses control characters before its own validators run."""

    class Meta(FlaskForm.Meta):
        def bind_field(self, form: Any, unbound_field: Any, options: dict[str, Any]) -> Field:
            field = super().bind_field(form, unbound_field, options)
            if isinstance(field, StringField) and not isinstance(field, CSRFTokenField):
                field.validators = [refuse_forbidden_characters, *field.validators]
            return field

    def __init__(self, formdata: Any = _FROM_REQUEST, **kwargs: Any) -> None:
        if formdata is _FROM_REQUEST:
            formdata = _submitted_form_data()
        super().__init__(formdata=formdata, **kwargs)


class GetForm(Form):
    """A form sent with GET (a search box): no CSRF token, read from the query string."""

    class Meta:
        csrf = False

    def __init__(self, formdata: Any = _FROM_REQUEST, **kwargs: Any) -> None:
        if formdata is _FROM_REQUEST:
            formdata = request.args
        super().__init__(formdata=formdata, **kwargs)


class EmailAddress:
    """A valid address, replaced by the form it is stored in
    (``text.normalise_email_address``)."""

    def __init__(self, message: Any = None) -> None:
        self.message = message or _l("Enter a valid email address, for example taro@example.jp.")

    def __call__(self, form: Any, field: Field) -> None:
        if not field.data:
            return
        try:
            field.data = normalise_email_address(field.data)
        except InvalidEmailAddress as error:
            raise ValidationError(self.message) from error


class WebAddress:
    """A complete http or https address (``text.is_web_address``)."""

    def __init__(self, message: Any = None) -> None:
        self.message = message or _l(
            "Enter the whole address of the page, starting with https:// (or http://)."
        )

    def __call__(self, form: Any, field: Field) -> None:
        if field.data and not is_web_address(field.data):
            raise ValidationError(self.message)
