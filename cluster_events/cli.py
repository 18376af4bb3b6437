"""Commands for operators and cron: `flask --app cluster_events <command>`; each domain
keeps its own command beside its rules, and this module adds them all to the app.
`purge-personal-data` lives here because it runs two domains' purges (registration may
not import members)."""

from __future__ import annotations

import click
from flask import Flask, current_app


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Create demo venues, categories, events and members (safe to run twice)."""
    from cluster_events.demo import seed_demo

    created = seed_demo()
    click.echo(f"Demo data: {created.events} new events, {created.members} new members.")
    _echo_sign_in_hint()


@click.command("seed-demo-if-empty")
def seed_demo_if_empty_command() -> None:
    """Seed demo data only when the database holds no event yet (used by `make run`)."""
    from cluster_events.demo import database_is_empty, seed_demo

    if database_is_empty():
        created = seed_demo()
        click.echo(
            f"Empty database: added {created.events} demo events "
            f"and {created.members} demo members."
        )
        _echo_sign_in_hint()


def _echo_sign_in_hint() -> None:
    from cluster_events.demo import sign_in_address

    if address := sign_in_address():
        click.echo(
            f"To try the members' side, sign in as a demo member ({address}):\n"
            f"  flask --app cluster_events member-login-link {address}"
        )


@click.command("purge-personal-data")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=0),
    default=None,
    help="Days since the event ended, or since the member withdrew or the contact person "
    "was removed (default: PERSONAL_DATA_RETENTION_DAYS).",
)
def purge_personal_data_command(days: int | None) -> None:
    """Delete every copy of the personal data of registrants of events that ended more
    than N days ago (registrations, emails, audit entries), and of the contact people of
    members who withdrew more than N days ago (and of people removed that long ago);
    statuses and counts stay for statistics.

    Here rather than in registration/purge.py: registration may not import members."""
    from cluster_events.members.purge import purge_members_older_than
    from cluster_events.registration.purge import purge_older_than

    if days is None:
        days = current_app.config["PERSONAL_DATA_RETENTION_DAYS"]
    events, registrations = purge_older_than(days)
    click.echo(
        f"Purged the personal data of {registrations} registrations "
        f"of {events} events that ended more than {days} days ago."
    )
    members = purge_members_older_than(days)
    click.echo(
        f"Purged the personal data of {members.people} contact people of {members.members} "
        f"members who withdrew (or people removed) more than {days} days ago, with "
        f"{members.registrations} of their registrations."
    )


def init_app(app: Flask) -> None:
    from cluster_events.auth.cli import create_organizer_command
    from cluster_events.mail import cli as mail_cli
    from cluster_events.members.cli import member_login_link_command
    from cluster_events.registration.lottery import (
        draw_lotteries_command,
        verify_lottery_command,
    )
    from cluster_events.registration.reminders import send_reminders_command

    app.cli.add_command(purge_personal_data_command)
    app.cli.add_command(send_reminders_command)
    app.cli.add_command(draw_lotteries_command)
    app.cli.add_command(verify_lottery_command)
    app.cli.add_command(create_organizer_command)
    app.cli.add_command(member_login_link_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(seed_demo_if_empty_command)
    mail_cli.init_app(app)
