"""What every request is held to before a view sees it.

- A form body holds named text fields only. Every field a browser sends has a name, and
  only one view takes a file (the member list's import, marked ``@accepts_files``). A
  multipart part without a name reached Flask-WTF's CSRF check as a ``None`` key, and a
  file part named like a text field reached WTForms as a FileStorage: both were 500s.
  Such parts are dropped while the body is parsed, so the form sees the field as
  missing and says so. A view marked ``@accepts_files("name")`` gets the first file part
  of each named field and no other; the body is held to ``MAX_CONTENT_LENGTH`` all the
  same.
- A value in the URL path (a slug, a token, a code) never holds a control character:
  no address of the site has one, and PostgreSQL refuses a NUL in a query (a 500). Such
  an address is not found (404), whichever route it matches.
- ``refuse_nul_bytes``, for the login page and the console: a NUL in the query string or
  the form is a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import IO, Any

from flask import Flask, Request, abort, current_app, request
from werkzeug.formparser import FormDataParser

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


_ACCEPTED_FILES = "accepted_files"


def accepts_files(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a view whose form takes an uploaded file in each of the named fields."""

    def mark(view: Callable[..., Any]) -> Callable[..., Any]:
        setattr(view, _ACCEPTED_FILES, frozenset(names))
        return view

    return mark


class TextFieldsParser(FormDataParser):
    #: The file fields the view of this request takes (see ``accepts_files``).
    accepted_files: frozenset[str] = frozenset()

    def parse(
        self,
        stream: IO[bytes],
        mimetype: str,
        content_length: int | None,
        options: dict[str, str] | None = None,
    ) -> tuple[IO[bytes], Any, Any]:
        stream, form, files = super().parse(stream, mimetype, content_length, options)
        if None in form:
            form = self.cls(item for item in form.items(multi=True) if item[0] is not None)
        kept: list[tuple[str, Any]] = []
        for name, upload in files.items(multi=True):
            if name in self.accepted_files and name not in dict(kept):
                kept.append((name, upload))
            else:
                upload.close()
        return stream, form, self.cls(kept)


class SiteRequest(Request):
    form_data_parser_class = TextFieldsParser

    def make_form_data_parser(self) -> FormDataParser:
        parser = super().make_form_data_parser()
        if isinstance(parser, TextFieldsParser) and self.url_rule is not None:
            view = current_app.view_functions.get(self.url_rule.endpoint)
            parser.accepted_files = getattr(view, _ACCEPTED_FILES, frozenset())
        return parser


def _refuse_control_characters_in_path() -> None:
    values = request.view_args or {}
    if any(
        isinstance(value, str) and _CONTROL_CHARACTERS.search(value) for value in values.values()
    ):
        abort(404)


def refuse_nul_bytes() -> None:
    """No form or address ever needs a NUL character, and PostgreSQL cannot store one:
    a 400 for a NUL in the query string or the form (the login page and the console)."""
    values = [*request.args.listvalues(), *request.form.listvalues()]
    if any("\x00" in value for group in values for value in group):
        abort(400)


def init_app(app: Flask) -> None:
    app.request_class = SiteRequest
    app.before_request(_refuse_control_characters_in_path)
