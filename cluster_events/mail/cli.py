"""`flask --app cluster_events mail-worker`."""

from __future__ import annotations

import logging

import click
from flask import Flask

from cluster_events.mail import outbox


@click.command("mail-worker")
@click.option("--once", is_flag=True, help="Send everything that is due, then exit (for cron).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls.")
@click.option("--batch", default=outbox.DEFAULT_BATCH_SIZE, show_default=True)
def mail_worker_command(once: bool, interval: float, batch: int) -> None:
    """Deliver queued emails, retrying failed ones with backoff. Stops on SIGTERM."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    report = outbox.run_worker(once=once, interval=interval, batch=batch)
    click.echo(f"Sent {report.sent}, to retry {report.retrying}, failed {report.failed}.", err=True)


def init_app(app: Flask) -> None:
    app.cli.add_command(mail_worker_command)
