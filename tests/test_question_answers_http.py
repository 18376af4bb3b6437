"""Answering an event's questions on the public form and on a signed-in member's (issue
12, point 3 and its bad input), over HTTP on SQLite and PostgreSQL: the controls and
their wording in the page's language, answers stored with the registration in the same
transaction (two more statements than a sign-up without questions, none at all for an
event without them), every bad answer a 400 at its question with nothing written, a
change of the questions meanwhile a 409, and the answers on the personal page and in
the confirmation and waiting-list emails."""

from __future__ import annotations

import html as html_module
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from cluster_events.extensions import db
from cluster_events.mail import outbox
from cluster_events.models import (
    Event,
    EventQuestion,
    OutboxMessage,
    QuestionKind,
    Registration,
    RegistrationAnswer,
)
from cluster_events.registration import answers, questions, routes, services
from cluster_events.registration.questions import QuestionData
from cluster_events.registration.services import RegistrationDetails
from tests.conftest import sending_to
from tests.factories import make_event
from tests.members import first_person, make_member, sign_in_member

FORM = {
    "name": "横須賀 太郎",
    "name_kana": "よこすか たろう",
    "email": "taro@example.jp",
    "member_type": "general",
    "agree_privacy": "y",
}


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp_server) -> dict[str, Any]:
    return {**app_config, **sending_to(smtp_server), "MAIL_TIMEOUT": 5}


class Dinner:
    """An event with one question of each kind."""

    def __init__(self, capacity: int | None = 10, **event_values: Any) -> None:
        event = make_event(slug="dinner", capacity=capacity, **event_values)
        db.session.commit()
        self.event_id = event.id
        add = lambda data: questions.add_question(event.id, data).id  # noqa: E731
        self.diet = add(
            QuestionData(
                kind=QuestionKind.one_choice,
                label_ja="食事のご配慮",
                label_en="Dietary needs",
                help_ja="軽食の準備に使います。",
                help_en="For the light meal.",
                choices=(("特になし", "None"), ("菜食", "Vegetarian"), ("アレルギーあり", "")),
                is_required=True,
            )
        )
        self.topics = add(
            QuestionData(
                kind=QuestionKind.several_choices,
                label_ja="関心のある分野",
                label_en="Topics of interest",
                choices=(("ISO", "ISO"), ("特許", "Patents"), ("省エネ", "Energy saving")),
            )
        )
        self.company = add(
            QuestionData(kind=QuestionKind.short_text, label_ja="所属部署", is_required=True)
        )
        self.wishes = add(
            QuestionData(kind=QuestionKind.long_text, label_ja="ご要望", label_en="Requests")
        )
        self.photos = add(
            QuestionData(
                kind=QuestionKind.agreement,
                label_ja="写真の掲載に同意します",
                label_en="I agree to photographs being published",
                is_required=True,
            )
        )

    @property
    def event(self) -> Event:
        db.session.expire_all()
        return db.session.get(Event, self.event_id)

    def answers(self, **changes: Any) -> dict[str, Any]:
        values = {
            self.diet: "2",
            self.topics: ["3", "1"],
            self.company: "総務部",
            self.wishes: "車椅子で参加します。\n段差のない席を希望します。",
            self.photos: "y",
        }
        for name, value in changes.items():
            values[getattr(self, name)] = value
        return {f"question_{qid}": v for qid, v in values.items() if v is not None}


def post(client, event: Event, data: dict[str, Any], lang: str = "ja"):
    return client.post(f"/events/{event.slug}/register?lang={lang}", data=data)


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def control(html: str, element_id: str) -> str:
    found = re.search(rf'<(?:input|textarea|fieldset)\b[^>]*\bid="{element_id}"[^>]*>', html)
    assert found is not None, element_id
    return found.group(0)


# The form ---------------------------------------------------------------------------------


def test_the_form_asks_each_question_with_its_own_control(app, client):
    dinner = Dinner()
    html = client.get("/events/dinner?lang=ja").get_data(as_text=True)
    diet, topics = f"question_{dinner.diet}", f"question_{dinner.topics}"
    fieldset = re.search(
        rf'<fieldset class="radio-group" aria-describedby="{diet}-hint">\s*'
        r"<legend>食事のご配慮<span class=\"required-mark\">（必須）</span></legend>",
        html,
    )
    assert fieldset, html
    assert f'<span class="hint" id="{diet}-hint">軽食の準備に使います。</span>' in html
    for index, (key, text) in enumerate(
        (("1", "特になし"), ("2", "菜食"), ("3", "アレルギーあり"))
    ):
        assert (
            f'<input type="radio" id="{diet}-{index}" name="{diet}" value="{key}"> '
            f'<label for="{diet}-{index}">{text}</label>'
        ) in html
    assert f'<input type="checkbox" id="{topics}-1" name="{topics}" value="2">' in html
    assert "<legend>関心のある分野</legend>" in html  # not required: no mark
    company = control(html, f"question_{dinner.company}")
    assert 'type="text"' in company and "required" in company
    assert f'aria-describedby="question_{dinner.company}-hint"' in company
    assert f'<label for="question_{dinner.company}">所属部署<span class="required-mark">' in html
    assert (
        f'<span class="hint" id="question_{dinner.company}-hint">200文字以内でご記入ください。'
        in html
    )
    assert control(html, f"question_{dinner.wishes}").startswith("<textarea")
    photos = control(html, f"question_{dinner.photos}")
    assert 'type="checkbox"' in photos and 'aria-required="true"' in photos
    # The questions come after the membership and before the remarks.
    assert html.index('name="member_type"') < html.index(diet) < html.index('name="remarks"')


def test_an_english_page_words_the_questions_in_english_or_marks_the_japanese(app, client):
    dinner = Dinner()
    html = client.get("/events/dinner?lang=en").get_data(as_text=True)
    diet = f"question_{dinner.diet}"
    assert "<legend>Dietary needs<span" in html and "For the light meal." in html
    assert f'<label for="{diet}-1">Vegetarian</label>' in html
    assert f'<label for="{diet}-2" lang="ja">アレルギーあり</label>' in html
    assert f'<label for="question_{dinner.company}" lang="ja">所属部署' in html
    assert "<legend>Topics of interest</legend>" in html


def test_an_event_page_shows_a_change_of_the_questions_at_once(app, client):
    dinner = Dinner()
    assert "食事のご配慮" in client.get("/events/dinner").get_data(as_text=True)
    questions.remove_question(dinner.event_id, dinner.diet)
    assert "食事のご配慮" not in client.get("/events/dinner").get_data(as_text=True)


# Answering --------------------------------------------------------------------------------


def test_answers_are_stored_with_their_wording_and_shown_on_the_personal_page(app, client):
    dinner = Dinner()
    response = post(client, dinner.event, {**FORM, **dinner.answers()})
    assert response.status_code == 303, response.get_data(as_text=True)
    registration = db.session.scalar(select(Registration))
    stored = {a.question_id: a for a in registration.answers}
    assert set(stored) == {dinner.diet, dinner.topics, dinner.company, dinner.wishes, dinner.photos}
    diet = stored[dinner.diet]
    assert (diet.label_ja, diet.label_en, diet.value) == ("食事のご配慮", "Dietary needs", "2")
    assert diet.choices == [{"key": "2", "ja": "菜食", "en": "Vegetarian"}]
    assert stored[dinner.topics].value == "1\n3"  # in the question's order
    assert [c["ja"] for c in stored[dinner.topics].choices] == ["ISO", "省エネ"]
    assert stored[dinner.wishes].value == "車椅子で参加します。\n段差のない席を希望します。"
    assert stored[dinner.photos].value == "yes"
    assert [a.position for a in registration.answers] == [1, 2, 3, 4, 5]

    # Reworded afterwards: the personal page shows what was answered.
    questions.update_question(
        dinner.event_id,
        dinner.diet,
        QuestionData(
            kind="one_choice",
            label_ja="お食事",
            choices=(("なし", ""), ("ベジタリアン", "")),
            is_required=True,
        ),
    )
    page = client.get(response.headers["Location"] + "?lang=ja").get_data(as_text=True)
    assert "<dt>食事のご配慮</dt>" in page and "<dd>菜食</dd>" in page
    assert "<dd>ISO、省エネ</dd>" in page
    assert '<dd class="preserve-lines">車椅子で参加します。' in page
    assert "<dd>同意する</dd>" in page
    english = client.get(response.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "<dt>Dietary needs</dt>" in english and "<dd>Vegetarian</dd>" in english
    assert '<dt lang="ja">所属部署</dt>' in english and "<dd>Agreed</dd>" in english


def test_unanswered_optional_questions_store_nothing(app, client):
    dinner = Dinner()
    data = {**FORM, **dinner.answers(topics=None, wishes="  ")}
    assert post(client, dinner.event, data).status_code == 303
    assert set(db.session.scalars(select(RegistrationAnswer.question_id))) == {
        dinner.diet,
        dinner.company,
        dinner.photos,
    }


BAD_ANSWERS = {
    "required-choice-missing": ("diet", None, "選択肢から1つお選びください。"),
    "choice-out-of-range": ("diet", "99", "表示されている選択肢からお選びください。"),
    "two-choices-for-one": ("diet", ["1", "2"], "表示されている選択肢からお選びください。"),
    "several-with-an-unknown": ("topics", ["1", "9"], "表示されている選択肢からお選びください。"),
    "required-text-missing": ("company", "", "この質問にお答えください。"),
    "required-text-blank": ("company", "　 ", "この質問にお答えください。"),
    "short-text-too-long": ("company", "あ" * 201, "200文字以内でご入力ください。"),
    "long-text-too-long": ("wishes", "あ" * 2001, "2000文字以内でご入力ください。"),
    "control-character": ("company", "総務\x07部", "制御文字"),
    "line-break-in-short-text": ("company", "総務\n部", "1行で"),
    "control-character-in-long-text": ("wishes", "よろしく\x1bお願いします", "制御文字"),
    "agreement-not-ticked": ("photos", None, "同意いただける場合は、チェックを入れてください。"),
}


@pytest.mark.parametrize("case", BAD_ANSWERS, ids=list(BAD_ANSWERS))
def test_a_bad_answer_is_a_400_at_its_question_and_nothing_is_written(app, client, case):
    name, value, message = BAD_ANSWERS[case]
    dinner = Dinner()
    question_id = getattr(dinner, name)
    field = f"question_{question_id}"
    response = post(client, dinner.event, {**FORM, **dinner.answers(**{name: value})})
    assert response.status_code == 400
    html = html_module.unescape(response.get_data(as_text=True))
    assert (count(Registration), count(RegistrationAnswer), count(OutboxMessage)) == (0, 0, 0)
    error = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', html, re.S)
    assert error is not None and message in error.group(1), html
    kind = db.session.get(EventQuestion, question_id).kind
    if kind in (QuestionKind.one_choice, QuestionKind.several_choices):
        described = (
            rf'<fieldset class="radio-group" aria-describedby="(?:{field}-hint )?{field}-error">'
        )
        assert re.search(described, html), html
        assert f'href="#{field}-0"' in html  # the summary links to the first choice
    else:
        assert f"{field}-error" in control(html, field)
        assert 'aria-invalid="true"' in control(html, field)
        assert f'href="#{field}"' in html
    assert "横須賀 太郎" in html  # what was typed is kept
    assert html.index("error-summary") < html.index(f'id="{field}-error"')


def test_every_bad_answer_is_shown_at_once_with_the_other_fields_errors(app, client):
    dinner = Dinner()
    data = {**FORM, "name": "", **dinner.answers(diet=None, company="", photos=None)}
    response = post(client, dinner.event, data, lang="en")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for field in (
        "name",
        f"question_{dinner.diet}",
        f"question_{dinner.company}",
        f"question_{dinner.photos}",
    ):
        assert f'id="{field}-error"' in html
    summary = html[html.index("error-summary") : html.index("</ul>", html.index("error-summary"))]
    order = [
        summary.index(text)
        for text in (
            "#name",
            f"#question_{dinner.diet}-0",
            f"#question_{dinner.company}",
            f"#question_{dinner.photos}",
        )
    ]
    assert order == sorted(order)  # in the order of the page
    assert count(Registration) == 0


def test_questions_changed_while_the_form_was_filled_in_are_a_409_with_the_new_form(
    app, client, monkeypatch
):
    dinner = Dinner()
    checked = answers.checked_answers

    def office_changes_the_questions_meanwhile(*args: Any, **kwargs: Any) -> Any:
        answer_set = checked(*args, **kwargs)
        questions.add_question(
            dinner.event_id,
            QuestionData(kind="short_text", label_ja="新しい質問", is_required=True),
        )
        return answer_set

    monkeypatch.setattr(routes.answers, "checked_answers", office_changes_the_questions_meanwhile)
    response = post(client, dinner.event, {**FORM, **dinner.answers()})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "ご記入中に、このフォームの質問が変更されました" in html
    assert "新しい質問" in html and 'value="総務部"' in html
    assert (count(Registration), count(RegistrationAnswer), count(OutboxMessage)) == (0, 0, 0)


def test_the_service_refuses_answers_to_other_questions_than_the_current_ones(app):
    dinner = Dinner()
    event = dinner.event
    current = questions.form_questions(event)
    sent = {dinner.diet: "1", dinner.company: "総務部", dinner.photos: True}
    stale = answers.checked_answers(event.questions_revision, current, sent)
    questions.move_question(dinner.event_id, dinner.photos, -1)
    details = RegistrationDetails(
        name="山田 一郎", name_kana="やまだ いちろう", email="a@example.jp"
    )
    with pytest.raises(services.QuestionsChanged):
        services.register(dinner.event_id, details, answers=stale)
    with pytest.raises(services.QuestionsChanged):  # a web sign-up must bring answers
        services.register(dinner.event_id, details)
    assert count(Registration) == 0
    # The office may add someone without answers.
    outcome = services.register(dinner.event_id, details, source="organizer", notify=False)
    assert outcome.created and count(RegistrationAnswer) == 0


def test_statements_per_sign_up_three_more_with_questions_none_about_them_without(
    app, client, count_queries
):
    """Without questions the sign-up reads nothing before its lock. With answers sent,
    the view reads the event and its questions (to build and check the form) and the
    answers are one INSERT."""
    dinner = Dinner()
    plain = make_event(slug="plain", capacity=10)
    warm_up = make_event(slug="warm-up", capacity=10)
    db.session.commit()
    assert post(client, warm_up, {**FORM, "email": "w@example.jp"}).status_code == 303
    plain_url = f"/events/{plain.slug}/register?lang=ja"
    dinner_url = f"/events/{dinner.event.slug}/register?lang=ja"
    answered = {**FORM, **dinner.answers()}
    with count_queries() as without:
        assert app.test_client().post(plain_url, data=FORM).status_code == 303
    with count_queries() as with_questions:
        assert app.test_client().post(dinner_url, data=answered).status_code == 303
    about = [s for s in without.statements if "event_question" in s or "registration_answer" in s]
    assert about == []
    assert with_questions.count - without.count == 3, with_questions.statements
    kinds = [s.split()[0] for s in with_questions.statements]
    counted = ["WITH"] if db.engine.dialect.name == "postgresql" else ["INSERT", "UPDATE", "UPDATE"]
    assert kinds == ["SELECT", "SELECT", "SELECT", *counted, "INSERT", "INSERT"]
    read_event, read_questions, lock, *_, write_answers = with_questions.statements
    assert "FROM event " in read_event
    assert "FROM event_question" in read_questions
    assert "member_person" in lock  # the lock, as without questions
    assert write_answers.startswith("INSERT INTO registration_answer")
    assert count(RegistrationAnswer) == 5


def test_a_signed_in_member_answers_the_questions_too(app, client):
    dinner = Dinner(is_members_only=True)
    member = make_member()
    person = first_person(member)
    sign_in_member(client, person)
    html = client.get("/events/dinner?lang=ja").get_data(as_text=True)
    assert f'name="question_{dinner.diet}"' in html
    member_form = {"name": person.name, "name_kana": person.name_kana, "agree_privacy": "y"}
    response = post(client, dinner.event, {**member_form, **dinner.answers(diet=None)})
    assert response.status_code == 400 and count(Registration) == 0
    response = post(client, dinner.event, {**member_form, **dinner.answers()})
    assert response.status_code == 303
    registration = db.session.scalar(select(Registration))
    assert registration.member_person_id == person.id
    assert len(registration.answers) == 5


# The emails ---------------------------------------------------------------------------------


def _parts(message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def test_the_confirmation_and_waiting_list_emails_repeat_the_answers(app, client, smtp_server):
    dinner = Dinner(capacity=1)
    assert post(client, dinner.event, {**FORM, **dinner.answers()}).status_code == 303
    waiting = {**FORM, "email": "hanako@example.jp", **dinner.answers(diet="3", topics=None)}
    assert post(app.test_client(), dinner.event, waiting, lang="en").status_code == 303
    assert outbox.deliver_due().sent == 2
    confirmation, waitlisted = smtp_server.messages()
    text, html = _parts(confirmation)
    assert "ご回答内容" in text
    assert "■ 食事のご配慮：菜食" in text
    assert "■ 関心のある分野：ISO、省エネ" in text
    assert "■ 写真の掲載に同意します：同意する" in text
    assert "車椅子で参加します。\n段差のない席を希望します。" in text.replace("\r\n", "\n")
    assert ">食事のご配慮</th>" in html and ">菜食</td>" in html
    text, html = _parts(waitlisted)
    assert "Your answers" in text
    assert "■ Dietary needs: アレルギーあり" in text
    assert "■ 所属部署: 総務部" in text
    assert "関心のある分野" not in text
    assert 'lang="ja">アレルギーあり</td>' in html and 'lang="ja">所属部署</th>' in html


def test_an_email_of_an_event_without_questions_says_nothing_of_answers(app, client, smtp_server):
    event = make_event(slug="plain")
    db.session.commit()
    assert post(client, event, FORM).status_code == 303
    assert outbox.deliver_due().sent == 1
    text, html = _parts(smtp_server.messages()[0])
    assert "ご回答内容" not in text and "ご回答内容" not in html
