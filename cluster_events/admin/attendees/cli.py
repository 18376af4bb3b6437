"""`flask --app cluster_events purge-personal-data --older-than N` (for cron)."""

from __future__ import annotations

import click
from flask import current_app


@click.command("purge-personal-data")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=0),
    default=None,
    help="Days since the event ended (default: PERSONAL_DATA_RETENTION_DAYS).",
)
def purge_personal_data_command(days: int | None) -> None:
    """Replace the personal data of registrations of events that ended more than N days
    ago with a marker; statuses and counts stay for statistics."""
    from cluster_events.admin.attendees.services import purge_older_than

    if days is None:
        days = current_app.config["PERSONAL_DATA_RETENTION_DAYS"]
    events, registrations = purge_older_than(days)
    click.echo(
        f"Purged the personal data of {registrations} registrations "
        f"of {events} events that ended more than {days} days ago."
    )
