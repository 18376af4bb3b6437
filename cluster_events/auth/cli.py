"""`flask --app cluster_events create-organizer EMAIL [--admin] [--name NAME]`."""

from __future__ import annotations

import os

import click
from flask_babel import force_locale

from cluster_events.models import OrganizerRole

PASSWORD_ENV = "CLUSTER_EVENTS_ORGANIZER_PASSWORD"


@click.command("create-organizer")
@click.argument("email")
@click.option("--admin", "is_admin", is_flag=True, help="Also manages organizer accounts.")
@click.option("--name", default="", help="Name shown in the console and the audit log.")
def create_organizer_command(email: str, is_admin: bool, name: str) -> None:
    """Create an organizer account. The password is asked twice, or read from
    the environment variable CLUSTER_EVENTS_ORGANIZER_PASSWORD (for scripts)."""
    from cluster_events.auth.services import AccountError, create_organizer

    password = os.environ.get(PASSWORD_ENV) or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    role = OrganizerRole.admin if is_admin else OrganizerRole.organizer
    try:
        with force_locale("en"):
            organizer = create_organizer(email, password, name=name, role=role, audit=False)
    except AccountError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"Created {organizer.role} account {organizer.email}.")
