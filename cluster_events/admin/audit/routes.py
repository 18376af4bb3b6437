"""The audit log for admins: who changed what and when, filterable by event."""

from __future__ import annotations

from flask import abort, render_template, request
from flask_babel import lazy_gettext as _l

from cluster_events.admin.access import MAX_ID, admin_required
from cluster_events.admin.blueprint import bp
from cluster_events.audit import recent_entries
from cluster_events.events.queries import event_choices, get_event

PER_PAGE = 50

#: Plain words for the recorded actions; an action not listed shows its code.
ACTION_LABELS = {
    "event.create": _l("Event created"),
    "event.update": _l("Event changed"),
    "event.publish": _l("Event published"),
    "event.unpublish": _l("Event unpublished"),
    "event.duplicate": _l("Event duplicated"),
    "event.create_series": _l("Series of events made"),
    "event.cancel": _l("Event cancelled"),
    "event.fill_from_waiting_list": _l("Seats given to the waiting list"),
    "event.notify_change": _l("Registrants told of a change"),
    "event.message": _l("Message to registrants"),
    "event.message_retry": _l("Failed message sent again"),
    "mail.retry": _l("Failed message sent again"),
    "event.purge_personal_data": _l("Personal data deleted"),
    "event_question.add": _l("Question added to the form"),
    "event_question.update": _l("Question changed"),
    "event_question.move": _l("Question moved"),
    "event_question.remove": _l("Question removed from the form"),
    "frame.add": _l("Participation frame added"),
    "frame.update": _l("Participation frame changed"),
    "frame.reorder": _l("Participation frames reordered"),
    "frame.remove": _l("Participation frame removed"),
    "frame.add_code": _l("Invitation code added"),
    "frame.remove_code": _l("Invitation code removed"),
    "frame.draw_lottery": _l("Lottery drawn"),
    "venue.create": _l("Venue added"),
    "venue.update": _l("Venue changed"),
    "venue.delete": _l("Venue deleted"),
    "category.create": _l("Category added"),
    "category.update": _l("Category changed"),
    "category.delete": _l("Category deleted"),
    "organizer.create": _l("Account created"),
    "organizer.update": _l("Account changed"),
    "organizer.reset_password": _l("Password set by an admin"),
    "organizer.change_password": _l("Own password changed"),
    "registration.add": _l("Registration added by the office"),
    "registration.edit": _l("Contact details changed"),
    "registration.note": _l("Note changed"),
    "registration.cancel": _l("Registration cancelled by the office"),
    "registration.promote": _l("Given a seat from the waiting list"),
    "registration.move_frame": _l("Moved to another participation frame"),
    "registration.check_in": _l("Checked in"),
    "registration.undo_check_in": _l("Check-in undone"),
    "attendees.export": _l("Attendee list exported"),
    "member.create": _l("Member added"),
    "member.update": _l("Member changed"),
    "member.withdraw": _l("Member withdrawn"),
    "member.reactivate": _l("Member made active again"),
    "member_person.add": _l("Contact person added"),
    "member_person.update": _l("Contact person changed"),
    "member_person.remove": _l("Contact person removed"),
    "member.purge_personal_data": _l("Member's personal data deleted"),
    "member.import": _l("Member list imported"),
    "members.export": _l("Member list exported"),
}


@bp.route("/audit")
@admin_required
def audit_log() -> str:
    event_id = request.args.get("event", type=int)
    page = request.args.get("page", 1, type=int)
    if page < 1 or page > 100_000 or (event_id is not None and not 0 < event_id <= MAX_ID):
        abort(400)
    event = get_event(event_id) if event_id is not None else None
    entries, total = recent_entries(
        event_id=event.id if event else None, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    return render_template(
        "admin/audit_log.html",
        entries=entries,
        event=event,
        events=event_choices(),
        page=page,
        has_next=page * PER_PAGE < total,
        action_labels=ACTION_LABELS,
    )
