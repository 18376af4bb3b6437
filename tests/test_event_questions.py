"""Questions of the event (issue 12, point 3), on SQLite and PostgreSQL: the office adds,
rewords, reorders and removes an event's questions in the console (audited, refused
with a 4xx at the field when wrong, nothing written); a question that people answered
is kept with its answers when removed, and every answer keeps the wording it was given
in; the attendee page and the CSV and .xlsx exports show one column per question;
the purge deletes the answers; a duplicated event gets the questions."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import timedelta

import openpyxl
import pytest
from sqlalchemy import func, select

from cluster_events.database import utcnow
from cluster_events.errors import Conflict, ServiceError
from cluster_events.events import services as event_services
from cluster_events.extensions import db
from cluster_events.models import (
    AuditLogEntry,
    Event,
    EventQuestion,
    QuestionKind,
    Registration,
    RegistrationAnswer,
)
from cluster_events.registration import answers, exports, purge, questions, services
from cluster_events.registration.questions import QuestionData
from cluster_events.registration.services import RegistrationDetails
from tests.factories import make_event

DIET = QuestionData(
    kind=QuestionKind.one_choice,
    label_ja="食事のご配慮",
    label_en="Dietary needs",
    choices=(("特になし", "None"), ("菜食", "Vegetarian"), ("アレルギーあり", "Allergy")),
    is_required=True,
)
DETAILS = QuestionData(kind=QuestionKind.short_text, label_ja="アレルギーの内容")
PHOTOS = QuestionData(kind=QuestionKind.agreement, label_ja="写真の掲載に同意します")


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def fresh(event_id: int) -> Event:
    db.session.expire_all()
    return db.session.get(Event, event_id)


def dinner() -> tuple[Event, EventQuestion, EventQuestion, EventQuestion]:
    event = make_event(slug="dinner", capacity=10)
    db.session.commit()
    added = [questions.add_question(event.id, data) for data in (DIET, DETAILS, PHOTOS)]
    return fresh(event.id), *added


def sign_up(event: Event, email: str, sent: dict[int, answers.Sent], name: str = "山田 太郎"):
    event = fresh(event.id)
    current = questions.form_questions(event)
    answer_set = answers.checked_answers(event.questions_revision, current, sent)
    details = RegistrationDetails(name=name, name_kana="やまだ たろう", email=email)
    return services.register(event.id, details, answers=answer_set)


def key_of(question: EventQuestion, ja: str) -> str:
    return next(choice["key"] for choice in question.choices if choice["ja"] == ja)


# The service ------------------------------------------------------------------------------


def test_questions_are_added_in_order_and_counted_on_the_event(app):
    event, diet, details, photos = dinner()
    assert [q.id for q in questions.form_questions(event)] == [diet.id, details.id, photos.id]
    assert [q.position for q in questions.form_questions(event)] == [1, 2, 3]
    assert (event.question_count, event.questions_revision) == (3, 3)
    assert [c["key"] for c in diet.choices] == ["1", "2", "3"]
    assert diet.choices[1] == {"key": "2", "ja": "菜食", "en": "Vegetarian"}
    assert details.choices == [] and photos.choices == []
    entries = db.session.scalars(
        select(AuditLogEntry).where(AuditLogEntry.action == "event_question.add")
    ).all()
    assert [e.target_id for e in entries] == [diet.id, details.id, photos.id]
    assert (
        entries[0].after["choices"]
        == "特になし / None\n菜食 / Vegetarian\nアレルギーあり / Allergy"
    )


def test_an_event_without_questions_reads_none(app, count_queries):
    event = make_event()
    db.session.commit()
    db.session.refresh(event)  # as a view has it: loaded
    with count_queries() as counter:
        assert questions.form_questions(event) == []
    assert counter.count == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (QuestionData(kind="essay", label_ja="質問"), "kind"),
        (QuestionData(kind=QuestionKind.short_text, label_ja=""), "label_ja"),
        (QuestionData(kind=QuestionKind.short_text, label_ja="あ" * 201), "label_ja"),
        (
            QuestionData(kind=QuestionKind.short_text, label_ja="質問", label_en="x" * 201),
            "label_en",
        ),
        (
            QuestionData(kind=QuestionKind.short_text, label_ja="質問", help_ja="あ" * 501),
            "help_ja",
        ),
        (QuestionData(kind=QuestionKind.one_choice, label_ja="質問"), "choices"),
        (
            QuestionData(kind=QuestionKind.one_choice, label_ja="質問", choices=(("a", ""),)),
            "choices",
        ),
        (
            QuestionData(
                kind=QuestionKind.several_choices, label_ja="質問", choices=(("a", ""), ("a", ""))
            ),
            "choices",
        ),
        (
            QuestionData(
                kind=QuestionKind.one_choice, label_ja="質問", choices=(("a", ""), ("", "b"))
            ),
            "choices",
        ),
        (
            QuestionData(
                kind=QuestionKind.one_choice, label_ja="質問", choices=(("a", ""), ("あ" * 101, ""))
            ),
            "choices",
        ),
        (
            QuestionData(
                kind=QuestionKind.one_choice,
                label_ja="質問",
                choices=tuple((str(n), "") for n in range(31)),
            ),
            "choices",
        ),
    ],
    ids=[
        "unknown-kind",
        "no-label",
        "label-too-long",
        "english-too-long",
        "help-too-long",
        "no-choices",
        "one-choice",
        "same-choice-twice",
        "choice-without-japanese",
        "choice-too-long",
        "too-many-choices",
    ],
)
def test_a_question_that_is_wrong_is_refused_at_its_field_and_nothing_is_written(app, data, field):
    event = make_event()
    db.session.commit()
    with pytest.raises(ServiceError) as refused:
        questions.add_question(event.id, data)
    assert refused.value.http_status == 400
    assert set(refused.value.field_errors) == {field}
    assert count(EventQuestion) == 0 and count(AuditLogEntry) == 0
    assert fresh(event.id).questions_revision == 0


def test_moving_keeps_positions_dense_and_ends_change_nothing(app):
    event, diet, details, photos = dinner()
    questions.move_question(event.id, photos.id, -1)
    assert [q.id for q in questions.form_questions(fresh(event.id))] == [
        diet.id,
        photos.id,
        details.id,
    ]
    revision = fresh(event.id).questions_revision
    questions.move_question(event.id, diet.id, -1)  # already first
    questions.move_question(event.id, details.id, 1)  # already last
    assert fresh(event.id).questions_revision == revision
    moved = db.session.scalar(
        select(AuditLogEntry).where(AuditLogEntry.action == "event_question.move")
    )
    assert (moved.before, moved.after) == ({"position": 3}, {"position": 2})


def test_removing_an_unanswered_question_deletes_it_and_closes_up(app):
    event, diet, details, photos = dinner()
    assert questions.remove_question(event.id, diet.id) is False
    assert db.session.get(EventQuestion, diet.id) is None
    current = questions.form_questions(fresh(event.id))
    assert [(q.id, q.position) for q in current] == [(details.id, 1), (photos.id, 2)]
    assert fresh(event.id).question_count == 2
    with pytest.raises(questions.QuestionNotFound):
        questions.remove_question(event.id, diet.id)


def test_an_answered_question_is_kept_hidden_with_its_answers_when_removed(app):
    event, diet, details, photos = dinner()
    outcome = sign_up(event, "a@example.jp", {diet.id: key_of(diet, "菜食"), photos.id: True})
    assert questions.remove_question(event.id, diet.id) is True
    kept = db.session.get(EventQuestion, diet.id)
    assert kept.removed_at is not None
    assert [q.id for q in questions.form_questions(fresh(event.id))] == [details.id, photos.id]
    current, removed = questions.console_questions(event.id)
    assert [(row.question.id, row.answer_count) for row in removed] == [(diet.id, 1)]
    assert [row.question.id for row in current] == [details.id, photos.id]
    registration = db.session.get(Registration, outcome.registration_id)
    shown = answers.shown_answers(registration, "ja")
    assert (str(shown[0].label), str(shown[0].text)) == ("食事のご配慮", "菜食")
    with pytest.raises(questions.QuestionNotFound):
        questions.update_question(event.id, diet.id, DIET)  # a removed question is gone


def test_rewording_after_answers_keeps_every_answer_as_it_was_given(app):
    event, diet, _details, _photos = dinner()
    first = sign_up(event, "a@example.jp", {diet.id: key_of(diet, "菜食")})
    reworded = QuestionData(
        kind=QuestionKind.one_choice,
        label_ja="お食事について",
        label_en="About the meal",
        choices=(("特になし", "None"), ("ベジタリアン", "Vegetarian meal"), ("アレルギーあり", "")),
        is_required=True,
    )
    questions.update_question(event.id, diet.id, reworded)
    question = db.session.get(EventQuestion, diet.id)
    # The unchanged choices keep their keys; the new wording gets a new one.
    assert [c["key"] for c in question.choices] == ["1", "4", "3"]
    second = sign_up(event, "b@example.jp", {diet.id: "4"})
    by_registration = {
        r.id: [(str(a.label), str(a.text)) for a in answers.shown_answers(r, "ja")]
        for r in db.session.scalars(select(Registration))
    }
    assert by_registration[first.registration_id] == [("食事のご配慮", "菜食")]
    assert by_registration[second.registration_id] == [("お食事について", "ベジタリアン")]
    entry = db.session.scalar(
        select(AuditLogEntry).where(AuditLogEntry.action == "event_question.update")
    )
    assert (
        entry.before["label_ja"] == "食事のご配慮" and entry.after["label_ja"] == "お食事について"
    )


def test_the_kind_of_an_answered_question_cannot_change(app):
    event, diet, details, photos = dinner()
    sign_up(event, "a@example.jp", {diet.id: "1", details.id: "えび"})
    as_long_text = QuestionData(kind=QuestionKind.long_text, label_ja="アレルギーの内容")
    with pytest.raises(Conflict) as refused:
        questions.update_question(event.id, details.id, as_long_text)
    assert refused.value.http_status == 409
    assert set(refused.value.field_errors) == {"kind"}
    assert db.session.get(EventQuestion, details.id).kind == QuestionKind.short_text
    # Before anyone answered, it could.
    questions.update_question(event.id, photos.id, QuestionData(kind="long_text", label_ja="感想"))
    assert db.session.get(EventQuestion, photos.id).kind == QuestionKind.long_text


def test_a_question_of_another_event_is_not_found(app):
    event, diet, *_ = dinner()
    other = make_event()
    db.session.commit()
    for change in (
        lambda: questions.update_question(other.id, diet.id, DIET),
        lambda: questions.move_question(other.id, diet.id, 1),
        lambda: questions.remove_question(other.id, diet.id),
    ):
        with pytest.raises(questions.QuestionNotFound):
            change()
    assert db.session.get(EventQuestion, diet.id).event_id == event.id


def test_a_duplicated_event_gets_the_questions_on_the_form(app):
    event, diet, details, _photos = dinner()
    questions.remove_question(event.id, details.id)
    copy = event_services.duplicate_event(event.id)
    copied = questions.form_questions(fresh(copy.id))
    assert [(q.label_ja, q.position) for q in copied] == [
        ("食事のご配慮", 1),
        ("写真の掲載に同意します", 2),
    ]
    assert copied[0].choices == db.session.get(EventQuestion, diet.id).choices
    assert fresh(copy.id).question_count == 2


# The console ------------------------------------------------------------------------------


@pytest.fixture
def organizer(logged_in_client):
    return logged_in_client()


def form_data(**values: str) -> dict[str, str]:
    data = {
        "kind": "one_choice",
        "label_ja": "食事のご配慮",
        "label_en": "Dietary needs",
        "help_ja": "",
        "help_en": "",
        "choices": "特になし\n菜食\n",
        "choices_en": "None\nVegetarian",
        "is_required": "y",
    }
    data.update(values)
    return {key: value for key, value in data.items() if value is not None}


def test_the_office_adds_edits_moves_and_removes_questions_in_the_console(app, organizer):
    event = make_event()
    db.session.commit()
    base = f"/admin/events/{event.id}/questions"
    detail = organizer.get(f"/admin/events/{event.id}?lang=en").get_data(as_text=True)
    assert f'href="{base}"' in detail

    response = organizer.post(f"{base}/new", data=form_data())
    assert response.status_code == 302
    diet = db.session.scalar(select(EventQuestion))
    assert response.headers["Location"].endswith(f"{base}#question-{diet.id}")
    assert (diet.label_ja, diet.is_required) == ("食事のご配慮", True)
    assert diet.choices == [
        {"key": "1", "ja": "特になし", "en": "None"},
        {"key": "2", "ja": "菜食", "en": "Vegetarian"},
    ]
    organizer.post(
        f"{base}/new",
        data=form_data(
            kind="short_text", label_ja="所属", choices="", choices_en="", is_required=None
        ),
    )
    page = organizer.get(f"{base}?lang=ja").get_data(as_text=True)
    assert page.index("食事のご配慮") < page.index("所属")
    assert "必須" in page and "任意" in page

    edit = organizer.get(f"{base}/{diet.id}/edit?lang=ja").get_data(as_text=True)
    assert "特になし\n菜食" in edit and 'value="Dietary needs"' in edit
    response = organizer.post(
        f"{base}/{diet.id}/edit", data=form_data(label_ja="お食事", choices_en="")
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(EventQuestion, diet.id).label_ja == "お食事"
    assert db.session.get(EventQuestion, diet.id).choices[0]["en"] == ""

    response = organizer.post(f"{base}/{diet.id}/move", data={"direction": "down"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(EventQuestion, diet.id).position == 2
    assert (
        organizer.post(f"{base}/{diet.id}/move", data={"direction": "sideways"}).status_code == 400
    )

    response = organizer.post(f"{base}/{diet.id}/remove")
    assert response.status_code == 302
    assert count(EventQuestion) == 1
    actions = db.session.scalars(
        select(AuditLogEntry.action)
        .where(AuditLogEntry.event_id == event.id)
        .order_by(AuditLogEntry.id)
    ).all()
    assert actions == [
        "event_question.add",
        "event_question.add",
        "event_question.update",
        "event_question.move",
        "event_question.remove",
    ]
    entry = db.session.scalar(
        select(AuditLogEntry).where(AuditLogEntry.action == "event_question.add")
    )
    assert entry.organizer_id == organizer.organizer.id
    log = organizer.get(f"/admin/events/{event.id}?lang=en").get_data(as_text=True)
    assert "Besides the usual fields, the form asks 1 questions" in log


@pytest.mark.parametrize(
    ("values", "field", "status"),
    [
        ({"label_ja": ""}, "label_ja", 400),
        ({"label_ja": "あ" * 201}, "label_ja", 400),
        ({"choices": "ひとつだけ", "choices_en": ""}, "choices", 400),
        ({"choices_en": "None"}, "choices_en", 400),
        ({"kind": "essay"}, "kind", 400),
        ({"label_ja": "食事\x07のご配慮"}, "label_ja", 400),
        ({"help_en": "line\none"}, "help_en", 400),
    ],
    ids=["no-label", "too-long", "one-choice", "english-lines", "kind", "control", "line-break"],
)
def test_a_wrong_question_form_is_shown_again_with_the_error_at_its_field(
    app, organizer, values, field, status
):
    event = make_event()
    db.session.commit()
    response = organizer.post(
        f"/admin/events/{event.id}/questions/new?lang=en", data=form_data(**values)
    )
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    control = re.search(rf'<(?:input|select|textarea)\b[^>]*\bid="{field}"[^>]*>', html)
    assert control is not None and f"{field}-error" in control.group(0), html
    assert "Please check the following" in html
    assert count(EventQuestion) == 0 and count(AuditLogEntry) == 0


def test_changing_the_kind_of_an_answered_question_is_a_409_at_the_field(app, organizer):
    event, diet, details, _photos = dinner()
    sign_up(event, "a@example.jp", {diet.id: "1", details.id: "えび"})
    url = f"/admin/events/{event.id}/questions/{details.id}/edit?lang=en"
    page = organizer.get(url).get_data(as_text=True)
    assert "1 people have answered this question" in page
    response = organizer.post(url, data=form_data(kind="long_text", label_ja="内容", choices=""))
    assert response.status_code == 409
    assert 'id="kind-error"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(EventQuestion, details.id).label_ja == "アレルギーの内容"


def test_console_urls_of_an_unknown_question_or_event_are_404(app, organizer):
    _event, diet, *_ = dinner()
    other = make_event()
    db.session.commit()
    assert organizer.get(f"/admin/events/{other.id}/questions/{diet.id}/edit").status_code == 404
    assert organizer.post(f"/admin/events/{other.id}/questions/{diet.id}/remove").status_code == 404
    assert (
        organizer.post(
            f"/admin/events/{other.id}/questions/{diet.id}/move", data={"direction": "up"}
        ).status_code
        == 404
    )
    assert db.session.get(EventQuestion, diet.id) is not None
    assert organizer.get("/admin/events/999999/questions").status_code == 404


def test_question_pages_need_a_login(app, client):
    event, *_ = dinner()
    response = client.post(f"/admin/events/{event.id}/questions/new", data=form_data())
    assert response.status_code in (302, 401)
    assert count(EventQuestion) == 3


# Shown to the office: the attendee page and the exports ---------------------------------------


def test_the_attendee_page_shows_the_answers_as_given(app, organizer):
    event, diet, details, photos = dinner()
    outcome = sign_up(
        event,
        "a@example.jp",
        {diet.id: key_of(diet, "アレルギーあり"), details.id: "えび", photos.id: True},
    )
    url = f"/admin/events/{event.id}/attendees/{outcome.registration_id}"
    page = organizer.get(f"{url}?lang=ja").get_data(as_text=True)
    for text in (
        "<dt>食事のご配慮</dt>",
        "<dd>アレルギーあり</dd>",
        "<dt>アレルギーの内容</dt>",
        "<dd>えび</dd>",
    ):
        assert text in page
    assert "<dd>同意する</dd>" in page
    english = organizer.get(f"{url}?lang=en").get_data(as_text=True)
    assert "<dt>Dietary needs</dt>" in english and "<dd>Allergy</dd>" in english
    assert '<dt lang="ja">アレルギーの内容</dt>' in english  # no English wording: Japanese


def _csv(client, event: Event) -> list[list[str]]:
    response = client.get(f"/admin/events/{event.id}/attendees.csv?lang=ja")
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def test_exports_have_a_column_per_question_and_keep_removed_and_reworded_ones(app, organizer):
    event, diet, details, photos = dinner()
    sign_up(event, "a@example.jp", {diet.id: "2", details.id: "=1+1", photos.id: True}, "一郎")
    sign_up(event, "b@example.jp", {diet.id: "1"}, "二郎")
    questions.update_question(event.id, diet.id, replace(DIET, label_ja="お食事"))
    questions.remove_question(event.id, photos.id)  # answered: its column stays
    questions.add_question(event.id, QuestionData(kind=QuestionKind.long_text, label_ja="ご感想"))
    sign_up(event, "c@example.jp", {diet.id: "3"}, "三郎")

    base = len(exports.columns())
    header, *rows = _csv(organizer, event)
    assert header[base:] == ["お食事", "アレルギーの内容", "ご感想", "写真の掲載に同意します"]
    by_name = {row[1]: row[base:] for row in rows}
    assert by_name["一郎"] == ["菜食", "'=1+1", "", "同意する"]
    assert by_name["二郎"] == ["特になし", "", "", ""]
    assert by_name["三郎"] == ["アレルギーあり", "", "", ""]

    response = organizer.get(f"/admin/events/{event.id}/attendees.xlsx?lang=en")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    header = [cell.value for cell in sheet[1]]
    assert header[base:] == [
        "Dietary needs",
        "アレルギーの内容",
        "ご感想",
        "写真の掲載に同意します",
    ]
    cells = {
        row[1].value: [c.value or "" for c in row[base:]] for row in sheet.iter_rows(min_row=2)
    }
    assert cells["一郎"] == ["Vegetarian", "'=1+1", "", "Agreed"]


def test_an_export_of_an_event_that_never_had_questions_reads_no_answers(
    app, organizer, count_queries
):
    event = make_event()
    db.session.commit()
    sign_up(event, "a@example.jp", {})
    with count_queries() as counter:
        assert organizer.get(f"/admin/events/{event.id}/attendees.csv").status_code == 200
    assert not [
        s for s in counter.statements if "event_question" in s or "registration_answer" in s
    ]


# Personal data -----------------------------------------------------------------------------


def test_the_purge_deletes_the_answers_and_keeps_the_questions(app):
    event, diet, details, photos = dinner()
    sign_up(event, "a@example.jp", {diet.id: "1", details.id: "そば", photos.id: True})
    sign_up(event, "b@example.jp", {diet.id: "2"})
    other, other_question = make_event(), None
    db.session.commit()
    other_question = questions.add_question(other.id, DETAILS)
    sign_up(other, "a@example.jp", {other_question.id: "残る回答"})
    ended = utcnow() - timedelta(days=2)
    event = fresh(event.id)
    event.starts_at = event.ends_at = ended
    db.session.commit()

    assert purge.purge_event(event.id) == 2
    remaining = db.session.scalars(select(RegistrationAnswer.value)).all()
    assert remaining == ["残る回答"]
    assert count(EventQuestion) == 4
    entry = db.session.scalar(
        select(AuditLogEntry).where(AuditLogEntry.action == "event.purge_personal_data")
    )
    assert entry.after["answers"] == 4
