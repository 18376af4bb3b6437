"""The signed-in member: a session of its own, beside the console's.

The session holds ``"<person id>:<session generation>"`` under its own key, never
Flask-Login's, so signing in as a member never makes anyone an organizer and signing
out of one leaves the other alone. A person counts as signed in only while their
member is active, they were not removed and their generation is the one stored:
``members.services`` raises the generation to end every session of a person (withdrawal,
removal, a changed address).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, redirect, request, session, url_for
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload

from cluster_events.extensions import db
from cluster_events.models import MemberPerson

SESSION_KEY = "member_person"
_UNSET = object()

View = TypeVar("View", bound=Callable[..., Any])


def sign_in(person: MemberPerson) -> None:
    session[SESSION_KEY] = f"{person.id}:{person.session_generation}"
    session.permanent = True
    g.member_person = person


def sign_out() -> None:
    session.pop(SESSION_KEY, None)
    g.member_person = None


def current_person() -> MemberPerson | None:
    """The signed-in member's person (with its member loaded), or None."""
    cached = g.get("member_person", _UNSET)
    if cached is not _UNSET:
        return cast(MemberPerson | None, cached)
    person = _person_of_session(session.get(SESSION_KEY))
    g.member_person = person
    return person


def _person_of_session(value: object) -> MemberPerson | None:
    if not isinstance(value, str):
        return None
    person_id, _, generation = value.partition(":")
    if not (person_id.isdecimal() and generation.isdecimal()) or len(person_id) > 18:
        return None
    person = db.session.scalars(
        select(MemberPerson)
        .options(joinedload(MemberPerson.member))
        .where(MemberPerson.id == int(person_id))
    ).one_or_none()
    if person is None or not person.is_active or person.removed_at is not None:
        return None
    if not person.member.is_active or person.session_generation != int(generation):
        return None
    return person


def template_context() -> dict[str, Any]:
    """``signed_in_person`` for every page (the site header). Costs no query without a
    member session, and at most one per request with one (current_person() is kept on
    ``g``)."""
    if SESSION_KEY not in session:
        return {"signed_in_person": None}
    try:
        return {"signed_in_person": current_person()}
    except SQLAlchemyError:
        # The database went away (or the request's transaction failed) and an error page
        # is being shown: the header shows no one rather than turning it into a bare 500.
        current_app.logger.warning("member of the session not known for this page", exc_info=True)
        return {"signed_in_person": None}


def member_required(view: View) -> View:
    """Members' pages: anyone else is sent to the sign-in page, and back afterwards."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_person() is None:
            return redirect(url_for("members.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(View, wrapped)
