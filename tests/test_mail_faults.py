"""The outbox never marks a message sent that the server did not accept: a connection
that drops mid-batch and cannot be opened again leaves the rest queued, a message that
cannot be built does not stop the batch, STARTTLS checks the server's certificate, and
only an answer about one message fails that message: the server's or the session's
failures are never counted against it."""

from __future__ import annotations

import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask_mail import BadHeaderError
from sqlalchemy import select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.mail.messages import RenderedMail, add_to_outbox
from cluster_events.models import OutboxMessage, OutboxStatus
from tests.conftest import SMTPRecorder, free_port, sending_to


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
    assert (report.claimed, report.sent, report.deferred, report.failed) == (4, 1, 3, 0)
    statuses = [row.status for row in rows()]
    assert statuses == [OutboxStatus.sent] + [OutboxStatus.queued] * 3
    # The server's failure is nobody's attempt: nothing counts towards MAIL_MAX_ATTEMPTS.
    assert [(row.attempts, row.deferrals) for row in rows()[1:]] == [(0, 1)] * 3
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


@pytest.fixture
def ssl_server(self_signed_certificate) -> Iterator[SMTPRecorder]:
    cert, key = self_signed_certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder = SMTPRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port, ssl_context=context)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


def test_smtp_over_ssl_refuses_a_server_whose_certificate_it_cannot_verify(app, ssl_server):
    queue(1)
    state = app.extensions["mail"]
    state.port, state.use_ssl = ssl_server.port, True
    report = outbox.deliver_due()
    assert (report.sent, report.deferred, report.failed) == (0, 1, 0)
    assert "CERTIFICATE_VERIFY_FAILED" in rows()[0].last_error
    assert ssl_server.messages() == []

    app.config["MAIL_TLS_VERIFY"] = False
    assert outbox.deliver_due(now=utcnow() + timedelta(minutes=2)).sent == 1
    assert len(ssl_server.messages()) == 1


def test_starttls_refuses_a_server_whose_certificate_it_cannot_verify(app, starttls_server):
    queue(1)
    state = app.extensions["mail"]
    state.port, state.use_tls = starttls_server.port, True
    report = outbox.deliver_due()
    assert (report.sent, report.deferred, report.failed) == (0, 1, 0)
    (row,) = rows()
    assert (row.status, row.attempts) == (OutboxStatus.queued, 0)
    assert "CERTIFICATE_VERIFY_FAILED" in row.last_error
    assert starttls_server.messages() == []

    app.config["MAIL_TLS_VERIFY"] = False  # the operator's explicit choice
    assert outbox.deliver_due(now=utcnow() + timedelta(minutes=2)).sent == 1
    assert len(starttls_server.messages()) == 1


# --- whose fault a failure is ------------------------------------------------------------


class PickyServer(SMTPRecorder):
    """Answers RCPT and MAIL FROM as told, and counts the sessions opened (EHLO)."""

    def __init__(self) -> None:
        super().__init__()
        self.rcpt_answers: dict[str, str] = {}
        self.mail_answer: str | None = None
        self.sessions = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.sessions += 1
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_answer:
            return self.mail_answer
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.rcpt_answers:
            return self.rcpt_answers[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def picky_server(app) -> Iterator[PickyServer]:
    recorder = PickyServer()
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port)
    controller.start()
    app.extensions["mail"].port = recorder.port
    try:
        yield recorder
    finally:
        controller.stop()


def test_a_recipient_refused_with_5xx_fails_that_message_only(app, picky_server):
    queue(4)
    picky_server.rcpt_answers = {
        "person1@example.org": "550 5.1.1 No such user",
        "person2@example.org": "450 4.2.1 Mailbox busy, try later",
    }
    report = outbox.deliver_due()
    assert (report.sent, report.retrying, report.deferred, report.failed) == (2, 1, 0, 1)
    first, refused, busy, last = rows()
    assert first.status == last.status == OutboxStatus.sent
    assert (refused.status, refused.last_error) == (OutboxStatus.failed, "550 5.1.1 No such user")
    # A 4xx about one recipient is that message's own try: retried, and counted.
    assert (busy.status, busy.attempts, busy.deferrals) == (OutboxStatus.queued, 1, 0)
    assert picky_server.sessions == 1  # the session went on after both answers


def test_421_to_rcpt_is_the_session_closing_not_the_recipient(app, picky_server):
    queue(2)
    picky_server.rcpt_answers = {"person0@example.org": "421 4.3.2 Shutting down"}
    report = outbox.deliver_due()
    assert (report.sent, report.deferred, report.failed) == (1, 1, 0)
    closing, other = rows()
    assert (closing.status, closing.attempts, closing.deferrals) == (OutboxStatus.queued, 0, 1)
    assert other.status == OutboxStatus.sent
    assert picky_server.sessions == 2  # a new session for the rest


def test_a_refused_sender_is_the_session_s_fault_and_fails_nothing(app, picky_server):
    queue(3)
    picky_server.mail_answer = "553 5.7.1 Sender address not allowed"
    report = outbox.deliver_due()
    assert (report.sent, report.deferred, report.failed) == (0, 3, 0)
    assert {(row.status, row.attempts) for row in rows()} == {(OutboxStatus.queued, 0)}
    assert picky_server.sessions == 2  # tried once more on a new connection, then gave way


def test_a_connection_failure_on_the_last_allowed_try_fails_nothing(app, smtp_server):
    """The rotated-password run that left 45 of 45 messages failed, in small."""
    ids = queue(5)
    for message_id in ids:
        db.session.get(OutboxMessage, message_id).attempts = 3  # MAIL_MAX_ATTEMPTS - 1
    db.session.commit()
    app.extensions["mail"].port = free_port()  # nothing listens there
    report = outbox.deliver_due()
    assert (report.deferred, report.failed) == (5, 0)
    assert {(row.status, row.attempts) for row in rows()} == {(OutboxStatus.queued, 3)}


def test_after_mail_max_emails_a_new_connection_is_opened(app, picky_server):
    app.extensions["mail"].max_emails = 2
    queue(5)
    assert outbox.deliver_due().sent == 5
    assert picky_server.sessions == 3
    assert len(picky_server.messages()) == 5


def test_a_connection_that_is_not_open_never_pretends_to_send(app):
    from cluster_events.mail.messages import OutboxMail, TimedConnection

    (message_id,) = queue(1)
    connection = TimedConnection(timeout=1)  # never entered: no connection to a server
    with pytest.raises(smtplib.SMTPServerDisconnected):
        connection.send(OutboxMail(db.session.get(OutboxMessage, message_id)))


def test_a_batch_out_of_time_gives_its_claims_back_at_once(app, smtp_server):
    app.config["MAIL_LEASE_SECONDS"] = 1  # shorter than MAIL_TIMEOUT: no time to send
    queue(3)
    report = outbox.deliver_due()
    assert (report.claimed, report.sent) == (3, 0)
    for row in rows():
        assert (row.status, row.attempts, row.locked_until) == (OutboxStatus.queued, 0, None)
    app.config["MAIL_LEASE_SECONDS"] = 0
    assert outbox.deliver_due().sent == 3


@pytest.mark.parametrize(
    ("error", "fault"),
    [
        (ConnectionRefusedError(111, "Connection refused"), outbox.Fault.session),
        (TimeoutError("timed out"), outbox.Fault.session),
        (ssl.SSLCertVerificationError("certificate verify failed"), outbox.Fault.session),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), outbox.Fault.session),
        (smtplib.SMTPConnectError(421, b"Too many connections"), outbox.Fault.session),
        (smtplib.SMTPHeloError(501, b"Bad HELO"), outbox.Fault.session),
        (smtplib.SMTPAuthenticationError(535, b"Bad credentials"), outbox.Fault.session),
        (smtplib.SMTPAuthenticationError(534, b"Web login required"), outbox.Fault.session),
        (smtplib.SMTPResponseException(454, b"TLS not available"), outbox.Fault.session),
        (smtplib.SMTPNotSupportedError("STARTTLS extension not supported"), outbox.Fault.session),
        (smtplib.SMTPSenderRefused(553, b"Sender not allowed", "o@x"), outbox.Fault.session),
        (smtplib.SMTPSenderRefused(530, b"Auth required", "o@x"), outbox.Fault.session),
        (smtplib.SMTPSenderRefused(552, b"Message too big", "o@x"), outbox.Fault.permanent),
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"No such user")}), outbox.Fault.permanent),
        (smtplib.SMTPRecipientsRefused({"a@x": (551, b"Not local")}), outbox.Fault.permanent),
        (smtplib.SMTPRecipientsRefused({"a@x": (553, b"Bad address")}), outbox.Fault.permanent),
        (smtplib.SMTPRecipientsRefused({"a@x": (450, b"Busy")}), outbox.Fault.temporary),
        (smtplib.SMTPRecipientsRefused({"a@x": (421, b"Closing")}), outbox.Fault.session),
        (smtplib.SMTPDataError(554, b"Refused as spam"), outbox.Fault.permanent),
        (smtplib.SMTPDataError(451, b"Try again later"), outbox.Fault.temporary),
        (smtplib.SMTPDataError(421, b"Closing"), outbox.Fault.session),
        (smtplib.SMTPDataError(503, b"Bad sequence"), outbox.Fault.session),
        (BadHeaderError(), outbox.Fault.permanent),
        (KeyError("content_type"), outbox.Fault.temporary),
    ],
)
def test_whose_fault_each_error_is(error, fault):
    assert outbox.classify(error) is fault


def test_mail_worker_once_stops_its_round_when_the_server_is_unreachable(app, runner):
    app.extensions["mail"].port = free_port()  # nothing listens there
    queue(5)
    result = runner.invoke(args=["mail-worker", "--once", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "Sent 0, to retry 2, failed 0." in result.output
    # The first batch went back with backoff; the rest was not tried against a dead server.
    assert [(row.status, row.deferrals) for row in rows()] == [
        (OutboxStatus.queued, 1),
        (OutboxStatus.queued, 1),
        (OutboxStatus.queued, 0),
        (OutboxStatus.queued, 0),
        (OutboxStatus.queued, 0),
    ]
