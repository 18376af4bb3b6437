"""Error pages in the site's layout and the reader's language."""

from __future__ import annotations

from flask import Flask, current_app, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError


def _render_http_error(error: HTTPException) -> tuple[str, int]:
    code = error.code or 500
    return render_template("errors/error.html", code=code, error=error), code


def _render_csrf_error(error: CSRFError) -> tuple[str, int]:
    return render_template("errors/error.html", code=400, error=error, csrf_failed=True), 400


def _render_unexpected_error(error: Exception) -> tuple[str, int]:
    current_app.logger.exception("Unhandled error", exc_info=error)
    return render_template("errors/error.html", code=500, error=InternalServerError()), 500


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _render_csrf_error)
    app.register_error_handler(HTTPException, _render_http_error)
    if not app.debug and not app.testing:
        app.register_error_handler(Exception, _render_unexpected_error)
