"""Fixed pages an association replaces with its own text: privacy notice, about."""

from flask import Blueprint, render_template

bp = Blueprint("pages", __name__)


@bp.get("/privacy")
def privacy():
    """個人情報の取り扱い."""
    return render_template("pages/privacy.html")


@bp.get("/about")
def about():
    return render_template("pages/about.html")
