"""Email: notifications written to an outbox in the caller's transaction, delivered
after commit (inline or by the worker), and reminders."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from cluster_events.mail import outbox

    outbox.init_app(app)
