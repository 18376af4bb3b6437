"""Registration form, confirmation and personal link pages.

The sign-up POST is routed by ``events.routes`` (``sign_up`` here does the work): that
package knows who is signed in as a member, and this one must not import ``members``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from cluster_events.errors import NotFound, ServiceError, show_on_form
from cluster_events.i18n import current_locale
from cluster_events.models import Event, MemberPerson, Registration, RegistrationStatus
from cluster_events.registration import answers, frames, questions, services, tokens
from cluster_events.registration.forms import (
    MemberRegistrationForm,
    RegistrationForm,
    sends_companions,
    without_companion_fields,
)
from cluster_events.registration.labels import MEMBER_TYPE_LABELS
from cluster_events.registration.queries import listed_event_by_slug
from cluster_events.registration.status import (
    FrameState,
    RegistrationState,
    can_register,
    registration_state,
)
from cluster_events.security_headers import token_in_url

bp = Blueprint("registration", __name__)

#: Registrations made from this browser, so that a second submit may show the first.
SESSION_KEY = "registration_ids"
SESSION_KEEP = 20


@dataclass(frozen=True)
class RegistrationPanel:
    """What the event page shows about signing up."""

    event: Event
    state: RegistrationState
    can_register: bool
    form: RegistrationForm | None
    #: The signed-in member the form is filled in for, or None.
    person: MemberPerson | None = None
    #: The frames this visitor may take, each with its state (registration.frames).
    options: tuple[frames.FrameOption, ...] = ()

    @property
    def member_type_label(self) -> str:
        """The membership shown (read-only) on a signed-in member's form."""
        return str(MEMBER_TYPE_LABELS[self.person.member.kind]) if self.person else ""

    @property
    def shows_frame_choice(self) -> bool:
        """An event with one frame signs up as before: no choice to make."""
        return len(self.event.frames) > 1

    @property
    def chosen_frame_id(self) -> int | None:
        """The frame ticked: the one submitted, or the only one that may be chosen."""
        if self.form is not None and self.form.frame_id is not None:
            return self.form.frame_id
        choosable = [option for option in self.options if option.can_choose]
        return choosable[0].frame.id if len(choosable) == 1 else None

    @property
    def asks_for_code(self) -> bool:
        return any(option.can_choose and option.needs_code for option in self.options)

    @property
    def only_for_members(self) -> bool:
        """Every frame is for members, and the visitor is not signed in as one."""
        return self.person is None and not self.options

    @property
    def companion_limit(self) -> int:
        """The most companions a frame that may be chosen takes: the form's rows."""
        return max(
            (option.frame.max_companions for option in self.options if option.can_choose),
            default=0,
        )

    @property
    def needs_approval(self) -> bool:
        """Every frame that may be chosen needs the office's approval."""
        choosable = [option for option in self.options if option.can_choose]
        return bool(choosable) and all(option.frame.requires_approval for option in choosable)

    @property
    def joins_waiting_list(self) -> bool:
        """Every frame that may be chosen is full (and takes sign-ups without the
        office's approval): the button says so."""
        choosable = [option for option in self.options if option.can_choose]
        return bool(choosable) and all(
            option.state == FrameState.full and not option.frame.requires_approval
            for option in choosable
        )

    @property
    def enters_lottery(self) -> bool:
        """Every frame that may be chosen takes entries for its lottery: the button and
        the panel say so."""
        choosable = [option for option in self.options if option.can_choose]
        return bool(choosable) and all(option.state == FrameState.lottery for option in choosable)


@bp.app_context_processor
def _panel_helper() -> dict[str, object]:
    return {"registration_panel": registration_panel}


def registration_panel(
    event: Event, form: RegistrationForm | None = None, person: MemberPerson | None = None
) -> RegistrationPanel:
    """For the event page; ``form`` is a submitted form to show again with its errors,
    ``person`` the signed-in member (the view knows; this package does not ask)."""
    state = registration_state(event)
    options = tuple(frames.frame_options(event, person is not None))
    open_now = (
        can_register(state)
        and (person is not None or not event.is_members_only)
        and any(option.can_choose for option in options)
    )
    if form is None and open_now:
        form_class = _form_class(event, person)
        form = form_class.prefilled(person) if person is not None else form_class(formdata=None)
    return RegistrationPanel(event, state, open_now, form, person, options)


def _form_class(event: Event, person: MemberPerson | None) -> Any:
    """The sign-up form (a member's or anyone's) with the event's questions, every
    frame's, worded in the page's language. No statement for an event without
    questions."""
    base = MemberRegistrationForm if person is not None else RegistrationForm
    return base.for_questions(questions.form_questions(event), current_locale(), event.frames)


def members_only_page(event: Event) -> tuple[str, int]:
    """403 for someone not signed in as a member: that the event is for members, and
    the way to sign in; nothing about the event itself (no title, no date)."""
    html = render_template(
        "registration/members_only.html",
        login_url=url_for("members.login", next=url_for("events.detail", slug=event.slug)),
    )
    return html, 403


def _refused(error: ServiceError, event: Event | None = None) -> tuple[str, int]:
    return (
        render_template("registration/refused.html", message=error.message, event=event),
        error.http_status,
    )


def _remember(registration_id: int) -> None:
    ids = [i for i in session.get(SESSION_KEY, []) if i != registration_id]
    session[SESSION_KEY] = [*ids, registration_id][-SESSION_KEEP:]


def sign_up(slug: str, person: MemberPerson | None) -> Any:
    """The sign-up POST from the event page ``slug`` (routed by ``events.routes``, which
    knows who is signed in: ``person`` is the signed-in member or None). On success go
    to the personal page (303), so a refresh does not send the form again.

    A filled-in form without answers goes straight to the service, which finds and
    locks the event and checks who may sign up and the frame: the view reads nothing.
    Anything else (answers to questions, the form's errors, a bot, a refusal, an event
    that asks questions after all) reads the event and goes the long way,
    ``_sign_up_to``."""
    form_class = MemberRegistrationForm if person is not None else RegistrationForm
    if not sends_companions(request.form):
        form_class = without_companion_fields(form_class)
    form = form_class(person=person) if person is not None else form_class()
    if answers.sends_answers(request.form) or form.is_bot or not form.validate():
        return _sign_up_to(_listed_event(slug), person)
    try:
        outcome = services.register(
            None,
            form.details(current_locale()),
            event_slug=slug,
            member_person_id=person.id if person is not None else None,
            choice=form.frame_choice(),
        )
    except services.QuestionsChanged:
        return _sign_up_to(_listed_event(slug), person)  # the event asks questions
    except services.MembersOnlyEvent:
        return members_only_page(_listed_event(slug))
    except NotFound:
        raise
    except ServiceError as error:
        event = _listed_event(slug)
        if error.field_errors:
            # The frame or the invitation code: beside its field, the form kept.
            form = _posted_form(event, person)
            form.validate()
            show_on_form(form, error)
            return _form_again(event, form, person, error.http_status)
        return _refused(error, event)
    return _signed_up(outcome, person)


def _sign_up_to(event: Event, person: MemberPerson | None) -> Any:
    """The sign-up with the event read: its own refusals first (members only, closed),
    then a bot's (a thank-you that saves nothing), then the form with the event's
    questions, and the answers to those of the chosen frame checked before the service
    is asked (another frame's are neither required nor kept)."""
    try:
        services.ensure_may_sign_up(event, person is not None)
    except services.MembersOnlyEvent:
        return members_only_page(event)
    try:
        services.ensure_registration_open(event)
    except ServiceError as error:
        return _refused(error, event)
    form = _posted_form(event, person)
    if form.is_bot:
        flash(_("Thank you. Your registration has been received."), "success")
        return redirect(url_for("events.detail", slug=event.slug), 303)
    valid = form.validate()
    try:
        answer_set = answers.checked_answers(
            event.questions_revision,
            form.event_questions,
            form.answer_values(),
            frame_id=form.answering_frame_id,
        )
    except ServiceError as error:
        show_on_form(form, error)
        valid = False
    if not valid:
        return _form_again(event, form, person, 400)
    try:
        outcome = services.register(
            event.id,
            form.details(current_locale()),
            member_person_id=person.id if person is not None else None,
            answers=answer_set,
            choice=form.frame_choice(),
        )
    except services.MembersOnlyEvent:
        return members_only_page(event)
    except services.QuestionsChanged as error:
        # The form again with the questions as they are now, and what was typed.
        form = _posted_form(event, person)
        form.form_errors.append(str(error.message))
        return _form_again(event, form, person, error.http_status)
    except ServiceError as error:
        if error.field_errors:
            # The frame or the invitation code: beside its field, the form kept.
            show_on_form(form, error)
            return _form_again(event, form, person, error.http_status)
        return _refused(error, event)
    return _signed_up(outcome, person)


def _signed_up(outcome: services.RegistrationOutcome, person: MemberPerson | None) -> Any:
    registration_id = outcome.registration_id
    if not outcome.created:
        # Only the browser that made the registration is shown its details. Anyone else
        # who types the same address sees a page that says nothing about it, and the
        # address's owner gets the personal link by email (at most once an hour). A
        # signed-in member's address is fixed to their own, so it is theirs to see.
        if person is None and registration_id not in session.get(SESSION_KEY, []):
            services.resend_personal_link(registration_id)
            return render_template(
                "registration/check_your_email.html", event=outcome.registration.event
            )
        _remember(registration_id)
        flash(_("You have already registered for this event with this email address."), "info")
    elif outcome.status == RegistrationStatus.entered:
        _remember(registration_id)
        flash(
            _(
                "Your entry for the lottery has been received. After the deadline we draw the "
                "participants and tell you the result by email. We have sent you an email."
            ),
            "success",
        )
    elif outcome.status == RegistrationStatus.confirmed:
        _remember(registration_id)
        flash(_("Your registration is complete. We have sent you a confirmation email."), "success")
    elif outcome.status == RegistrationStatus.pending:
        _remember(registration_id)
        flash(
            _(
                "Your registration has been received. The office will look at it and tell you "
                "its decision by email. We have sent you an email."
            ),
            "success",
        )
    else:
        _remember(registration_id)
        flash(
            _(
                "The event is full, so you have been put on the waiting list "
                "(number %(position)s). We have sent you an email.",
                position=outcome.waiting_position,
            ),
            "success",
        )
    return redirect(url_for("registration.manage", token=outcome.token), 303)


def _listed_event(slug: str) -> Event:
    event = listed_event_by_slug(slug)
    if event is None:
        abort(404)
    return event


def _posted_form(event: Event, person: MemberPerson | None) -> RegistrationForm:
    form_class = _form_class(event, person)
    return form_class(person=person) if person is not None else form_class()


def _form_again(
    event: Event, form: RegistrationForm, person: MemberPerson | None, status: int
) -> tuple[str, int]:
    page = render_template(
        "events/detail.html", event=event, registration_form=form, member_person=person
    )
    return page, status


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
        answers=answers.shown_answers(registration, current_locale()),
    )
    return _private(make_response(html))


@bp.post("/registrations/<token>/cancel")
@token_in_url
def cancel(token: str):
    registration = _registration_or_404(token)
    withdrawn_entry = registration.status == RegistrationStatus.entered
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
    if withdrawn_entry:
        flash(_("Your lottery entry has been withdrawn. We have sent you an email."), "success")
    else:
        flash(_("Your registration has been cancelled. We have sent you an email."), "success")
    return redirect(url_for("registration.manage", token=token, _anchor="status"), 303)
