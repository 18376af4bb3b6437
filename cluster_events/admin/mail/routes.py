"""Emails that could not be delivered, of every event and every kind, for admins; and
what the event's own page (admin/attendees) shares with it: the kinds' names and how
the retry buttons are read."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cluster_events.admin.access import admin_required, parse_id
from cluster_events.admin.blueprint import bp
from cluster_events.admin.forms import ConfirmForm
from cluster_events.mail import outbox

#: The emails the site sends, in the office's words; a kind not listed shows its code.
KIND_LABELS = {
    "confirmation": _l("Registration confirmed"),
    "waitlisted": _l("Put on the waiting list"),
    "promoted": _l("Seat from the waiting list"),
    "pending": _l("Awaiting approval"),
    "approved": _l("Approved, seat confirmed"),
    "approved_waitlisted": _l("Approved, on the waiting list"),
    "declined": _l("Registration declined"),
    "cancellation_receipt": _l("Cancellation"),
    "reminder": _l("Reminder"),
    "event_changed": _l("Event changed"),
    "event_cancelled": _l("Event cancelled"),
    "session_changed": _l("One session changed"),
    "session_cancelled": _l("One session cancelled"),
    "organizer_message": _l("Message from the office"),
    "personal_link": _l("Personal link sent again"),
    "lottery_entered": _l("Lottery entry received"),
    "lottery_won": _l("Lottery: won a seat"),
    "lottery_not_drawn": _l("Lottery: not drawn, waiting list"),
    "member_sign_in": _l("Member sign-in link"),
}
MAX_KIND_LENGTH = 32


def kind_labels() -> dict[str, str]:
    return {kind: str(label) for kind, label in KIND_LABELS.items()}


def posted_message_ids() -> list[int] | None:
    """What the retry buttons of a failed-mail list ask for: one message (its row's
    button), the ticked ones, or None for all of them."""
    if request.form.get("all"):
        return None
    one = request.form.get("one")
    values = [one] if one else request.form.getlist("message_id")
    return [message_id for v in values if (message_id := parse_id(v)) is not None]


def flash_retried(count: int) -> None:
    if count:
        flash(_("%(count)s emails will be sent again.", count=count), "success")
    else:
        flash(_("No email was chosen, or they were already sent again."), "error")


def _kind_argument(value: str | None) -> str | None:
    if value and len(value) > MAX_KIND_LENGTH:
        abort(400)
    return value or None


@bp.get("/mail/failed")
@admin_required
def mail_failed() -> str:
    kind = _kind_argument(request.args.get("kind"))
    return render_template(
        "admin/mail/failed.html",
        messages=outbox.failed_messages(kind=kind),
        kinds=outbox.failed_kinds(),
        kind=kind,
        kind_labels=kind_labels(),
        retry_form=ConfirmForm(),
    )


@bp.post("/mail/failed/retry")
@admin_required
def mail_failed_retry() -> Any:
    if not ConfirmForm().validate():
        abort(400)
    kind = _kind_argument(request.form.get("kind"))
    ids = posted_message_ids()
    retried = outbox.requeue(ids=ids, kind=kind) if ids != [] else []
    flash_retried(len(retried))
    return redirect(url_for("admin.mail_failed", kind=kind))
