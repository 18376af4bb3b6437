"""`flask --app cluster_events member-login-link EMAIL`: a sign-in URL without email."""

from __future__ import annotations

import click
from flask_babel import force_locale

from cluster_events.errors import ServiceError


@click.command("member-login-link")
@click.argument("email")
def member_login_link_command(email: str) -> None:
    """Print a sign-in URL (from SITE_URL) for the contact person of an active member
    with this address, for trying the members' pages locally. Like an emailed link, it
    works once, in any browser, for MEMBER_LOGIN_LINK_MINUTES minutes."""
    from cluster_events.members.sign_in import sign_in_link_for

    try:
        with force_locale("en"):
            url = sign_in_link_for(email)
    except ServiceError as error:
        with force_locale("en"):
            raise click.ClickException(str(error.message)) from error
    click.echo(url)
