"""What the office sees of a member's participation: the registrations of its people
over the last two years, each classified once (registered, attended, cancelled,
no-show, left on the waiting list), and the counts for the association's business
year (年度, April to March, as Japanese associations keep their books).

Only registrations linked to one of the member's people (``member_person_id``) count;
a self-declared member type on the public form links nothing.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import func, select

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import (
    ENDED_STATUSES,
    Event,
    EventStatus,
    Member,
    MemberPerson,
    Registration,
    RegistrationStatus,
)
from cluster_events.timefmt import TOKYO

#: How far back the member page looks (and every upcoming event).
HISTORY_YEARS = 2
#: The business year starts on the 1st of this month (April: 年度).
BUSINESS_YEAR_FIRST_MONTH = 4


class Attendance(enum.StrEnum):
    #: Signed up, the event not over yet (whether seated or waiting) and not checked in.
    registered = "registered"
    #: Checked in at the door.
    attended = "attended"
    #: The registration was cancelled or declined, or the event was called off.
    cancelled = "cancelled"
    #: Had a seat, the event is over, never checked in.
    no_show = "no_show"
    #: Still on the waiting list (or waiting for approval) when the event ended: never
    #: had a seat.
    not_seated = "not_seated"


ATTENDANCE_LABELS = {
    Attendance.registered: _l("Registered"),
    Attendance.attended: _l("Attended"),
    # "Cancelled" alone names a cancelled event (中止) in the console.
    Attendance.cancelled: lazy_pgettext("attendance", "Cancelled"),
    Attendance.no_show: _l("No-show"),
    Attendance.not_seated: _l("Waiting list, no seat"),
}


def classify(
    *,
    status: str,
    checked_in_at: datetime | None,
    event_status: str,
    event_ends_at: datetime,
    now: datetime,
) -> Attendance:
    """The one rule for a registration's attendance. A check-in is a fact and wins
    over everything; a called-off event counts as cancelled, never as a no-show."""
    if checked_in_at is not None:
        return Attendance.attended
    if status in ENDED_STATUSES or event_status == EventStatus.cancelled:
        return Attendance.cancelled
    if event_ends_at > now:
        return Attendance.registered
    if status == RegistrationStatus.confirmed:
        return Attendance.no_show
    return Attendance.not_seated


@dataclass(frozen=True)
class Period:
    """Days in Japan time, both ends included."""

    first_day: date
    last_day: date

    @property
    def starts_at(self) -> datetime:
        return _tokyo_midnight(self.first_day)

    @property
    def ends_at(self) -> datetime:
        """The first moment after the period."""
        return _tokyo_midnight(self.last_day + timedelta(days=1))

    def holds(self, moment: datetime) -> bool:
        return self.first_day <= moment.astimezone(TOKYO).date() <= self.last_day


def business_year(today: date) -> Period:
    """The business year (年度) ``today`` falls in: 1 April to 31 March."""
    year = today.year if today.month >= BUSINESS_YEAR_FIRST_MONTH else today.year - 1
    return Period(date(year, BUSINESS_YEAR_FIRST_MONTH, 1), date(year + 1, 3, 31))


def history_start(today: date) -> date:
    """The same day ``HISTORY_YEARS`` years ago (29 February becomes the 28th)."""
    try:
        return today.replace(year=today.year - HISTORY_YEARS)
    except ValueError:
        return today.replace(year=today.year - HISTORY_YEARS, day=28)


def _tokyo_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=TOKYO).astimezone(UTC)


@dataclass(frozen=True)
class AttendanceRow:
    registration: Registration
    event: Event
    person: MemberPerson
    attendance: Attendance


@dataclass(frozen=True)
class MemberAttendance:
    rows: list[AttendanceRow]
    #: Events that start on or after this day are shown (and every upcoming one).
    since: date
    year: Period
    #: This business year's registrations by attendance, every kind present (0 or more).
    year_counts: dict[Attendance, int]


def member_attendance(member: Member, *, now: datetime | None = None) -> MemberAttendance:
    """The registrations of every person the member has had (current and removed),
    newest event first, in one query whatever their number; the year's counts come
    from the same rows (the business year lies inside the two years shown)."""
    now = now or utcnow()
    today = now.astimezone(TOKYO).date()
    since = history_start(today)
    year = business_year(today)
    people = {person.id: person for person in member.people}
    results = db.session.execute(
        select(Registration, Event)
        .join(Event, Registration.event_id == Event.id)
        .join(MemberPerson, Registration.member_person_id == MemberPerson.id)
        .where(MemberPerson.member_id == member.id, Event.starts_at >= _tokyo_midnight(since))
        .order_by(Event.starts_at.desc(), Registration.id.desc())
    ).all()
    rows = [
        AttendanceRow(
            registration=registration,
            event=event,
            person=people[registration.member_person_id],  # type: ignore[index]
            attendance=classify(
                status=registration.status,
                checked_in_at=registration.checked_in_at,
                event_status=event.status,
                event_ends_at=event.ends_at,
                now=now,
            ),
        )
        for registration, event in results
    ]
    counted = Counter(row.attendance for row in rows if year.holds(row.event.starts_at))
    return MemberAttendance(
        rows=rows,
        since=since,
        year=year,
        year_counts={kind: counted[kind] for kind in Attendance},
    )


def attended_this_year(*, now: datetime | None = None) -> tuple[Period, dict[int, int]]:
    """How many check-ins each member's people had at events of this business year,
    by member id (members without any are absent), in one grouped query."""
    year = business_year((now or utcnow()).astimezone(TOKYO).date())
    counts = db.session.execute(
        select(MemberPerson.member_id, func.count(Registration.id))
        .join(Registration, Registration.member_person_id == MemberPerson.id)
        .join(Event, Registration.event_id == Event.id)
        .where(
            Registration.checked_in_at.is_not(None),
            Event.starts_at >= year.starts_at,
            Event.starts_at < year.ends_at,
        )
        .group_by(MemberPerson.member_id)
    ).all()
    return year, {member_id: count for member_id, count in counts}
