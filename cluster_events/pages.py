"""Fixed pages an association replaces with its own text: privacy notice, about.

Each text comes from configuration (Markdown, Japanese and English) when set;
otherwise the template's generic wording is shown. An association can also
replace templates/pages/*.html as a whole.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from cluster_events.i18n import current_locale

bp = Blueprint("pages", __name__)


def _configured_text(key: str) -> str:
    """SITE_<KEY>_MARKDOWN, or its _EN variant on English pages (falling back to Japanese)."""
    config = current_app.config
    if current_locale() == "en" and config.get(f"{key}_EN"):
        return config[f"{key}_EN"]
    return config.get(key) or ""


@bp.get("/privacy")
def privacy():
    """個人情報の取り扱い."""
    return render_template(
        "pages/privacy.html", configured_text=_configured_text("SITE_PRIVACY_MARKDOWN")
    )


@bp.get("/about")
def about():
    return render_template(
        "pages/about.html", configured_text=_configured_text("SITE_ABOUT_MARKDOWN")
    )
