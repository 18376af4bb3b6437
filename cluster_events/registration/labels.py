"""The words for a registration's fixed values, defined once for every page, form,
email and export, and the list of a registrant's contact fields."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import LazyString, lazy_pgettext
from flask_babel import lazy_gettext as _l

from cluster_events.models import (
    FrameEligibility,
    FrameSelection,
    LotteryResult,
    MemberType,
    QuestionKind,
    RegistrationStatus,
)

MEMBER_TYPE_LABELS: Mapping[str, LazyString] = {
    MemberType.corporate.value: _l("Corporate member"),
    MemberType.individual.value: _l("Individual member"),
    MemberType.general.value: _l("Non-member"),
}

STATUS_LABELS: Mapping[str, LazyString] = {
    RegistrationStatus.confirmed.value: _l("Confirmed"),
    RegistrationStatus.waiting.value: _l("Waiting list"),
    # "Cancelled" alone also names a cancelled event (中止).
    RegistrationStatus.cancelled.value: lazy_pgettext("registration status", "Cancelled"),
    RegistrationStatus.pending.value: _l("Received, awaiting approval"),
    RegistrationStatus.declined.value: lazy_pgettext("registration status", "Declined"),
    RegistrationStatus.entered.value: _l("Lottery entry"),
}

#: How a participation frame gives its seats.
SELECTION_LABELS: Mapping[str, LazyString] = {
    FrameSelection.first_come.value: _l("First come, first served"),
    FrameSelection.lottery.value: _l("By lot after the deadline"),
}

#: What the draw made of a lottery entry.
LOTTERY_RESULT_LABELS: Mapping[str, LazyString] = {
    LotteryResult.won.value: _l("Won the lottery"),
    LotteryResult.lost.value: _l("Not drawn (waiting list)"),
}

#: Who may take a participation frame, as the office chooses it.
ELIGIBILITY_LABELS: Mapping[str, LazyString] = {
    FrameEligibility.anyone.value: _l("Anyone"),
    FrameEligibility.members.value: _l("Members only (signed in)"),
    FrameEligibility.invitation.value: _l("With an invitation code"),
}

SOURCE_LABELS: Mapping[str, LazyString] = {
    "web": _l("Web form"),
    "organizer": _l("Office (phone or fax)"),
}

QUESTION_KIND_LABELS: Mapping[str, LazyString] = {
    QuestionKind.short_text.value: _l("Short text (one line)"),
    QuestionKind.long_text.value: _l("Long text (several lines)"),
    QuestionKind.one_choice.value: _l("One choice from a list"),
    QuestionKind.several_choices.value: _l("Several choices from a list"),
    QuestionKind.agreement.value: _l("Agreement (a box to tick)"),
}

#: Languages of the emails, each named in its own language.
LANGUAGE_NAMES: Mapping[str, str] = {"ja": "日本語", "en": "English"}

#: What a registrant tells about themselves, and what the office may correct.
CONTACT_FIELDS = ("name", "name_kana", "email", "organization", "job_title", "phone", "member_type")


def translated(labels: Mapping[str, LazyString | str]) -> dict[str, str]:
    """The labels in the current language, translated once (for a page or a file of
    many rows, rather than once per row)."""
    return {value: str(label) for value, label in labels.items()}
