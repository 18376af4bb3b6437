"""Participation frames in the console (issue 12, points 1 and 5): the frames page (add,
change, reorder, remove; capacity never below the confirmed count; invitation codes),
moving a registration to another frame under the same rules, audited, and frames on the
attendee list, detail page, roster and exports."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest
from sqlalchemy import func, select

from cluster_events.events import frames as frame_services
from cluster_events.extensions import db
from cluster_events.models import (
    Event,
    Frame,
    FrameEligibility,
    InvitationCode,
    OutboxMessage,
    Registration,
)
from tests.factories import frame, make_event, make_invitation_code, make_registration
from tests.records import audit_entries
from tests.test_admin_events import form_values


@pytest.fixture
def organizer_client(client, logged_in_client):
    return logged_in_client("organizer")


@pytest.fixture
def event(app):
    """会員枠 of 2 (both taken, one waiting) and 一般枠 of 3 (one taken)."""
    event = make_event(
        title="経営研究・懇談会（第254回）",
        frames=[
            frame("会員枠", 2, eligibility=FrameEligibility.members),
            frame("一般枠", 3),
        ],
    )
    members, general = event.frames
    make_registration(event, frame=members, name="会員 一郎", name_kana="かいいん いちろう")
    make_registration(event, frame=members, name="会員 二郎", name_kana="かいいん じろう")
    make_registration(
        event, frame=members, status="waiting", name="会員 三郎", name_kana="かいいん さぶろう"
    )
    make_registration(event, frame=general, name="一般 花子", name_kana="いっぱん はなこ")
    db.session.commit()
    return event


def fresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def frame_form(**values) -> dict[str, str]:
    data = {"name_ja": "招待枠", "name_en": "Guests", "capacity": "4", "eligibility": "anyone"}
    data.update(values)
    return {key: value for key, value in data.items() if value is not None}


def by_name(event: Event, name: str) -> Registration:
    return db.session.scalar(
        select(Registration).where(Registration.event_id == event.id, Registration.name == name)
    )


def snapshot(event_id: int) -> tuple:
    db.session.expire_all()
    event = db.session.get(Event, event_id)
    return (
        event.capacity,
        event.confirmed_count,
        event.waiting_count,
        event.frame_count,
        [
            (f.name_ja, f.capacity, f.sort_order, f.confirmed_count, f.waiting_count)
            for f in event.frames
        ],
        db.session.scalar(select(func.count(InvitationCode.id))),
        sorted(
            db.session.execute(
                select(Registration.id, Registration.frame_id, Registration.status)
            ).all()
        ),
    )


# The frames page -----------------------------------------------------------------------


def test_the_event_page_links_to_its_frames_which_list_seats_and_totals(
    app, organizer_client, event
):
    detail = organizer_client.get(f"/admin/events/{event.id}?lang=ja").get_data(as_text=True)
    assert f"/admin/events/{event.id}/frames" in detail
    assert "会員枠" in detail and "参加確定 2名、キャンセル待ち 1名" in detail
    page = organizer_client.get(f"/admin/events/{event.id}/frames?lang=ja")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "会員限定（ログインした会員）" in text and "どなたでも" in text
    total = text[text.index("<tfoot>") : text.index("</tfoot>")]
    assert re.findall(r">(\d+)</td>", total) == ["5", "3", "1"]


def test_adding_a_frame_sums_the_seats_and_offers_the_choice(app, organizer_client, event, client):
    response = organizer_client.post(f"/admin/events/{event.id}/frames", data=frame_form())
    assert response.status_code == 302
    event = fresh(Event, event.id)
    assert [f.name_ja for f in event.frames] == ["会員枠", "一般枠", "招待枠"]
    assert (event.capacity, event.frame_count) == (9, 3)
    (entry,) = audit_entries("frame.add")
    assert entry.after["name_ja"] == "招待枠" and entry.event_id == event.id
    unlimited = organizer_client.post(
        f"/admin/events/{event.id}/frames", data=frame_form(name_ja="自由枠", capacity="")
    )
    assert unlimited.status_code == 302
    assert fresh(Event, event.id).capacity is None


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name_ja": ""}, "name_ja"),
        ({"capacity": "-1"}, "capacity"),
        ({"capacity": "many"}, "capacity"),
        ({"eligibility": "friends"}, "eligibility"),
        ({"registration_closes_at": "2099-01-01T10:00"}, "registration_closes_at"),
        ({"registration_opens_at": "2099-01-01T10:00"}, "registration_opens_at"),
        (
            {
                "registration_opens_at": "2026-01-02T10:00",
                "registration_closes_at": "2026-01-01T10:00",
            },
            "registration_closes_at",
        ),
        ({"name_ja": "あ" * 101}, "name_ja"),
    ],
)
def test_a_bad_frame_is_refused_beside_its_field_and_nothing_is_saved(
    app, organizer_client, event, values, field
):
    before = snapshot(event.id)
    response = organizer_client.post(
        f"/admin/events/{event.id}/frames?lang=ja", data=frame_form(**values)
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'id="{field}-error"' in page and 'class="error-summary"' in page
    assert snapshot(event.id) == before


def test_the_capacity_never_drops_below_the_frames_confirmed_count(app, organizer_client, event):
    members = event.frames[0]
    before = snapshot(event.id)
    response = organizer_client.post(
        f"/admin/events/{event.id}/frames/{members.id}?lang=ja",
        data=frame_form(name_ja="会員枠", capacity="1", eligibility="members"),
    )
    assert response.status_code == 400
    assert "この枠ですでに参加が確定している席：2席" in response.get_data(as_text=True)
    assert snapshot(event.id) == before


def test_raising_a_frames_capacity_gives_its_waiting_list_the_seat(app, organizer_client, event):
    members = event.frames[0]
    waiting = by_name(event, "会員 三郎")
    response = organizer_client.post(
        f"/admin/events/{event.id}/frames/{members.id}?lang=ja",
        data=frame_form(name_ja="会員枠", capacity="3", eligibility="members", fee_text="無料"),
    )
    assert response.status_code == 302
    assert (fresh(Registration, waiting.id).status, fresh(Event, event.id).capacity) == (
        "confirmed",
        6,
    )
    assert fresh(Frame, members.id).fee_text == "無料"
    kinds = db.session.scalars(
        select(OutboxMessage.kind).where(OutboxMessage.registration_id == waiting.id)
    ).all()
    assert kinds == ["promoted"]
    assert {e.action for e in audit_entries()} >= {"frame.update", "event.fill_from_waiting_list"}


def test_frames_are_reordered_one_place_at_a_time(app, organizer_client, event):
    general = event.frames[1]
    response = organizer_client.post(
        f"/admin/events/{event.id}/frames/{general.id}/move", data={"direction": "up"}
    )
    assert response.status_code == 302
    assert [f.name_ja for f in fresh(Event, event.id).frames] == ["一般枠", "会員枠"]
    organizer_client.post(
        f"/admin/events/{event.id}/frames/{general.id}/move", data={"direction": "up"}
    )  # already first: nothing changes
    assert [f.name_ja for f in fresh(Event, event.id).frames] == ["一般枠", "会員枠"]
    (entry,) = audit_entries("frame.reorder")
    assert entry.after["order"] == "一般枠 / 会員枠"
    bad = organizer_client.post(
        f"/admin/events/{event.id}/frames/{general.id}/move", data={"direction": "left"}
    )
    assert bad.status_code == 400


def test_only_a_frame_no_registration_names_can_be_removed(app, organizer_client, event):
    _members, general = event.frames
    cancelled = make_registration(event, frame=general, status="cancelled")
    db.session.commit()
    before = snapshot(event.id)
    refused = organizer_client.post(
        f"/admin/events/{event.id}/frames/{general.id}/remove?lang=ja", follow_redirects=True
    )
    assert "この枠には申込みがあるため" in refused.get_data(as_text=True)
    assert snapshot(event.id) == before
    assert cancelled.id

    empty = fresh(Event, event.id)
    with app.test_request_context():
        added = frame_services.add_frame(
            event.id, frame_services.FrameData(name_ja="空の枠", capacity=10)
        )
    assert fresh(Event, event.id).capacity == 15
    removed = organizer_client.post(f"/admin/events/{event.id}/frames/{added.id}/remove")
    assert removed.status_code == 302
    empty = fresh(Event, event.id)
    assert ([f.name_ja for f in empty.frames], empty.capacity, empty.frame_count) == (
        ["会員枠", "一般枠"],
        5,
        2,
    )
    assert [f.sort_order for f in empty.frames] == [0, 1]
    assert audit_entries("frame.remove")[0].before["name_ja"] == "空の枠"


def test_the_last_frame_cannot_be_removed(app, organizer_client):
    event = make_event(capacity=5)
    db.session.commit()
    response = organizer_client.post(
        f"/admin/events/{event.id}/frames/{event.frames[0].id}/remove?lang=ja",
        follow_redirects=True,
    )
    assert "参加枠が少なくとも1つ必要です" in response.get_data(as_text=True)
    assert fresh(Event, event.id).frame_count == 1


def test_another_events_frame_is_not_found(app, organizer_client, event):
    other = make_event()
    db.session.commit()
    url = f"/admin/events/{event.id}/frames/{other.frames[0].id}"
    assert organizer_client.get(url).status_code == 404
    assert organizer_client.post(url + "/remove").status_code == 404
    assert organizer_client.post(url, data=frame_form()).status_code == 404


def test_an_event_with_several_frames_keeps_its_capacity_when_edited(app, organizer_client, event):
    page = organizer_client.get(f"/admin/events/{event.id}/edit?lang=ja").get_data(as_text=True)
    assert 'name="capacity"' not in page and "定員は参加枠ごとに設定します（合計：5）" in page
    data = form_values(event, title="経営研究・懇談会（第254回・改）", capacity="100", notify="no")
    assert organizer_client.post(f"/admin/events/{event.id}/edit", data=data).status_code == 302
    edited = fresh(Event, event.id)
    assert (edited.title, edited.capacity) == ("経営研究・懇談会（第254回・改）", 5)
    assert [f.capacity for f in edited.frames] == [2, 3]


def test_the_capacity_of_an_event_with_one_frame_is_its_frames(app, organizer_client):
    event = make_event(capacity=5)
    db.session.commit()
    data = form_values(event, capacity="7", notify="no")
    assert organizer_client.post(f"/admin/events/{event.id}/edit", data=data).status_code == 302
    assert fresh(Frame, event.frames[0].id).capacity == fresh(Event, event.id).capacity == 7


def test_a_duplicate_copies_the_frames_but_not_their_registrations(app, organizer_client, event):
    response = organizer_client.post(f"/admin/events/{event.id}/duplicate")
    copy = fresh(Event, int(re.search(r"/events/(\d+)/edit", response.headers["Location"])[1]))
    assert [(f.name_ja, f.capacity, f.eligibility, f.confirmed_count) for f in copy.frames] == [
        ("会員枠", 2, "members", 0),
        ("一般枠", 3, "anyone", 0),
    ]
    assert (copy.capacity, copy.frame_count, copy.confirmed_count) == (5, 2, 0)


def test_a_duplicate_keeps_each_frames_companions_and_approval(app, organizer_client):
    event = make_event(
        title="会員交流会",
        frames=[
            frame("交流会枠", 20, max_companions=2),
            frame("見学枠", 5, requires_approval=True),
        ],
    )
    db.session.commit()
    response = organizer_client.post(f"/admin/events/{event.id}/duplicate")
    copy = fresh(Event, int(re.search(r"/events/(\d+)/edit", response.headers["Location"])[1]))
    assert [(f.name_ja, f.max_companions, f.requires_approval) for f in copy.frames] == [
        ("交流会枠", 2, False),
        ("見学枠", 0, True),
    ]


# Invitation codes ----------------------------------------------------------------------


@pytest.fixture
def invited(app, event):
    with app.test_request_context():
        return frame_services.add_frame(
            event.id,
            frame_services.FrameData(name_ja="招待枠", capacity=5, eligibility="invitation"),
        )


def test_codes_are_made_or_typed_normalised_and_listed_with_their_uses(
    app, organizer_client, event, invited
):
    url = f"/admin/events/{event.id}/frames/{invited.id}/codes"
    made = organizer_client.post(url, data={"code": "", "max_uses": "3", "note": "株式会社A"})
    typed = organizer_client.post(url, data={"code": "ｙｒｐ-２０２７", "max_uses": ""})
    assert made.status_code == typed.status_code == 302
    codes = db.session.scalars(select(InvitationCode).order_by(InvitationCode.id)).all()
    assert len(codes[0].code) == 8 and codes[0].max_uses == 3 and codes[0].note == "株式会社A"
    assert (codes[1].code, codes[1].max_uses) == ("YRP2027", None)
    page = organizer_client.get(f"/admin/events/{event.id}/frames/{invited.id}?lang=ja")
    text = page.get_data(as_text=True)
    assert f"{codes[0].code[:4]}-{codes[0].code[4:]}" in text and "3件中 0件" in text
    assert {e.action for e in audit_entries()} >= {"frame.add_code"}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"code": "AB"}, "code"),
        ({"code": "コード"}, "code"),
        ({"code": "YRP2027"}, "code"),  # already there
        ({"code": "", "max_uses": "0"}, "max_uses"),
        ({"code": "", "max_uses": "x"}, "max_uses"),
    ],
)
def test_a_bad_code_is_refused_beside_its_field(
    app, organizer_client, event, invited, values, field
):
    make_invitation_code(db.session.get(Frame, invited.id), "YRP2027")
    db.session.commit()
    before = snapshot(event.id)
    response = organizer_client.post(
        f"/admin/events/{event.id}/frames/{invited.id}/codes?lang=ja", data=values
    )
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert snapshot(event.id) == before


def test_codes_belong_to_invitation_frames_only(app, organizer_client, event):
    response = organizer_client.post(
        f"/admin/events/{event.id}/frames/{event.frames[1].id}/codes?lang=ja", data={"code": ""}
    )
    assert response.status_code == 409
    assert "招待コードは、招待コードで申し込む枠にだけ使えます" in response.get_data(as_text=True)


def test_a_removed_code_admits_nobody_and_its_registrations_stay(
    app, organizer_client, event, invited
):
    code = make_invitation_code(db.session.get(Frame, invited.id), "GONE2027")
    used = make_registration(
        fresh(Event, event.id), frame=db.session.get(Frame, invited.id), invitation_code_id=code.id
    )
    db.session.commit()
    response = organizer_client.post(
        f"/admin/events/{event.id}/frames/{invited.id}/codes/remove", data={"code_id": code.id}
    )
    assert response.status_code == 302
    assert db.session.scalar(select(func.count(InvitationCode.id))) == 0
    kept = fresh(Registration, used.id)
    assert (kept.status, kept.invitation_code_id) == ("confirmed", None)
    assert (
        organizer_client.post(
            f"/admin/events/{event.id}/frames/{invited.id}/codes/remove", data={"code_id": "x"}
        ).status_code
        == 400
    )


# Moving a registration ------------------------------------------------------------------


def move(client, event, registration, target, **values):
    return client.post(
        f"/admin/events/{event.id}/attendees/{registration.id}/frame?lang=ja",
        data={"frame": str(target.id), "notify": "y", **values},
    )


def test_a_move_takes_a_seat_in_the_other_frame_and_promotes_in_the_old_one(
    app, organizer_client, event
):
    _members, general = event.frames
    moving, waiting = by_name(event, "会員 一郎"), by_name(event, "会員 三郎")
    response = move(organizer_client, event, moving, general)
    assert response.status_code == 302
    assert (fresh(Registration, moving.id).frame_id, moving.status) == (general.id, "confirmed")
    assert fresh(Registration, waiting.id).status == "confirmed"  # the seat it left
    after = fresh(Event, event.id)
    assert [(f.confirmed_count, f.waiting_count) for f in after.frames] == [(2, 0), (2, 0)]
    assert (after.confirmed_count, after.waiting_count) == (4, 0)
    (entry,) = audit_entries("registration.move_frame")
    assert (entry.before["frame"], entry.after["frame"]) == ("会員枠", "一般枠")
    assert entry.organizer_id == organizer_client.organizer.id


def test_a_move_to_a_full_frame_is_refused_unless_asked_for_its_waiting_list(
    app, organizer_client, event
):
    members, _general = event.frames
    newcomer = by_name(event, "一般 花子")
    before = snapshot(event.id)
    refused = move(organizer_client, event, newcomer, members)
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "「会員枠」には空席がありません（定員2席のうち2席が確定）" in page
    assert 'id="frame-error"' in page
    assert snapshot(event.id) == before

    asked = move(organizer_client, event, newcomer, members, to_waiting_list="y")
    assert asked.status_code == 302
    moved = fresh(Registration, newcomer.id)
    assert (moved.frame_id, moved.status, moved.waiting_position) == (members.id, "waiting", 2)
    assert [(f.confirmed_count, f.waiting_count) for f in fresh(Event, event.id).frames] == [
        (2, 2),
        (0, 0),
    ]


def test_someone_waiting_who_is_moved_to_a_free_seat_is_told(app, organizer_client, event):
    members, general = event.frames
    waiting = by_name(event, "会員 三郎")
    assert move(organizer_client, event, waiting, general).status_code == 302
    moved = fresh(Registration, waiting.id)
    assert (moved.frame_id, moved.status, moved.waiting_position) == (general.id, "confirmed", None)
    kinds = db.session.scalars(
        select(OutboxMessage.kind).where(OutboxMessage.registration_id == waiting.id)
    ).all()
    assert kinds == ["promoted"]
    assert fresh(Frame, members.id).waiting_count == 0


@pytest.mark.parametrize("case", ["another event's frame", "same frame", "not a number"])
def test_a_bad_move_is_refused_and_changes_nothing(app, organizer_client, event, case):
    other = make_event()
    db.session.commit()
    registration = by_name(event, "一般 花子")
    target = {
        "another event's frame": str(other.frames[0].id),
        "same frame": str(event.frames[1].id),
        "not a number": "abc",
    }[case]
    before = snapshot(event.id)
    response = organizer_client.post(
        f"/admin/events/{event.id}/attendees/{registration.id}/frame?lang=ja",
        data={"frame": target},
    )
    assert response.status_code == 400
    assert 'id="frame-error"' in response.get_data(as_text=True)
    assert snapshot(event.id) == before


def test_a_cancelled_registration_is_not_moved(app, organizer_client, event):
    cancelled = make_registration(fresh(Event, event.id), frame=fresh(Frame, event.frames[1].id))
    db.session.commit()
    from cluster_events.registration import services

    services.cancel_registration(cancelled.id, notify=False)
    before = snapshot(event.id)
    response = move(organizer_client, event, cancelled, event.frames[0])
    assert response.status_code == 302  # back to the page, with the reason flashed
    page = organizer_client.get(response.headers["Location"] + "?lang=ja").get_data(as_text=True)
    assert "このお申込みは、すでにキャンセルされています" in page
    assert snapshot(event.id) == before


# Shown in the attendee pages and the files ------------------------------------------------


def test_the_attendee_list_has_a_frame_column_and_a_filter(app, organizer_client, event):
    _members, general = event.frames
    url = f"/admin/events/{event.id}/attendees?lang=ja"
    page = organizer_client.get(url).get_data(as_text=True)
    assert '<select id="frame" name="frame">' in page and '<th scope="col">参加枠</th>' in page
    only = organizer_client.get(url + f"&frame={general.id}").get_data(as_text=True)
    assert "一般 花子" in only and "会員 一郎" not in only
    ignored = organizer_client.get(url + "&frame=abc").get_data(as_text=True)
    assert "一般 花子" in ignored and "会員 一郎" in ignored


def test_an_event_with_one_frame_shows_no_frame_column(app, organizer_client):
    event = make_event(capacity=3)
    make_registration(event)
    db.session.commit()
    page = organizer_client.get(f"/admin/events/{event.id}/attendees?lang=ja").get_data(
        as_text=True
    )
    assert 'name="frame"' not in page and '<th scope="col">参加枠</th>' not in page


def test_the_attendee_detail_page_names_the_frame_and_offers_the_move(app, organizer_client, event):
    registration = by_name(event, "一般 花子")
    page = organizer_client.get(
        f"/admin/events/{event.id}/attendees/{registration.id}?lang=ja"
    ).get_data(as_text=True)
    assert "<dt>参加枠</dt>" in page and "<dd>一般枠" in page
    assert "別の参加枠へ移す" in page and 'for="to_waiting_list"' in page


def test_exports_and_the_roster_have_a_frame_column(app, organizer_client, event):
    data = organizer_client.get(f"/admin/events/{event.id}/attendees.csv?lang=ja").data
    header, *rows = csv.reader(io.StringIO(data.decode("utf-8-sig")))
    column = header.index("参加枠")
    assert {row[column] for row in rows} == {"会員枠", "一般枠"}
    workbook = openpyxl.load_workbook(
        io.BytesIO(organizer_client.get(f"/admin/events/{event.id}/attendees.xlsx?lang=ja").data)
    )
    sheet = workbook.active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    start = next(i for i, row in enumerate(values) if "参加枠" in row)
    column = values[start].index("参加枠")
    assert {row[column] for row in values[start + 1 :] if row[column]} == {"会員枠", "一般枠"}
    roster = organizer_client.get(f"/admin/events/{event.id}/roster?lang=ja").get_data(as_text=True)
    assert '<th scope="col" class="frame">参加枠</th>' in roster
    assert roster.count('<td class="frame">会員枠</td>') == 2


def test_the_office_adds_a_registration_to_the_frame_it_chooses(app, organizer_client, event):
    members, _general = event.frames
    page = organizer_client.get(f"/admin/events/{event.id}/attendees/new?lang=ja")
    assert 'name="frame"' in page.get_data(as_text=True)
    values = {
        "name": "電話 受付",
        "name_kana": "でんわ うけつけ",
        "email": "phone@example.org",
        "member_type": "general",
        "locale": "ja",
        "frame": str(members.id),
    }
    response = organizer_client.post(f"/admin/events/{event.id}/attendees/new", data=values)
    assert response.status_code == 302
    added = by_name(event, "電話 受付")
    assert (added.frame_id, added.status, added.waiting_position) == (members.id, "waiting", 2)

    other = make_event()
    db.session.commit()
    before = snapshot(event.id)
    refused = organizer_client.post(
        f"/admin/events/{event.id}/attendees/new?lang=ja",
        data={**values, "email": "other@example.org", "frame": str(other.frames[0].id)},
    )
    assert refused.status_code == 400
    assert 'id="frame-error"' in refused.get_data(as_text=True)
    assert snapshot(event.id)[:5] == before[:5]


def test_the_events_sums_count_every_frame_it_has_also_one_added_elsewhere(app):
    """The frame services read the event's frames again under its lock: the sums
    count a frame another process added since the event was read."""
    event = make_event(frames=[frame("A", 2), frame("B", 3)])
    db.session.commit()
    engine_url = app.config["SQLALCHEMY_DATABASE_URI"]
    from sqlalchemy import create_engine, text

    other = create_engine(engine_url)
    with other.begin() as connection:  # another process adds a frame behind our back
        connection.execute(
            text(
                "INSERT INTO participation_frame (event_id, name_ja, name_en, capacity,"
                " eligibility, sort_order, confirmed_count, waiting_count, created_at,"
                " updated_at) VALUES (:id, 'C', '', 4, 'anyone', 2, 0, 0, :now, :now)"
            ),
            {
                "id": event.id,
                "now": event.created_at.replace(tzinfo=None)
                if other.dialect.name == "sqlite"
                else event.created_at,
            },
        )
    other.dispose()
    with app.test_request_context():
        frame_services.add_frame(event.id, frame_services.FrameData(name_ja="D", capacity=1))
    after = fresh(Event, event.id)
    assert ([f.name_ja for f in after.frames], after.capacity, after.frame_count) == (
        ["A", "B", "C", "D"],
        10,
        4,
    )
