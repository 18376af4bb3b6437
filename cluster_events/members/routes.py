"""The members' own pages: sign-in by emailed link, My page and private feeds."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("members", __name__)


@bp.get("/members/login")
def login() -> str:
    """Placeholder until the sign-in form lands (issue 10, point 3)."""
    return render_template("members/login.html")
