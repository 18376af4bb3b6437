"""docs/security.md stays true: every security header the app sends is explained there,
and every setting it tells the operator to set is one the app reads."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

SECURITY_DOC = Path(__file__).resolve().parent.parent / "docs" / "security.md"
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Strict-Transport-Security",
    "Permissions-Policy",
)
NOT_SETTINGS = {"DENY", "PERSONAL_URL_MARK"}


def test_every_header_the_app_sends_is_explained(app: Flask, client) -> None:
    app.config["SITE_URL"] = "https://events.example.org"
    sent = client.get("/").headers
    doc = SECURITY_DOC.read_text(encoding="utf-8")
    for header in SECURITY_HEADERS:
        assert header in sent, header
        assert f"`{header}`" in doc, f"docs/security.md does not explain {header}"


def test_every_setting_the_doc_names_exists(app: Flask) -> None:
    doc = SECURITY_DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`(?:FLASK_)?([A-Z][A-Z0-9_]{3,})(?:=[^`]*)?`", doc)) - NOT_SETTINGS
    assert {"SECRET_KEY", "SITE_URL", "PROXY_COUNT", "TRUSTED_HOSTS"} <= named
    unknown = {name for name in named if name not in app.config}
    assert unknown == set(), f"docs/security.md names settings the app does not read: {unknown}"
