"""Browser tests: the real app, served over HTTP by a server thread on a migrated
SQLite file, driven by headless Chromium (Debian's ``chromium``) through Playwright.

They run on SQLite only: what they check (pages, forms, links, accessibility,
mail) does not depend on the database, which the rest of the suite covers twice.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from cluster_events import PROJECT_ROOT
from cluster_events.extensions import db

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS_DIR = PROJECT_ROOT / "test-artifacts"


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """Replaces the suite's sqlite/postgresql parametrization with SQLite alone."""
    path = tmp_path / "cluster_events.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The browser submits real forms, so CSRF protection stays on."""
    return {**app_config, "WTF_CSRF_ENABLED": True}


@dataclass
class LiveServer:
    app: Flask
    url: str

    def __call__(self, path: str = "/") -> str:
        return self.url + path


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The app behind a threaded werkzeug server on a free loopback port.

    SITE_URL points at the server, so links built outside requests (emails)
    lead back to it. Data committed by the test is visible to the server at once.
    """
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["SITE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app=app, url=url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        db.session.remove()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip(
            "Browser tests skipped: no Chromium found on PATH "
            "(install Debian's package: apt-get install chromium)"
        )
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # the default 5 s is short on a busy CI machine

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """``new_page()`` opens a page in a fresh browser profile (no cookies), as another
    person on another computer; its preferred language is Japanese unless given.
    Other keywords go to Playwright's ``new_context`` (``java_script_enabled=False``)."""
    contexts = []

    def open_page(locale: str = "ja-JP", **options: Any) -> Any:
        context = browser.new_context(locale=locale, timezone_id="Asia/Tokyo", **options)
        context.set_default_timeout(30_000)  # generous: CI machines can be busy
        contexts.append(context)
        return context.new_page()

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(new_page: Any) -> Any:
    return new_page()


@pytest.fixture
def artifacts_dir() -> Path:
    """Screenshots land here (gitignored) for a person to look at."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR


@pytest.fixture
def catalogue(app: Flask) -> list[Any]:
    """The demo data (``flask seed-demo``); returns the upcoming public events."""
    from sqlalchemy import select

    from cluster_events.database import utcnow
    from cluster_events.demo import seed_demo
    from cluster_events.models import Event, EventStatus

    assert seed_demo().events > 0
    return list(
        db.session.scalars(
            select(Event)
            .where(
                Event.status == EventStatus.published,
                Event.is_members_only.is_(False),
                Event.starts_at > utcnow(),
            )
            .order_by(Event.starts_at)
        )
    )


def mailing_inline(smtp_server: Any) -> dict[str, Any]:
    """Settings that send each email to ``smtp_server`` right after the response."""
    from tests.conftest import sending_to

    return {
        **sending_to(smtp_server),
        "MAIL_DELIVERY": "inline",
        # The SMTP server shares this process with the browser and the web server; on a
        # busy CI machine its answer can take longer than the inline default of 5 s.
        "MAIL_INLINE_TIMEOUT": 30,
    }
