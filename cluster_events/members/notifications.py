"""The emails a member gets from the members' side: the sign-in link.

Like the registrants' emails, each function only adds an outbox row to the caller's
transaction (mail's ``add_to_outbox``), rendered at once in the member's language.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l

from cluster_events import timefmt
from cluster_events.mail.messages import add_to_outbox, render_mail
from cluster_events.models import MemberPerson, OutboxMessage

SIGN_IN_KIND = "member_sign_in"


def queue_sign_in_link(
    person: MemberPerson,
    *,
    locale: str,
    link: str,
    expires_at: datetime,
    minutes: int,
    dedupe_key: str,
) -> OutboxMessage:
    """``link`` is what the email shows as the sign-in link: members/sign_in.py gives a
    placeholder that mail fills in when it sends the message (the outbox never holds a
    working link), and ``dedupe_key`` lets it work the link out again."""
    mail = render_mail(
        "member_sign_in",
        locale,
        _l("Your sign-in link: %(site)s", site=_site_name(locale)),
        {
            "name": person.name,
            "sign_in_url": link,
            "valid_until": timefmt.format_datetime(expires_at, locale),
            "minutes": minutes,
        },
    )
    return add_to_outbox(mail, kind=SIGN_IN_KIND, recipient=person.email, dedupe_key=dedupe_key)


def _site_name(locale: str) -> str:
    config = current_app.config
    return config["SITE_NAME_EN"] if locale == "en" else config["SITE_NAME"]
