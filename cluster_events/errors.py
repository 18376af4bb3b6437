"""The one domain error, and error pages in the site's layout and the reader's language.

Services refuse a change by raising ``ServiceError`` (or a subclass): a message for
the whole request, messages for single form fields, and the HTTP status the page
answers with. Views turn it into a page with one of the helpers below; an error
that no view handles becomes the error page with its status (a ``NotFound``
anywhere is the 404 page).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, flash, render_template
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

Message = str | LazyString


class ServiceError(Exception):
    """A change the rules refuse; nothing was saved.

    ``message`` is shown for the whole request; ``field_errors`` maps form field
    names to messages shown beside those fields. Messages may be lazy strings:
    they are translated in the language of the page that shows them.
    """

    http_status = 400
    default_message: Message = _l("This could not be done.")

    def __init__(
        self,
        message: Message | None = None,
        field_errors: Mapping[str, Message] | None = None,
        http_status: int | None = None,
    ) -> None:
        self.field_errors = dict(field_errors or {})
        if message is None:
            message = (
                " ".join(str(text) for text in self.field_errors.values())
                if self.field_errors
                else self.default_message
            )
        self.message = message
        if http_status is not None:
            self.http_status = http_status
        super().__init__(message)


class NotFound(ServiceError):
    """What the request names does not exist (or is not the caller's to see)."""

    http_status = 404
    default_message = _l("This could not be found.")


class Conflict(ServiceError):
    """The request cannot be done in the current state (already cancelled, full, ...)."""

    http_status = 409


def flash_error(error: ServiceError) -> None:
    """Show the refusal at the top of the next page (the view then redirects).
    A NotFound is not flashed: it goes on to become the 404 page."""
    if isinstance(error, NotFound):
        raise error
    flash(str(error.message), "error")


def show_on_form(form: Any, error: ServiceError, *, default_field: str | None = None) -> None:
    """Attach the refusal to the form shown again: each field error beside its field,
    the rest above the form (or beside ``default_field``). A NotFound goes on to
    become the 404 page."""
    if isinstance(error, NotFound):
        raise error
    messages = error.field_errors or {default_field or "": error.message}
    for name, message in messages.items():
        if name and name in form:
            form[name].errors = [*form[name].errors, str(message)]
        else:
            form.form_errors.append(str(message))


def _render_service_error(error: ServiceError) -> tuple[str, int]:
    """A refusal no view handled: the error page, saying why (a 404 page says no more
    than any other 404 page)."""
    code = error.http_status
    message = None if isinstance(error, NotFound) else error.message
    return render_template("errors/error.html", code=code, message=message), code


def _render_http_error(error: HTTPException) -> tuple[str, int]:
    code = error.code or 500
    return render_template("errors/error.html", code=code, error=error), code


def _render_untrusted_host(error: SecurityError) -> tuple[str, int]:
    """A Host outside TRUSTED_HOSTS: Flask made no URL adapter for it, so the page's
    links are built for SITE_URL (relative, as on every page)."""
    from flask.globals import request_ctx

    from cluster_events.urls import site_url_adapter

    if request_ctx.url_adapter is None:
        request_ctx.url_adapter = site_url_adapter()
    return _render_http_error(error)


def _render_csrf_error(error: CSRFError) -> tuple[str, int]:
    return render_template("errors/error.html", code=400, error=error, csrf_failed=True), 400


def _render_unexpected_error(error: Exception) -> tuple[str, int]:
    current_app.logger.exception("Unhandled error", exc_info=error)
    return render_template("errors/error.html", code=500, error=InternalServerError()), 500


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _render_csrf_error)
    app.register_error_handler(HTTPException, _render_http_error)
    app.register_error_handler(SecurityError, _render_untrusted_host)
    app.register_error_handler(ServiceError, _render_service_error)
    if not app.debug and not app.testing:
        app.register_error_handler(Exception, _render_unexpected_error)
