"""Name readings for everybody (issue 13, point 2), on SQLite and PostgreSQL: the
English form's reading is optional and takes kana or Latin letters; the Japanese form
requires kana and refuses a reading that mixes in Latin letters, each error in the
page's language; attendee lists put people without a kana reading after the kana ones,
by their Latin name, and every page and file that shows readings takes an empty one."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from cluster_events.extensions import db
from cluster_events.models import Registration
from cluster_events.registration.attendees import SortOrder, sort_attendees
from cluster_events.text import is_latin_reading, mixes_kana_and_latin, reading_sort_key
from tests.factories import frame, make_event, make_registration

VALID = {
    "name": "John Smith",
    "email": "john@example.org",
    "member_type": "general",
    "agree_privacy": "y",
}


def sign_up(client, event, lang: str, **changes: str):
    data = {key: value for key, value in {**VALID, **changes}.items() if value is not None}
    return client.post(f"/events/{event.slug}/register?lang={lang}", data=data)


def registrations() -> list[Registration]:
    db.session.expire_all()
    return list(db.session.scalars(select(Registration)))


def error_of(html: str, field: str) -> str:
    found = re.search(rf'id="{field}-error"[^>]*>(.*?)</p>', html, re.S)
    assert found, f"no error at {field}"
    shown = re.sub(r'<span class="visually-hidden">.*?</span>', "", found.group(1))
    return re.sub(r"<[^>]+>", "", shown).strip()


# --- the rules of a reading --------------------------------------------------------------------


def test_what_counts_as_a_reading():
    assert is_latin_reading("Smith John") and is_latin_reading("O'Brien-Müller Jr.")
    assert (
        not is_latin_reading("やまだ") and not is_latin_reading("山田") and not is_latin_reading("")
    )
    assert mixes_kana_and_latin("やまだ Taro") and mixes_kana_and_latin("ヤマダtaro")
    assert not mixes_kana_and_latin("やまだ たろう") and not mixes_kana_and_latin("Smith")


# --- the English form --------------------------------------------------------------------------


def test_the_english_form_asks_for_the_reading_if_they_know_it(app, client):
    event = make_event(capacity=10)
    db.session.commit()
    html = client.get(f"/events/{event.slug}?lang=en").get_data(as_text=True)
    field = html[html.index('for="name_kana"') : html.index('id="name_kana"') + 200]
    assert "Reading of your name, if you know it in kana" in field
    assert "required" not in field.split('id="name_kana"')[1].split(">")[0]
    japanese = client.get(f"/events/{event.slug}?lang=ja").get_data(as_text=True)
    kana_input = japanese.split('id="name_kana"')[1].split(">")[0]
    assert "required" in kana_input


@pytest.mark.parametrize(
    ("reading", "stored"),
    [
        (None, ""),
        ("", ""),
        ("Smith John", "Smith John"),
        ("ＳＭＩＴＨ", "SMITH"),
        ("スミス", "すみす"),
    ],
)
def test_the_english_form_takes_no_reading_latin_letters_or_kana(app, client, reading, stored):
    event = make_event(capacity=10)
    db.session.commit()
    response = sign_up(client, event, "en", name_kana=reading)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    [registration] = registrations()
    assert registration.name_kana == stored
    assert registration.locale == "en"


@pytest.mark.parametrize(
    ("reading", "message"),
    [
        ("すみす John", "Please write the reading either in kana or in Latin letters, not both."),
        ("史密斯", "Please write the reading in kana or in Latin letters."),
    ],
)
def test_the_english_form_refuses_a_mixed_or_kanji_reading_in_english(
    app, client, reading, message
):
    event = make_event(capacity=10)
    db.session.commit()
    response = sign_up(client, event, "en", name_kana=reading)
    assert response.status_code == 400
    assert error_of(response.get_data(as_text=True), "name_kana") == message
    assert registrations() == []


def test_an_english_companion_needs_no_reading(app, client):
    event = make_event(frames=[frame("交流会", 10, max_companions=2)])
    db.session.commit()
    response = sign_up(
        client, event, "en", companion_1_name="Mary Smith", companion_1_kana="", name_kana=""
    )
    assert response.status_code == 303
    [registration] = registrations()
    assert [(c.name, c.name_kana) for c in registration.companions] == [("Mary Smith", "")]


# --- the Japanese form -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reading", "message"),
    [
        (None, "ふりがなを入力してください。"),
        ("", "ふりがなを入力してください。"),
        ("Smith John", "ふりがなは、ひらがなかカタカナでご入力ください。"),
        (
            "やまだ Taro",
            "ふりがなにローマ字が混ざっています。ひらがなかカタカナだけでご入力ください。",
        ),
        (
            "ヤマダtaro",
            "ふりがなにローマ字が混ざっています。ひらがなかカタカナだけでご入力ください。",
        ),
    ],
)
def test_the_japanese_form_still_requires_kana(app, client, reading, message):
    event = make_event(capacity=10)
    db.session.commit()
    response = sign_up(client, event, "ja", name="山田 太郎", name_kana=reading)
    assert response.status_code == 400
    assert error_of(response.get_data(as_text=True), "name_kana") == message
    assert registrations() == []


def test_a_japanese_companions_reading_is_checked_alike(app, client):
    event = make_event(frames=[frame("交流会", 10, max_companions=2)])
    db.session.commit()
    response = sign_up(
        client,
        event,
        "ja",
        name="山田 太郎",
        name_kana="やまだ たろう",
        companion_1_name="山田 花子",
        companion_1_kana="やまだ Hanako",
    )
    assert response.status_code == 400
    assert error_of(response.get_data(as_text=True), "companion_1_kana").startswith(
        "ふりがなにローマ字が混ざっています。"
    )


def test_the_japanese_form_stores_kana_in_hiragana(app, client):
    event = make_event(capacity=10)
    db.session.commit()
    assert (
        sign_up(client, event, "ja", name="山田 太郎", name_kana="ヤマダ タロウ").status_code == 303
    )
    assert registrations()[0].name_kana == "やまだ たろう"


# --- lists -------------------------------------------------------------------------------------


def people(event):
    """Kana readings, a Latin reading, and none, made out of order."""
    make_registration(event, name="Zoe Adams", name_kana="")
    make_registration(event, name="山田 太郎", name_kana="やまだ たろう")
    make_registration(event, name="John Smith", name_kana="Smith John")
    make_registration(event, name="ann baker", name_kana="")
    make_registration(event, name="青木 一郎", name_kana="あおき いちろう")
    db.session.commit()


EXPECTED = ["青木 一郎", "山田 太郎", "ann baker", "John Smith", "Zoe Adams"]


def test_people_without_a_kana_reading_come_after_by_their_latin_name(app):
    event = make_event(capacity=10)
    people(event)
    assert [r.name for r in sort_attendees(event.registrations)] == EXPECTED
    by_organization = sort_attendees(event.registrations, SortOrder.organization)
    assert [r.name for r in by_organization] == EXPECTED
    assert reading_sort_key("", "Zed") > reading_sort_key("わたなべ", "渡辺")


@pytest.mark.parametrize("path", ["/attendees", "/check-in", "/roster"])
def test_the_office_lists_are_in_that_order(app, logged_in_client, path):
    client = logged_in_client()
    event = make_event(capacity=10)
    people(event)
    html = client.get(f"/admin/events/{event.id}{path}").get_data(as_text=True)
    assert [html.index(name) for name in EXPECTED] == sorted(html.index(n) for n in EXPECTED)
    if path == "/roster":
        # The roster shows the reading as given: in Latin letters, or nothing.
        assert '<span class="kana">Smith John</span>John Smith' in html
        assert '<span class="kana"></span>Zoe Adams' in html


def test_the_export_and_the_search_take_latin_and_empty_readings(app, logged_in_client):
    client = logged_in_client()
    event = make_event(capacity=10)
    people(event)
    response = client.get(f"/admin/events/{event.id}/attendees.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    names = [row[1] for row in rows[1:]]
    assert names == EXPECTED
    readings = {row[1]: row[2] for row in rows[1:]}
    assert readings["John Smith"] == "Smith John" and readings["Zoe Adams"] == ""
    found = client.get(f"/admin/events/{event.id}/check-in?q=smith").get_data(as_text=True)
    assert "John Smith" in found and "Zoe Adams" not in found
    assert client.get(f"/admin/events/{event.id}/attendees.xlsx").status_code == 200


def test_the_office_keeps_a_reading_as_given_and_refuses_a_mixed_one(app, logged_in_client):
    client = logged_in_client()
    event = make_event(capacity=10)
    registration = make_registration(event, name="John Smith", name_kana="", email="j@example.org")
    db.session.commit()
    url = f"/admin/events/{event.id}/attendees/{registration.id}/contact"
    contact = {"name": "John Smith", "email": "j@example.org", "member_type": "general"}
    assert client.post(url, data={**contact, "name_kana": ""}).status_code == 302
    assert client.post(url, data={**contact, "name_kana": "Smith John"}).status_code == 302
    assert registrations()[0].name_kana == "Smith John"
    response = client.post(url, data={**contact, "name_kana": "すみす John"})
    assert response.status_code == 400
    assert "ふりがなは、かなかローマ字のどちらか一方でご入力ください。" in response.get_data(
        as_text=True
    )
    assert registrations()[0].name_kana == "Smith John"
