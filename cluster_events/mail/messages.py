"""Building emails: rendering the template pairs into outbox rows at enqueue time (or
storing what a renderer needs to render them at delivery time), and turning an outbox
row into a MIME message for Flask-Mail at delivery time."""

from __future__ import annotations

import base64
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

import flask_mail
from flask import Flask, current_app
from flask_babel import force_locale

from cluster_events.errors import NotFound
from cluster_events.extensions import db
from cluster_events.models import OutboxMessage
from cluster_events.timefmt import TOKYO
from cluster_events.urls import site_root_url

#: 7-bit clean on the wire (base64 / quoted-printable bodies, RFC 2047 headers): no mail
#: server on the way needs to support 8BITMIME.
MIME_POLICY = policy.SMTP.clone(cte_type="7bit")
_SEND_TIME_VALUES = "mail_send_time_values"
_RENDERERS = "mail_renderers"

#: Works out, for one outbox row, the text that a placeholder stands for (None: leave it).
SendTimeValue = Callable[[OutboxMessage], "str | None"]
#: Renders, for one outbox row and the arguments stored with it, the message's text,
#: HTML and attachments when it is sent (the subject is the row's).
Renderer = Callable[[OutboxMessage, dict[str, Any]], "RenderedMail"]


def register_send_time_value(app: Flask, placeholder: str, value: SendTimeValue) -> None:
    """Have ``placeholder`` in a stored message replaced when the message is sent.

    For what must not be kept in the outbox, such as a secret personal link: the
    domain that writes the email stores the placeholder and tells mail how to
    work out the value from the row.
    """
    app.extensions.setdefault(_SEND_TIME_VALUES, {})[placeholder] = value


def register_renderer(app: Flask, name: str, render: Renderer) -> None:
    """Have rows queued with ``RenderedMail.when_sent(name, ...)`` rendered by ``render``
    when they are sent.

    For messages whose content the domain can make again from its own rows: queuing
    one stores its subject and a few arguments (what must stay as it was when it was
    queued), so the transaction that queues it does not pay for templates, calendar
    files or images. A renderer that raises, or a name nobody registered, is a message
    that cannot be built: retried and counted (``outbox.classify``), never lost.
    """
    app.extensions.setdefault(_RENDERERS, {})[name] = render


class UnknownRenderer(NotFound, LookupError):
    """An outbox row is to be rendered by a renderer this app does not have."""


def _content(row: OutboxMessage) -> tuple[str, str, list[dict[str, str]]]:
    """The row's text, HTML and attachments: as stored, or rendered now."""
    if not row.render_when_sent:
        return row.body_text, row.body_html, [dict(a) for a in row.attachments or []]
    name = row.render_when_sent.get("renderer", "")
    render = current_app.extensions.get(_RENDERERS, {}).get(name)
    if render is None:
        raise UnknownRenderer(f"no renderer {name!r} for outbox message {row.id}")
    mail = render(row, dict(row.render_when_sent.get("args") or {}))
    return mail.text, mail.html, [attachment.as_json() for attachment in mail.attachments]


def _fill_send_time_values(row: OutboxMessage, text: str, html: str) -> tuple[str, str]:
    for placeholder, value_of in current_app.extensions.get(_SEND_TIME_VALUES, {}).items():
        if placeholder not in text + html:
            continue
        value = value_of(row)
        if value is not None:
            text, html = text.replace(placeholder, value), html.replace(placeholder, value)
    return text, html


@dataclass
class Attachment:
    """A file carried by an outbox row. Binary data (the QR code) is kept base64-encoded,
    because the outbox column is JSON."""

    filename: str
    content_type: str
    data: str
    encoding: str = ""
    #: Set for images the HTML part shows inline (``<img src="cid:...">``).
    content_id: str = ""

    @classmethod
    def from_json(cls, values: dict[str, str]) -> Attachment:
        return cls(**values)

    @classmethod
    def inline_png(cls, png: bytes, filename: str, content_id: str) -> Attachment:
        return cls(
            filename, "image/png", base64.b64encode(png).decode("ascii"), "base64", content_id
        )

    def as_json(self) -> dict[str, str]:
        values = {"filename": self.filename, "content_type": self.content_type, "data": self.data}
        if self.encoding:
            values["encoding"] = self.encoding
        if self.content_id:
            values["content_id"] = self.content_id
        return values


@dataclass
class RenderedMail:
    subject: str
    text: str
    html: str
    attachments: list[Attachment] = field(default_factory=list)
    #: For a message rendered when it is sent (``when_sent``): the renderer and its
    #: arguments; text, html and attachments are then empty.
    renderer: str = ""
    renderer_args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def when_sent(cls, renderer: str, subject: Any, locale: str, **args: Any) -> RenderedMail:
        """A message that ``renderer`` (``register_renderer``) renders when it is sent,
        from its row and ``args`` (JSON values). The subject is written now, in
        ``locale``, as ``render_mail`` would write it."""
        return cls(
            subject=render_subject(subject, locale),
            text="",
            html="",
            renderer=renderer,
            renderer_args=args,
        )


def render_subject(subject: Any, locale: str) -> str:
    """``subject`` (perhaps a lazy string) in ``locale``, on one line."""
    with force_locale(locale):
        return " ".join(str(subject).split())


def render_mail(template: str, locale: str, subject: Any, context: dict[str, Any]) -> RenderedMail:
    """Render ``templates/email/<template>.txt`` and ``.html`` in ``locale``.

    ``subject`` and context values may be lazy strings (``lazy_gettext``): they are
    translated here, in the recipient's language. The app's Jinja environment is used
    directly rather than ``render_template``, so that rendering needs no request (the
    worker and cron have none) and no other area's context processor runs.
    """
    environment = current_app.jinja_env
    subject = render_subject(subject, locale)
    with force_locale(locale):
        values = {**site_context(locale), **context, "subject": subject, "locale": locale}
        text = environment.get_template(f"email/{template}.txt").render(values)
        html = environment.get_template(f"email/{template}.html").render(values)
    return RenderedMail(subject=subject, text=_tidy_text(text), html=html)


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy) + "\n"


def site_context(locale: str) -> dict[str, Any]:
    config = current_app.config
    english = locale == "en"
    return {
        "site_name": config["SITE_NAME_EN"] if english else config["SITE_NAME"],
        "site_footer_text": config["SITE_FOOTER_TEXT_EN"]
        if english
        else config["SITE_FOOTER_TEXT"],
        "site_contact_email": config["SITE_CONTACT_EMAIL"],
        "site_contact_phone": config["SITE_CONTACT_PHONE"],
        "site_contact_address": config["SITE_CONTACT_ADDRESS"],
        "site_url": site_root_url(),
        "label_separator": ": " if english else "：",
    }


def add_to_outbox(
    mail: RenderedMail,
    *,
    kind: str,
    recipient: str,
    event_id: int | None = None,
    registration_id: int | None = None,
    dedupe_key: str | None = None,
) -> OutboxMessage:
    """Add one message to the caller's transaction; the caller commits it."""
    message = OutboxMessage(
        kind=kind,
        recipient=recipient,
        subject=mail.subject,
        body_text=mail.text,
        body_html=mail.html,
        attachments=[attachment.as_json() for attachment in mail.attachments],
        render_when_sent={"renderer": mail.renderer, "args": mail.renderer_args}
        if mail.renderer
        else None,
        event_id=event_id,
        registration_id=registration_id,
        dedupe_key=dedupe_key,
    )
    db.session.add(message)
    return message


class OutboxMail(flask_mail.Message):
    """A Flask-Mail message built from an outbox row.

    Flask-Mail sends it (connection, signals, ``record_messages``), but the MIME tree
    is built here with the standard library, because Flask-Mail puts every
    attachment beside the text and HTML parts: an image that the HTML shows must sit
    with it in a multipart/related part for mail clients to display it inline.
    The Message-ID is derived from the outbox row, so that a message sent twice after
    a worker crash is recognisable as one message.
    """

    def __init__(self, row: OutboxMessage) -> None:
        config = current_app.config
        self.from_name, self.from_address = _sender(row)
        text, html, attachments = _content(row)
        text, html = _fill_send_time_values(row, text, html)
        super().__init__(
            subject=row.subject,
            recipients=[row.recipient],
            body=text,
            html=html or None,
            sender=self.from_address,  # the envelope sender; From is written in _message()
            reply_to=config.get("MAIL_REPLY_TO") or config["SITE_CONTACT_EMAIL"],
            extra_headers={"Auto-Submitted": "auto-generated"},
        )
        self.msgId = message_id(row)
        self.row_attachments = attachments

    def _message(self) -> EmailMessage:  # type: ignore[override]
        message = EmailMessage(policy=MIME_POLICY)
        message["Subject"] = self.subject
        message["From"] = Address(self.from_name, addr_spec=self.from_address)
        message["To"] = ", ".join(str(address) for address in self.recipients)
        message["Date"] = format_datetime(datetime.fromtimestamp(self.date or time.time(), TOKYO))
        message["Message-ID"] = self.msgId
        if self.reply_to and parseaddr(str(self.reply_to))[1] != self.from_address:
            message["Reply-To"] = self.reply_to
        for name, value in (self.extra_headers or {}).items():
            message[name] = value
        message.set_content(self.body or "")
        inline = [a for a in self.row_attachments if a.get("content_id")]
        files = [a for a in self.row_attachments if not a.get("content_id")]
        if self.html:
            message.add_alternative(self.html, subtype="html")
            html_part = message.get_payload()[-1]
            for attachment in inline:
                maintype, subtype = _split_type(attachment["content_type"])[0]
                html_part.add_related(
                    _attachment_bytes(attachment),
                    maintype=maintype,
                    subtype=subtype,
                    cid=f"<{attachment['content_id']}>",
                    filename=attachment["filename"],
                    disposition="inline",
                )
        for attachment in files:
            (maintype, subtype), params = _split_type(attachment["content_type"])
            if maintype == "text" and not attachment.get("encoding"):
                params.pop("charset", None)
                message.add_attachment(
                    attachment["data"],
                    subtype=subtype,
                    filename=attachment["filename"],
                    params=params,
                )
            else:
                message.add_attachment(
                    _attachment_bytes(attachment),
                    maintype=maintype,
                    subtype=subtype,
                    filename=attachment["filename"],
                    params=params,
                )
        return message


def _sender(row: OutboxMessage) -> tuple[str, str]:
    """Display name and address for From: MAIL_DEFAULT_SENDER, named after the site (in
    the recipient's language) when the setting gives a bare address."""
    config = current_app.config
    sender = config.get("MAIL_DEFAULT_SENDER") or config["SITE_CONTACT_EMAIL"]
    if isinstance(sender, tuple | list):
        return str(sender[0]), str(sender[1])
    name, address = parseaddr(sender)
    if not name:
        english = row.registration is not None and row.registration.locale == "en"
        name = config["SITE_NAME_EN"] if english else config["SITE_NAME"]
    return name, address


def _split_type(content_type: str) -> tuple[tuple[str, str], dict[str, str]]:
    main, *raw_params = (part.strip() for part in content_type.split(";"))
    maintype, _, subtype = main.partition("/")
    params = {}
    for raw in raw_params:
        name, _, value = raw.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return (maintype, subtype), params


def _attachment_bytes(attachment: dict[str, str]) -> bytes:
    if attachment.get("encoding") == "base64":
        return base64.b64decode(attachment["data"])
    return attachment["data"].encode("utf-8")


def message_id(row: OutboxMessage) -> str:
    sender = current_app.config.get("MAIL_DEFAULT_SENDER") or ""
    if isinstance(sender, tuple | list):
        sender = sender[1]
    domain = parseaddr(str(sender))[1].rpartition("@")[2] or "localhost"
    stamp = int(row.created_at.timestamp()) if row.created_at else 0
    return f"<outbox-{row.id}-{stamp}@{domain}>"


def tls_context() -> ssl.SSLContext:
    """TLS for SMTP (STARTTLS or SSL) checks the server's certificate and host name, as
    a browser does; MAIL_TLS_VERIFY = False turns that off for a server with a
    self-signed certificate on a trusted network."""
    context = ssl.create_default_context()
    if not current_app.config.get("MAIL_TLS_VERIFY", True):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class TimedConnection(flask_mail.Connection):
    """Flask-Mail's connection with what Flask-Mail itself does not offer: a socket
    timeout (MAIL_TIMEOUT), so a slow mail server cannot hold a request or a worker,
    TLS that verifies the server (``tls_context``), and a ``send`` that never reports
    success for a message the server did not take (see ``send``)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(current_app.extensions["mail"])
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP:
        state = self.mail
        context = tls_context()
        host: smtplib.SMTP
        if state.use_ssl:
            host = smtplib.SMTP_SSL(state.server, state.port, timeout=self.timeout, context=context)
        else:
            host = smtplib.SMTP(state.server, state.port, timeout=self.timeout)
        try:
            host.set_debuglevel(int(state.debug))
            if state.use_tls:
                host.starttls(context=context)
            if state.username and state.password:
                host.login(state.username, state.password)
        except BaseException:
            host.close()  # a refused STARTTLS or AUTH must not leave the socket open
            raise
        return host

    def send(self, message: flask_mail.Message, envelope_from: str | None = None) -> None:
        """Flask-Mail's ``send`` without its two traps: with no open connection it
        silently sends nothing (only MAIL_SUPPRESS_SEND may do that), and after
        MAIL_MAX_EMAILS messages it reconnects inside the call, so that a failed
        reconnect would look like a failure of a message the server had accepted.
        The caller reconnects when ``is_full``."""
        if self.host is None and not self.mail.suppress:
            raise smtplib.SMTPServerDisconnected("not connected to the mail server")
        if message.has_bad_headers():
            raise flask_mail.BadHeaderError
        if message.date is None:
            message.date = time.time()
        if self.host is not None:
            self.host.sendmail(
                flask_mail.sanitize_address(envelope_from or message.sender),
                list(flask_mail.sanitize_addresses(message.send_to)),
                message.as_bytes(),
                message.mail_options,
                message.rcpt_options,
            )
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        flask_mail.email_dispatched.send(app, message=message)
        self.num_emails += 1

    @property
    def is_full(self) -> bool:
        """MAIL_MAX_EMAILS messages went over this connection: open a new one."""
        limit = self.mail.max_emails
        return bool(limit) and self.num_emails >= limit

    def __exit__(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        if self.host is not None:
            try:
                self.host.quit()
            except (smtplib.SMTPException, OSError):
                self.host.close()
