"""Registration form, confirmation and personal link pages."""

from __future__ import annotations

from dataclasses import dataclass

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from cluster_events.errors import ServiceError
from cluster_events.extensions import limiter
from cluster_events.i18n import current_locale
from cluster_events.models import Event, Registration, RegistrationStatus
from cluster_events.registration import services, tokens
from cluster_events.registration.forms import RegistrationForm
from cluster_events.registration.labels import MEMBER_TYPE_LABELS
from cluster_events.registration.queries import public_event_by_slug
from cluster_events.registration.status import RegistrationState, can_register, registration_state
from cluster_events.security_headers import token_in_url

bp = Blueprint("registration", __name__)

#: Registrations made from this browser, so that a second submit may show the first.
SESSION_KEY = "registration_ids"
SESSION_KEEP = 20


def _rate_limit() -> str:
    return current_app.config["REGISTRATION_RATE_LIMIT"]


@dataclass(frozen=True)
class RegistrationPanel:
    """What the event page shows about signing up."""

    event: Event
    state: RegistrationState
    can_register: bool
    form: RegistrationForm | None


@bp.app_context_processor
def _panel_helper() -> dict[str, object]:
    return {"registration_panel": registration_panel}


def registration_panel(event: Event, form: RegistrationForm | None = None) -> RegistrationPanel:
    """For the event page; ``form`` is a submitted form to show again with its errors."""
    state = registration_state(event)
    open_now = can_register(state)
    if form is None and open_now:
        form = RegistrationForm(formdata=None)
    return RegistrationPanel(event, state, open_now, form)


def _public_event(slug: str) -> Event:
    event = public_event_by_slug(slug)
    if event is None:
        abort(404)
    return event


def _refused(error: ServiceError, event: Event | None = None) -> tuple[str, int]:
    return (
        render_template("registration/refused.html", message=error.message, event=event),
        error.http_status,
    )


def _remember(registration: Registration) -> None:
    ids = [i for i in session.get(SESSION_KEY, []) if i != registration.id]
    session[SESSION_KEY] = [*ids, registration.id][-SESSION_KEEP:]


@bp.post("/events/<slug>/register")
@limiter.limit(_rate_limit)
def register(slug: str):
    """Sign up from the event page; on success go to the personal page (303), so a
    refresh does not send the form again."""
    event = _public_event(slug)
    try:
        services.ensure_registration_open(event)
    except ServiceError as error:
        return _refused(error, event)
    form = RegistrationForm()
    if form.is_bot:
        flash(_("Thank you. Your registration has been received."), "success")
        return redirect(url_for("events.detail", slug=event.slug), 303)
    if not form.validate():
        return render_template("events/detail.html", event=event, registration_form=form), 400
    try:
        outcome = services.register(event.id, form.details(current_locale()))
    except ServiceError as error:
        return _refused(error, event)
    registration = outcome.registration
    if not outcome.created:
        # Only the browser that made the registration is shown its details. Anyone else
        # who types the same address sees a page that says nothing about it, and the
        # address's owner gets the personal link by email (at most once an hour).
        if registration.id not in session.get(SESSION_KEY, []):
            services.resend_personal_link(registration.id)
            return render_template("registration/check_your_email.html", event=event)
        flash(_("You have already registered for this event with this email address."), "info")
    elif registration.status == RegistrationStatus.confirmed:
        _remember(registration)
        flash(_("Your registration is complete. We have sent you a confirmation email."), "success")
    else:
        _remember(registration)
        flash(
            _(
                "The event is full, so you have been put on the waiting list "
                "(number %(position)s). We have sent you an email.",
                position=registration.waiting_position,
            ),
            "success",
        )
    return redirect(url_for("registration.manage", token=outcome.token), 303)


def _registration_or_404(token: str) -> Registration:
    registration = tokens.registration_by_token(token)
    if registration is None or registration.personal_data_purged_at is not None:
        abort(404)
    return registration


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/registrations/<token>")
@token_in_url
def manage(token: str):
    """The personal page: details, status, place on the waiting list, and cancelling
    (the cancel button first asks again on this page; no JavaScript needed)."""
    registration = _registration_or_404(token)
    confirming = request.args.get("step") == "cancel"
    html = render_template(
        "registration/manage.html",
        registration=registration,
        event=registration.event,
        token=token,
        can_cancel=services.can_cancel_online(registration),
        confirming=confirming,
        member_type_label=MEMBER_TYPE_LABELS.get(registration.member_type, ""),
    )
    return _private(make_response(html))


@bp.post("/registrations/<token>/cancel")
@token_in_url
def cancel(token: str):
    registration = _registration_or_404(token)
    try:
        services.cancel_registration(registration.id, by_registrant=True)
    except services.AlreadyCancelled as error:
        html = render_template(
            "registration/already_cancelled.html",
            registration=registration,
            event=registration.event,
            message=error.message,
        )
        return _private(make_response(html, error.http_status))
    except ServiceError as error:
        html = render_template(
            "registration/refused.html",
            heading=_("The registration could not be cancelled"),
            message=error.message,
            event=registration.event,
        )
        return _private(make_response(html, error.http_status))
    flash(_("Your registration has been cancelled. We have sent you an email."), "success")
    return redirect(url_for("registration.manage", token=token, _anchor="status"), 303)
