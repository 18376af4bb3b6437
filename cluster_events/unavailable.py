"""The database is away (restarted, connections cut, too busy to answer in time): a 503
page in the site's layout and the reader's language, with Retry-After, instead of a 500.

Nothing is half saved: every change runs in one transaction (transactions.py), so a
form whose request failed here was either saved whole or not at all, and sending it
again is safe. The engine checks each pooled connection before use (``pool_pre_ping``
in config.py), so the site recovers by itself once the database is back.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, make_response, render_template
from sqlalchemy import exc

from cluster_events.extensions import db

#: Seconds a client is asked to wait before trying again.
RETRY_AFTER_SECONDS = 10


def is_database_unavailable(error: BaseException) -> bool:
    """Errors of the connection or the server rather than of the statement: the
    driver's OperationalError (connection refused or cut, database not accepting
    connections, SQLite's "database is locked" after its busy timeout, a deadlock or
    serialization failure), a connection found dead, or no free connection in the
    pool in time."""
    if isinstance(error, (exc.OperationalError, exc.TimeoutError)):
        return True
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


def _render_unavailable(error: Exception) -> Response:
    if not is_database_unavailable(error):
        raise error  # a fault of the statement: the 500 page, as before
    current_app.logger.error("database unavailable, answered 503: %s", error)
    response = make_response(render_template("errors/unavailable.html"), 503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _end_session(error: BaseException | None) -> None:
    """End the request's session before Flask-SQLAlchemy does, so that a connection
    cut after the page was made (its closing ROLLBACK fails) does not turn a finished
    answer into the server's bare 500. The failed connection has been discarded by
    then (database.py marks it a disconnect); closing once more releases the session."""
    try:
        db.session.remove()
    except exc.DBAPIError as failure:
        if not is_database_unavailable(failure):
            raise
        current_app.logger.warning("database connection lost at the end of a request: %s", failure)
        db.session.remove()


def init_app(app: Flask) -> None:
    # Registered in testing too: the tests check this page, not a propagated error.
    for error_class in (exc.OperationalError, exc.TimeoutError, exc.InterfaceError):
        app.register_error_handler(error_class, _render_unavailable)
    # After Flask-SQLAlchemy's (db.init_app) so that it runs first: Flask runs
    # teardown functions in reverse order.
    app.teardown_appcontext(_end_session)
