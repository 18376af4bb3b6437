"""Every public page answers in both languages, in the site's layout, with the
stylesheets it links to actually served."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cluster_events.database import utcnow
from cluster_events.extensions import db
from tests.factories import make_category, make_event

PUBLIC_PAGES = [
    "/",
    "/events/past",
    "/events/smoke-event",
    "/categories/smoke",
    "/about",
    "/privacy",
]


@pytest.fixture
def site(app):
    category = make_category(slug="smoke")
    make_event(slug="smoke-event", title="省エネ・環境経営セミナー", category=category)
    make_event(slug="smoke-past", category=category, starts_at=utcnow() - timedelta(days=5))
    db.session.commit()


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("url", PUBLIC_PAGES)
def test_public_pages_render(client, site, url, lang):
    response = client.get(url, query_string={"lang": lang})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    assert 'class="skip-link" href="#main"' in html
    assert '<main id="main"' in html
    assert 'name="viewport"' in html


def test_stylesheets_are_served(client, site):
    html = client.get("/").get_data(as_text=True)
    for path in ("/static/css/site.css", "/static/css/print.css"):
        assert f'href="{path}"' in html
        response = client.get(path)
        assert response.status_code == 200
        assert response.mimetype == "text/css"
        response.close()


def test_about_and_privacy_texts_come_from_configuration(app, client, site):
    about = client.get("/about").get_data(as_text=True)
    assert "2003年" in about  # the default association text in config.py
    app.config["SITE_PRIVACY_MARKDOWN"] = "## 当会の方針\n\n**大切に**扱います。"
    privacy = client.get("/privacy").get_data(as_text=True)
    assert "<h2>当会の方針</h2>" in privacy and "<strong>大切に</strong>" in privacy
    english = client.get("/privacy?lang=en").get_data(as_text=True)
    assert "当会の方針" in english  # no English text configured: the Japanese one is shown
    app.config["SITE_PRIVACY_MARKDOWN_EN"] = "## Our policy"
    assert "<h2>Our policy</h2>" in client.get("/privacy?lang=en").get_data(as_text=True)
