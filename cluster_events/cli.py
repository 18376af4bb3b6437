"""Commands for operators and cron: `flask --app cluster_events <command>`; each domain
keeps its own command beside its rules, and this module adds them all to the app."""

from __future__ import annotations

import click
from flask import Flask


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Create demo venues, categories and events (safe to run twice)."""
    from cluster_events.demo import seed_demo

    created = seed_demo()
    click.echo(f"Demo data: {created} new events.")


@click.command("seed-demo-if-empty")
def seed_demo_if_empty_command() -> None:
    """Seed demo data only when the database holds no event yet (used by `make run`)."""
    from cluster_events.demo import database_is_empty, seed_demo

    if database_is_empty():
        created = seed_demo()
        click.echo(f"Empty database: added {created} demo events.")


def init_app(app: Flask) -> None:
    from cluster_events.auth.cli import create_organizer_command
    from cluster_events.mail import cli as mail_cli
    from cluster_events.members.cli import member_login_link_command
    from cluster_events.registration.purge import purge_personal_data_command
    from cluster_events.registration.reminders import send_reminders_command

    app.cli.add_command(purge_personal_data_command)
    app.cli.add_command(send_reminders_command)
    app.cli.add_command(create_organizer_command)
    app.cli.add_command(member_login_link_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(seed_demo_if_empty_command)
    mail_cli.init_app(app)
