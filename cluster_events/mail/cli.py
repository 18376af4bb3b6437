"""`flask --app cluster_events mail-worker` and `mail-retry`."""

from __future__ import annotations

import logging

import click
from flask import Flask

from cluster_events.mail import outbox


def _log_to_stderr() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


@click.command("mail-worker")
@click.option("--once", is_flag=True, help="Send everything that is due, then exit (for cron).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls.")
@click.option("--batch", default=outbox.DEFAULT_BATCH_SIZE, show_default=True)
def mail_worker_command(once: bool, interval: float, batch: int) -> None:
    """Deliver queued emails, retrying failed ones with backoff. Stops on SIGTERM."""
    _log_to_stderr()
    report = outbox.run_worker(once=once, interval=interval, batch=batch)
    click.echo(
        f"Sent {report.sent}, to retry {report.retrying + report.deferred}, "
        f"failed {report.failed}.",
        err=True,
    )


@click.command("mail-retry")
@click.option(
    "--failed",
    "failed_only",
    is_flag=True,
    help="Only messages that failed for good. Without it, messages waiting for a "
    "retry after a temporary failure (for example while the mail server was down) "
    "are also made due now.",
)
@click.option(
    "--kind",
    metavar="KIND",
    help="Only messages of this kind: confirmation, waitlisted, promoted, "
    "cancellation_receipt, reminder, event_changed, event_cancelled, organizer_message, "
    "personal_link, member_sign_in, lottery_entered, lottery_won, lottery_not_drawn.",
)
@click.option(
    "--event", "event_id", metavar="ID", type=click.IntRange(min=1), help="Only this event's."
)
def mail_retry_command(failed_only: bool, kind: str | None, event_id: int | None) -> None:
    """Put failed emails back in the queue, due now, for a fresh series of attempts
    (the mail worker sends them). Messages already sent are never sent again. Each
    retry is written to the audit log."""
    requeued = outbox.requeue(event_id=event_id, kind=kind, include_waiting=not failed_only)
    click.echo(f"Requeued {len(requeued)} messages.")


def init_app(app: Flask) -> None:
    app.cli.add_command(mail_worker_command)
    app.cli.add_command(mail_retry_command)
