"""The outbox never marks a message sent that the server did not accept: a connection
that drops mid-batch and cannot be opened again leaves the rest queued, a message that
cannot be built does not stop the batch, and STARTTLS checks the server's certificate."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.mail.messages import RenderedMail, add_to_outbox
from cluster_events.models import OutboxMessage, OutboxStatus
from tests.conftest import SMTPRecorder, sending_to


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {**app_config, **sending_to(smtp_server), "MAIL_TIMEOUT": 5, "MAIL_MAX_ATTEMPTS": 4}


def queue(count: int) -> list[int]:
    ids = []
    for number in range(count):
        mail = RenderedMail(subject=f"お知らせ {number}", text="本文\n", html="")
        message = add_to_outbox(mail, kind="test", recipient=f"person{number}@example.org")
        db.session.flush()
        ids.append(message.id)
    db.session.commit()
    return ids


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


class DroppingServer(SMTPRecorder):
    """Accepts the first message, then stops listening and drops the connection in the
    middle of the second one, as a mail server does when it restarts."""

    controller: Controller

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.envelopes:
            return await super().handle_DATA(server, session, envelope)
        self.controller.server.close()  # new connections are refused from now on
        server.transport.close()  # and this one is cut before the reply
        return "421 4.3.0 Closing"


@pytest.fixture
def dropping_server() -> Iterator[DroppingServer]:
    recorder = DroppingServer()
    recorder.controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port)
    recorder.controller.start()
    try:
        yield recorder
    finally:
        recorder.controller.stop()


def test_a_connection_lost_mid_batch_leaves_the_rest_queued_not_sent(
    app, dropping_server, smtp_server
):
    queue(4)
    app.extensions["mail"].port = dropping_server.port
    report = outbox.deliver_due()
    assert (report.claimed, report.sent, report.retrying, report.failed) == (4, 1, 3, 0)
    statuses = [row.status for row in rows()]
    assert statuses == [OutboxStatus.sent] + [OutboxStatus.queued] * 3
    assert len(dropping_server.messages()) == 1

    app.extensions["mail"].port = smtp_server.port  # the server is back
    assert outbox.deliver_due(now=utcnow() + timedelta(minutes=2)).sent == 3
    received = [m["Subject"] for m in dropping_server.messages() + smtp_server.messages()]
    assert sorted(received) == [f"お知らせ {n}" for n in range(4)]
    assert all(row.status == OutboxStatus.sent for row in rows())


def test_a_message_that_cannot_be_built_does_not_stop_the_batch(app, smtp_server):
    first, second, third = queue(3)
    broken = db.session.get(OutboxMessage, second)
    broken.attachments = [{"filename": "x.bin"}]  # no content type, no data
    db.session.commit()
    report = outbox.deliver_due()
    assert (report.sent, report.retrying) == (2, 1)
    by_id = {row.id: row for row in rows()}
    assert by_id[first].status == by_id[third].status == OutboxStatus.sent
    assert by_id[second].status == OutboxStatus.queued
    assert by_id[second].locked_until is None  # released at once, not held for the lease
    assert "KeyError" in by_id[second].last_error


@pytest.fixture(scope="module")
def self_signed_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def starttls_server(self_signed_certificate) -> Iterator[SMTPRecorder]:
    cert, key = self_signed_certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder = SMTPRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port, tls_context=context)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


def test_starttls_refuses_a_server_whose_certificate_it_cannot_verify(app, starttls_server):
    queue(1)
    state = app.extensions["mail"]
    state.port, state.use_tls = starttls_server.port, True
    report = outbox.deliver_due()
    assert (report.sent, report.retrying) == (0, 1)
    (row,) = rows()
    assert row.status == OutboxStatus.queued
    assert "CERTIFICATE_VERIFY_FAILED" in row.last_error
    assert starttls_server.messages() == []

    app.config["MAIL_TLS_VERIFY"] = False  # the operator's explicit choice
    assert outbox.deliver_due(now=utcnow() + timedelta(minutes=2)).sent == 1
    assert len(starttls_server.messages()) == 1
