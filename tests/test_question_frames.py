"""Questions per participation frame (issue 12, point 3: "per frame or for all"), on SQLite
and PostgreSQL: a question is asked of everyone or of one frame's registrants; the form
shows every question, a frame's labelled with it and required only when that frame is
chosen (another frame's never block a sign-up and are not kept); the console chooses the
frame, refused at the field for another event's frame, audited; a duplicated event's
questions follow the copied frames; a frame with questions is not removed; a move to
another frame keeps the answers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from cluster_events.errors import Conflict, ServiceError
from cluster_events.events import frames as frame_services
from cluster_events.events import services as event_services
from cluster_events.extensions import db
from cluster_events.models import (
    AuditLogEntry,
    Event,
    EventQuestion,
    Frame,
    FrameEligibility,
    OutboxMessage,
    QuestionKind,
    Registration,
    RegistrationAnswer,
)
from cluster_events.registration import answers, questions, services
from cluster_events.registration.questions import QuestionData
from cluster_events.registration.services import FrameChoice, RegistrationDetails
from tests.factories import frame, make_event, make_organizer
from tests.members import first_person, make_member, sign_in_member
from tests.records import audit_entries

FORM = {
    "name": "横須賀 太郎",
    "name_kana": "よこすか たろう",
    "email": "taro@example.jp",
    "member_type": "general",
    "agree_privacy": "y",
}


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def fresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


class Dinner:
    """The 懇談会's dinner: 会員枠 (members) and 一般枠 (anyone), a dietary question for
    everyone, a required 「ご紹介者」 for 一般枠 only and an optional 「会員番号」 for 会員枠."""

    def __init__(self, members: str = FrameEligibility.members) -> None:
        event = make_event(
            slug="dinner",
            frames=[
                frame("会員枠", 15, name_en="Members", eligibility=members),
                frame("一般枠", 5, name_en="General"),
            ],
        )
        db.session.commit()
        self.event_id = event.id
        self.members_frame, self.general_frame = (f.id for f in event.frames)
        self.diet = questions.add_question(
            event.id,
            QuestionData(
                kind=QuestionKind.one_choice,
                label_ja="食事のご配慮",
                label_en="Dietary needs",
                choices=(("特になし", "None"), ("菜食", "Vegetarian")),
                is_required=True,
            ),
        ).id
        self.referrer = questions.add_question(
            event.id,
            QuestionData(
                kind=QuestionKind.short_text,
                label_ja="ご紹介者",
                is_required=True,
                frame_id=self.general_frame,
            ),
        ).id
        self.number = questions.add_question(
            event.id,
            QuestionData(
                kind=QuestionKind.short_text,
                label_ja="会員番号",
                label_en="Member number",
                frame_id=self.members_frame,
            ),
        ).id

    @property
    def event(self) -> Event:
        return fresh(Event, self.event_id)


def field(question_id: int) -> str:
    return answers.field_name(question_id)


def stored_answers() -> dict[int, str]:
    db.session.expire_all()
    return {a.question_id: a.value for a in db.session.scalars(select(RegistrationAnswer))}


# The service ------------------------------------------------------------------------------


def test_questions_for_a_frame_are_everyones_and_that_frames(app):
    dinner = Dinner()
    event = dinner.event
    ids = lambda found: [q.id for q in found]  # noqa: E731
    assert ids(questions.questions_for(event, dinner.general_frame)) == [
        dinner.diet,
        dinner.referrer,
    ]
    assert ids(questions.questions_for(event, dinner.members_frame)) == [dinner.diet, dinner.number]
    assert ids(questions.questions_for(event, None)) == [dinner.diet]
    assert ids(questions.form_questions(event)) == [dinner.diet, dinner.referrer, dinner.number]
    question = db.session.get(EventQuestion, dinner.referrer)
    assert question.frame.name_ja == "一般枠"
    assert question.applies_to(dinner.general_frame)
    assert not question.applies_to(dinner.members_frame) and not question.applies_to(None)


def test_an_event_without_questions_reads_none_whatever_the_frame(app, count_queries):
    event = make_event(frames=[frame("会員枠", 3), frame("一般枠", 2)])
    db.session.commit()
    db.session.refresh(event)
    frame_id = event.frames[0].id
    with count_queries() as counter:
        assert questions.questions_for(event, frame_id) == []
        assert questions.form_questions(event) == []
    assert counter.count == 0


def test_another_frames_required_question_is_not_required_and_not_kept(app):
    dinner = Dinner()
    event = dinner.event
    sent = {dinner.diet: "1", dinner.number: "A-12", dinner.referrer: ""}
    checked = answers.checked_answers(
        event.questions_revision,
        questions.form_questions(event),
        sent,
        frame_id=dinner.members_frame,
    )
    assert checked.frame_id == dinner.members_frame
    assert [d.question_id for d in checked.drafts] == [dinner.diet, dinner.number]
    with pytest.raises(ServiceError) as refused:
        answers.checked_answers(
            event.questions_revision,
            questions.form_questions(event),
            sent,
            frame_id=dinner.general_frame,
        )
    assert list(refused.value.field_errors) == [field(dinner.referrer)]


def test_answers_checked_for_one_frame_are_refused_for_another(app):
    dinner = Dinner(members=FrameEligibility.anyone)
    event = dinner.event
    checked = answers.checked_answers(
        event.questions_revision,
        questions.form_questions(event),
        {dinner.diet: "1"},
        frame_id=dinner.members_frame,
    )
    details = RegistrationDetails(name="山田 一郎", name_kana="やまだ いちろう", email="a@x.jp")
    with pytest.raises(services.QuestionsChanged):
        services.register(
            dinner.event_id,
            details,
            answers=checked,
            choice=FrameChoice(frame_id=dinner.general_frame),
        )
    assert (count(Registration), count(RegistrationAnswer)) == (0, 0)
    outcome = services.register(
        dinner.event_id, details, answers=checked, choice=FrameChoice(dinner.members_frame)
    )
    assert outcome.created and stored_answers() == {dinner.diet: "1"}


@pytest.mark.parametrize("frame_id", ["foreign", 0, 999_999])
def test_a_frame_of_another_event_is_refused_at_the_field_and_nothing_is_written(app, frame_id):
    dinner = Dinner()
    other = make_event(slug="other")
    db.session.commit()
    if frame_id == "foreign":
        frame_id = other.frames[0].id
    before = (count(EventQuestion), count(AuditLogEntry), dinner.event.questions_revision)
    data = QuestionData(kind=QuestionKind.short_text, label_ja="質問", frame_id=frame_id)
    with pytest.raises(ServiceError) as refused:
        questions.add_question(dinner.event_id, data)
    assert refused.value.http_status == 400 and list(refused.value.field_errors) == ["frame"]
    with pytest.raises(ServiceError):
        questions.update_question(dinner.event_id, dinner.diet, data)
    after = (count(EventQuestion), count(AuditLogEntry), dinner.event.questions_revision)
    assert after == before
    assert fresh(EventQuestion, dinner.diet).frame_id is None


def test_the_frame_is_in_the_audit_log_and_a_change_of_it_is_a_new_revision(app):
    dinner = Dinner()
    added = audit_entries("event_question.add")
    assert [entry.after["frame"] for entry in added] == [None, "一般枠", "会員枠"]
    revision = dinner.event.questions_revision
    question = fresh(EventQuestion, dinner.referrer)
    questions.update_question(
        dinner.event_id,
        dinner.referrer,
        QuestionData(kind=question.kind, label_ja=question.label_ja, is_required=True),
    )
    assert fresh(EventQuestion, dinner.referrer).frame_id is None
    assert dinner.event.questions_revision == revision + 1
    (entry,) = audit_entries("event_question.update")
    assert (entry.before, entry.after) == ({"frame": "一般枠"}, {"frame": None})


def test_a_duplicated_event_asks_the_copied_frames(app):
    dinner = Dinner()
    copy = event_services.duplicate_event(dinner.event_id)
    copy = fresh(Event, copy.id)
    by_name = {f.id: f.name_ja for f in copy.frames}
    copied = questions.form_questions(copy)
    assert [(q.label_ja, by_name.get(q.frame_id)) for q in copied] == [
        ("食事のご配慮", None),
        ("ご紹介者", "一般枠"),
        ("会員番号", "会員枠"),
    ]
    assert all(q.frame_id is None or q.frame_id in by_name for q in copied)
    assert (copy.question_count, copy.questions_revision) == (3, 1)


def test_a_frame_with_questions_is_not_removed_and_a_move_keeps_the_answers(app):
    dinner = Dinner(members=FrameEligibility.anyone)
    organizer_id = make_organizer().id
    db.session.commit()
    event = dinner.event
    details = RegistrationDetails(name="山田 一郎", name_kana="やまだ いちろう", email="a@x.jp")
    checked = answers.checked_answers(
        event.questions_revision,
        questions.form_questions(event),
        {dinner.diet: "2", dinner.referrer: "横須賀 花子"},
        frame_id=dinner.general_frame,
    )
    outcome = services.register(
        dinner.event_id, details, answers=checked, choice=FrameChoice(dinner.general_frame)
    )
    services.move_to_frame(
        outcome.registration_id,
        dinner.members_frame,
        event_id=dinner.event_id,
        organizer_id=organizer_id,
    )
    moved = fresh(Registration, outcome.registration_id)
    assert moved.frame_id == dinner.members_frame
    assert stored_answers() == {dinner.diet: "2", dinner.referrer: "横須賀 花子"}
    shown = answers.shown_answers(moved, "ja")
    assert [(str(a.label), str(a.text)) for a in shown] == [
        ("食事のご配慮", "菜食"),
        ("ご紹介者", "横須賀 花子"),
    ]

    # 一般枠 has no registration now, but a question on the form.
    with app.test_request_context(), pytest.raises(Conflict) as refused:
        frame_services.remove_frame(dinner.event_id, dinner.general_frame)
    assert "質問が1件あるため、この枠は削除できません" in str(refused.value.message)
    assert fresh(Event, dinner.event_id).frame_count == 2
    assert [q.frame_id for q in questions.form_questions(dinner.event)][1] == dinner.general_frame

    # Taken off the form, the answered question is kept and names no frame any more.
    assert questions.remove_question(dinner.event_id, dinner.referrer) is True
    with app.test_request_context():
        frame_services.remove_frame(dinner.event_id, dinner.general_frame)
    assert [f.name_ja for f in dinner.event.frames] == ["会員枠"]
    kept = fresh(EventQuestion, dinner.referrer)
    assert (kept.frame_id, kept.removed_at is not None) == (None, True)
    assert stored_answers()[dinner.referrer] == "横須賀 花子"


# The public form --------------------------------------------------------------------------


def post(client, data: dict[str, Any], lang: str = "ja"):
    return client.post(f"/events/dinner/register?lang={lang}", data=data)


def control(html: str, element_id: str) -> str:
    found = re.search(rf'<(?:input|textarea|fieldset)\b[^>]*\bid="{element_id}"[^>]*>', html)
    assert found is not None, element_id
    return found.group(0)


def test_the_form_shows_every_question_each_frames_labelled_and_not_marked_required(app, client):
    dinner = Dinner(members=FrameEligibility.anyone)
    html = client.get("/events/dinner?lang=ja").get_data(as_text=True)
    referrer, number = field(dinner.referrer), field(dinner.number)
    assert (
        f'<label for="{referrer}">ご紹介者<span class="question-frame">（<span>一般枠</span>'
        f'の方のみ）</span><span class="required-mark">（必須）</span></label>'
    ) in html
    assert '<span class="question-frame">（<span>会員枠</span>の方のみ）</span></label>' in html
    assert f'data-frame-question="{dinner.general_frame}"' in html
    assert f'data-frame-question="{dinner.members_frame}"' in html
    # Required only of 一般枠: not required for the browser or a screen reader.
    assert "required" not in control(html, referrer).replace("data-required-control", "")
    assert "data-required-control" in control(html, referrer)
    assert "data-required-control" not in control(html, number)  # optional
    assert "参加枠の名前が書かれた質問は、その参加枠でお申込みの方だけに" in html
    assert '<form class="registration-form"' in html and "data-frame-questions" in html
    assert 'src="/static/js/frame_questions.js"' in html
    # The question for everyone is as before.
    assert (
        '<fieldset class="radio-group">\n    <legend>食事のご配慮<span class="required-mark">'
        in html
    )
    english = client.get("/events/dinner?lang=en").get_data(as_text=True)
    assert (
        f'<label for="{referrer}" lang="ja">ご紹介者<span class="question-frame" lang="en">'
        "(only for <span>General</span>)</span>"
    ) in english
    assert "(only for <span>Members</span>)" in english
    with client.get("/static/js/frame_questions.js") as script:
        assert script.status_code == 200 and b"data-frame-question" in script.data


def test_a_question_for_the_only_frame_is_asked_as_any_other(app, client):
    event = make_event(slug="dinner")
    db.session.commit()
    only = event.frames[0].id
    question = questions.add_question(
        event.id,
        QuestionData(
            kind=QuestionKind.short_text, label_ja="ご紹介者", is_required=True, frame_id=only
        ),
    ).id
    html = client.get("/events/dinner?lang=ja").get_data(as_text=True)
    assert "question-frame" not in html and "frame_questions.js" not in html
    assert 'required aria-required="true"' in control(html, field(question))
    refused = post(client, FORM)
    assert refused.status_code == 400
    assert f'id="{field(question)}-error"' in refused.get_data(as_text=True)
    assert count(Registration) == 0
    assert post(client, {**FORM, field(question): "横須賀 花子"}).status_code == 303
    assert stored_answers() == {question: "横須賀 花子"}


def test_another_frames_required_question_never_blocks_a_sign_up(app, client):
    dinner = Dinner(members=FrameEligibility.anyone)
    sent = {
        **FORM,
        "frame": str(dinner.members_frame),
        field(dinner.diet): "1",
        field(dinner.number): "A-12",
        # Another frame's question, empty or answered, even with control characters.
        field(dinner.referrer): "横須賀\x07花子",
    }
    response = post(client, sent)
    assert response.status_code == 303, response.get_data(as_text=True)
    registration = db.session.scalar(select(Registration))
    assert registration.frame_id == dinner.members_frame
    assert stored_answers() == {dinner.diet: "1", dinner.number: "A-12"}


def test_a_frames_required_question_is_required_when_that_frame_is_chosen(app, client):
    dinner = Dinner(members=FrameEligibility.anyone)
    sent = {**FORM, "frame": str(dinner.general_frame), field(dinner.diet): "2"}
    refused = post(client, sent)
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    referrer = field(dinner.referrer)
    assert f'id="{referrer}-error"' in html and f"{referrer}-error" in control(html, referrer)
    assert f'<a href="#{referrer}">ご紹介者: ' in html
    assert (count(Registration), count(RegistrationAnswer), count(OutboxMessage)) == (0, 0, 0)
    # Answers to the other frame's question are kept on the page, not stored.
    done = post(client, {**sent, field(dinner.referrer): "横須賀 花子", field(dinner.number): "9"})
    assert done.status_code == 303
    assert stored_answers() == {dinner.diet: "2", dinner.referrer: "横須賀 花子"}
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "ご紹介者" in page and "横須賀 花子" in page and "会員番号" not in page


@pytest.mark.parametrize("chosen", [None, "", "abc", "0", "999999"])
def test_no_frame_or_a_wrong_one_is_a_400_at_the_frame_and_nothing_is_written(app, client, chosen):
    dinner = Dinner(members=FrameEligibility.anyone)
    sent = {**FORM, field(dinner.diet): "1"}
    if chosen is not None:
        sent["frame"] = chosen
    response = post(client, sent)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="frame-error"' in html
    # No frame is chosen, so no frame's question is asked yet.
    assert f'id="{field(dinner.referrer)}-error"' not in html
    assert (count(Registration), count(RegistrationAnswer), count(OutboxMessage)) == (0, 0, 0)


def test_a_signed_in_member_in_the_members_frame_skips_the_general_frames_question(app, client):
    dinner = Dinner()
    person = first_person(make_member())
    db.session.commit()
    sign_in_member(client, person)
    sent = {
        "name": person.name,
        "name_kana": person.name_kana,
        "agree_privacy": "y",
        "frame": str(dinner.members_frame),
        field(dinner.diet): "1",
    }
    response = post(client, sent)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert fresh(Registration, db.session.scalar(select(Registration.id))).frame_id == (
        dinner.members_frame
    )
    assert stored_answers() == {dinner.diet: "1"}


# The console ------------------------------------------------------------------------------


@pytest.fixture
def organizer(logged_in_client):
    return logged_in_client()


def question_form(**values: str | None) -> dict[str, str]:
    data = {
        "kind": "short_text",
        "label_ja": "ご紹介者",
        "label_en": "",
        "help_ja": "",
        "help_en": "",
        "choices": "",
        "choices_en": "",
        "is_required": "y",
        "frame": "",
    }
    data.update(values)
    return {key: value for key, value in data.items() if value is not None}


def test_the_office_chooses_the_frame_a_question_is_asked_of(app, organizer):
    event = make_event(frames=[frame("会員枠", 15), frame("一般枠", 5)])
    db.session.commit()
    members, general = (f.id for f in event.frames)
    base = f"/admin/events/{event.id}/questions"
    page = organizer.get(f"{base}/new?lang=ja").get_data(as_text=True)
    select_ = re.search(r'<select[^>]*id="frame".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select_) == [
        ("", "すべての参加枠"),
        (str(members), "会員枠"),
        (str(general), "一般枠"),
    ]
    assert 'aria-describedby="frame-hint"' in select_

    assert organizer.post(f"{base}/new", data=question_form(frame=str(general))).status_code == 302
    organizer.post(f"{base}/new", data=question_form(label_ja="食事のご配慮", is_required=None))
    referrer, diet = db.session.scalars(select(EventQuestion).order_by(EventQuestion.id)).all()
    assert (referrer.frame_id, diet.frame_id) == (general, None)
    listed = organizer.get(f"{base}?lang=ja").get_data(as_text=True)
    assert "質問する参加枠" in listed
    assert re.search(r"ご紹介者</a>.*?<td[^>]*>一般枠</td>", listed, re.S)
    assert re.search(r"食事のご配慮</a>.*?<td[^>]*>すべての参加枠</td>", listed, re.S)

    edit = organizer.get(f"{base}/{referrer.id}/edit").get_data(as_text=True)
    assert re.search(
        rf'<option selected value="{general}">|<option value="{general}" selected', edit
    )
    response = organizer.post(f"{base}/{referrer.id}/edit", data=question_form(frame=""))
    assert response.status_code == 302
    assert fresh(EventQuestion, referrer.id).frame_id is None
    entry = audit_entries("event_question.update")[0]
    assert (entry.before, entry.after, entry.organizer_id) == (
        {"frame": "一般枠"},
        {"frame": None},
        organizer.organizer.id,
    )


@pytest.mark.parametrize("value", ["foreign", "x", "0", "1" * 12])
def test_a_frame_that_is_not_the_events_is_a_400_at_the_field(app, organizer, value):
    event = make_event(frames=[frame("会員枠", 15), frame("一般枠", 5)])
    other = make_event()
    db.session.commit()
    if value == "foreign":
        value = str(other.frames[0].id)
    base = f"/admin/events/{event.id}/questions"
    response = organizer.post(f"{base}/new?lang=en", data=question_form(frame=value))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="frame-error"' in html and "one of this event&#39;s frames" in html
    select_ = re.search(r'<select[^>]*id="frame"[^>]*>', html).group(0)
    assert "frame-error" in select_ and 'aria-invalid="true"' in select_
    assert (count(EventQuestion), count(AuditLogEntry)) == (0, 0)


def test_removing_a_frame_with_questions_says_why_in_the_console(app, organizer):
    event = make_event(frames=[frame("会員枠", 15), frame("一般枠", 5)])
    db.session.commit()
    general = event.frames[1].id
    questions.add_question(
        event.id, QuestionData(kind=QuestionKind.short_text, label_ja="ご紹介者", frame_id=general)
    )
    response = organizer.post(
        f"/admin/events/{event.id}/frames/{general}/remove?lang=ja", follow_redirects=True
    )
    html = response.get_data(as_text=True)
    assert "この参加枠の方だけにお聞きする質問が1件あるため、この枠は削除できません" in html
    assert fresh(Frame, general) is not None and count(EventQuestion) == 1
