"""Behind a reverse proxy the app sees the client's address and scheme only when told
how many proxies to trust."""

import pytest
from flask import request

from cluster_events import create_app
from tests.conftest import base_test_config


@pytest.mark.parametrize(
    ("proxies", "expected"), [(0, ("127.0.0.1", "http")), (1, ("203.0.113.7", "https"))]
)
def test_forwarded_headers_are_trusted_only_when_configured(tmp_path, proxies, expected):
    config = base_test_config(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path)
    app = create_app({**config, "PROXY_COUNT": proxies})

    @app.get("/_whoami")
    def whoami():
        return f"{request.remote_addr} {request.scheme}"

    response = app.test_client().get(
        "/_whoami",
        headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert response.get_data(as_text=True) == " ".join(expected)
