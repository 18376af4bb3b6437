"""Lotteries (抽選, issue 12 point 2) through the services and the commands: entries
that hold no seat, one per address and per member's person, withdrawn with the personal
link's cancel; the draw after the deadline (never before, exactly once, also when two
draw at the same moment), its seats, dense waiting positions in drawn order and emails;
its record, audit entry and recomputation (`verify-lottery`); `draw-lotteries` for cron.
On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text, update

from cluster_events.database import utcnow
from cluster_events.events import frames as frame_services
from cluster_events.extensions import db
from cluster_events.models import (
    AuditLogEntry,
    Event,
    EventStatus,
    Frame,
    FrameSelection,
    LotteryDraw,
    MemberLink,
    OutboxMessage,
    Registration,
    RegistrationStatus,
)
from cluster_events.registration import lottery, purge, services
from cluster_events.registration.services import FrameChoice, RegistrationDetails
from cluster_events.registration.status import FrameState, frame_state
from cluster_events.transactions import write_transaction
from tests.concurrency import run_at_once
from tests.factories import frame, make_event, make_registration
from tests.members import first_person, make_member
from tests.records import assert_seats_match_rows, audit_entries, outbox_kinds, outbox_messages

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def lottery_frame(name_ja: str = "抽選枠", capacity: int = 2, **values) -> Frame:
    values.setdefault("registration_closes_at", utcnow() + timedelta(days=1))
    return frame(name_ja, capacity, selection=FrameSelection.lottery, **values)


def lottery_event(capacity: int = 2, **values) -> Event:
    """A published seminar whose only frame is a lottery of ``capacity`` seats, taking
    entries until tomorrow."""
    values.setdefault("frames", [lottery_frame(capacity=capacity)])
    values.setdefault("title", "特許取得セミナー")
    event = make_event(**values)
    db.session.commit()
    return event


def details(number: int | str, email: str | None = None) -> RegistrationDetails:
    return RegistrationDetails(
        f"応募者{number}", "おうぼしゃ", email or f"entrant{number}@example.org"
    )


def enter(event: Event, number: int | str, email: str | None = None, **values) -> int:
    outcome = services.register(event.id, details(number, email), **values)
    assert outcome.created
    return outcome.registration_id


def fresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def pass_deadline(event: Event) -> None:
    """The frame's deadline is an hour ago (the event is still ahead)."""
    db.session.execute(
        update(Frame)
        .where(Frame.event_id == event.id)
        .values(registration_closes_at=utcnow() - timedelta(hours=1))
    )
    db.session.commit()


def statuses(ids: list[int]) -> list[tuple[str, int | None, str | None]]:
    db.session.expire_all()
    rows = {
        r.id: (r.status, r.waiting_position, r.lottery_result)
        for r in db.session.scalars(select(Registration).where(Registration.id.in_(ids)))
    }
    return [rows[i] for i in ids]


# Entries ----------------------------------------------------------------------------------


def test_entries_hold_no_seat_until_the_draw(app):
    event = lottery_event(capacity=2)
    ids = [enter(event, n) for n in range(5)]
    assert statuses(ids) == [("entered", None, None)] * 5
    event = fresh(Event, event.id)
    only = event.frames[0]
    assert (only.confirmed_count, only.waiting_count, event.confirmed_count) == (0, 0, 0)
    assert frame_state(event, only) == FrameState.lottery
    assert [outbox_kinds(i) for i in ids] == [["lottery_entered"]] * 5
    message = outbox_messages("lottery_entered")[0]
    assert message.render_when_sent["args"]["calendar"] == ""  # no seat, no calendar file
    assert_seats_match_rows(event.id)


@pytest.mark.parametrize(
    "second",
    ["taro@example.jp", "Taro@Example.JP", "ＴＡＲＯ＠ＥＸＡＭＰＬＥ．ＪＰ", " taro@example.jp "],
)
def test_a_second_entry_is_refused_whatever_the_case_or_width(app, second):
    event = lottery_event()
    first = enter(event, 1, "taro@example.jp")
    with app.test_request_context(), pytest.raises(services.AlreadyEntered) as refused:
        services.register(event.id, details(2, second))
    assert refused.value.http_status == 400
    assert "お一人様1回まで" in str(refused.value.field_errors["email"])
    assert refused.value.registration_id == first
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Registration.id))) == 1
    # The first entry's owner is sent its link again (once an hour, whoever asks).
    assert outbox_kinds(first) == ["lottery_entered", "personal_link"]
    with app.test_request_context(), pytest.raises(services.AlreadyEntered):
        services.register(event.id, details(3, second))
    assert outbox_kinds(first) == ["lottery_entered", "personal_link"]


def test_one_entry_per_member_person_whatever_the_address(app):
    member = make_member(name="逗子 一郎", name_kana="ずし いちろう")
    person = first_person(member)
    event = lottery_event()
    # An entry linked to the person under an address the office has since changed.
    make_registration(
        event,
        status=RegistrationStatus.entered,
        email="old-address@example.org",
        member_person_id=person.id,
        member_link=MemberLink.verified,
    )
    db.session.commit()
    with app.test_request_context(), pytest.raises(services.AlreadyEntered) as refused:
        services.register(event.id, details(1), member_person_id=person.id)
    assert "会員として" in str(refused.value.field_errors["email"])
    # A public entry with the person's address is matched to them, and refused too.
    with app.test_request_context(), pytest.raises(services.AlreadyEntered):
        services.register(event.id, details(2, person.email.upper()))
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Registration.id))) == 1


def test_a_withdrawn_entry_frees_the_address_for_a_new_one(app):
    event = lottery_event()
    first = enter(event, 1, "hanako@example.jp")
    services.cancel_registration(first, by_registrant=True)
    assert statuses([first]) == [("cancelled", None, None)]
    assert outbox_kinds(first) == ["lottery_entered", "cancellation_receipt"]
    second = enter(event, 2, "HANAKO@example.jp")
    assert statuses([second]) == [("entered", None, None)]
    assert_seats_match_rows(event.id)


def test_an_ordinary_frame_still_shows_a_second_sign_up_its_first(app):
    event = make_event(frames=[frame("一般枠", 5)])
    db.session.commit()
    first = enter(event, 1, "same@example.jp")
    again = services.register(event.id, details(2, "SAME@example.jp"))
    assert not again.created and again.registration_id == first


def test_the_office_adds_entries_before_the_draw_and_seats_after_it(app):
    event = lottery_event(capacity=1)
    added = services.register(event.id, details(1), source="organizer", notify=False)
    assert added.status == RegistrationStatus.entered
    pass_deadline(event)
    lottery.draw_frame(event.frames[0].id)
    late = services.register(event.id, details(2), source="organizer", notify=False)
    assert late.status == RegistrationStatus.waiting and late.waiting_position == 1
    assert_seats_match_rows(event.id)


def test_entries_stay_in_their_frame_until_the_draw(app):
    event = make_event(frames=[lottery_frame(capacity=2), frame("一般枠", 5)])
    db.session.commit()
    entry = enter(event, 1, choice=FrameChoice(frame_id=event.frames[0].id))
    seat = enter(event, 2, choice=FrameChoice(frame_id=event.frames[1].id))
    organizer = _organizer()
    for registration_id, target in ((entry, event.frames[1]), (seat, event.frames[0])):
        with app.test_request_context(), pytest.raises(services.ServiceError) as refused:
            services.move_to_frame(
                registration_id, target.id, event_id=event.id, organizer_id=organizer
            )
        assert "frame" in refused.value.field_errors
    assert statuses([entry, seat]) == [("entered", None, None), ("confirmed", None, None)]


def _organizer() -> int:
    from tests.factories import make_organizer

    organizer = make_organizer()
    db.session.commit()
    return organizer.id


# The draw ---------------------------------------------------------------------------------


def test_the_draw_seats_the_drawn_and_lines_up_the_rest_in_drawn_order(app):
    event = lottery_event(capacity=2)
    ids = [enter(event, n) for n in range(5)]
    pass_deadline(event)
    outcome = lottery.draw_frame(event.frames[0].id)
    assert (outcome.entries, outcome.winners, outcome.waiting) == (5, 2, 3)

    draw = db.session.scalar(select(LotteryDraw))
    assert draw.entry_ids == sorted(ids) and draw.seats == 2
    assert len(draw.seed) == 64 and int(draw.seed, 16) >= 0  # 256 bits, in hex
    assert draw.drawn_ids == lottery.drawn_order(ids, draw.seed)
    winners, waiting = draw.drawn_ids[:2], draw.drawn_ids[2:]
    assert statuses(winners) == [("confirmed", None, "won")] * 2
    assert statuses(waiting) == [("waiting", n, "lost") for n in (1, 2, 3)]
    assert fresh(Frame, event.frames[0].id).drawn_at is not None
    assert_seats_match_rows(event.id)

    listed = "".join(f"{i}\tentrant{n}@example.org\n" for n, i in enumerate(ids))
    assert draw.entry_list == listed
    assert draw.entries_sha256 == hashlib.sha256(listed.encode()).hexdigest()
    (entry,) = audit_entries("frame.draw_lottery")
    assert entry.target_id == event.frames[0].id and entry.event_id == event.id
    assert entry.after["seed"] == draw.seed
    assert entry.after["entries_sha256"] == draw.entries_sha256
    assert (entry.after["entries"], entry.after["winners"], entry.after["waiting"]) == (5, 2, 3)

    for winner in winners:
        assert outbox_kinds(winner) == ["lottery_entered", "lottery_won"]
    for other in waiting:
        assert outbox_kinds(other) == ["lottery_entered", "lottery_not_drawn"]
    positions = [m.render_when_sent["args"]["waiting_position"] for m in _results("not_drawn")]
    assert positions == [1, 2, 3]
    won = _results("won")[0].render_when_sent["args"]
    assert won["qr"] and won["calendar"] == "PUBLISH"


def _results(kind: str) -> list[OutboxMessage]:
    return outbox_messages(f"lottery_{kind}")


def test_fewer_entries_than_seats_all_win(app):
    event = lottery_event(capacity=10)
    ids = [enter(event, n) for n in range(3)]
    pass_deadline(event)
    assert lottery.draw_frame(event.frames[0].id).winners == 3
    assert statuses(ids) == [("confirmed", None, "won")] * 3


def test_a_cancelled_seat_after_the_draw_goes_to_the_first_drawn_to_wait(app):
    event = lottery_event(capacity=2)
    for n in range(4):
        enter(event, n)
    pass_deadline(event)
    lottery.draw_frame(event.frames[0].id)
    draw = db.session.scalar(select(LotteryDraw))
    services.cancel_registration(draw.drawn_ids[0])
    assert statuses(draw.drawn_ids[1:]) == [
        ("confirmed", None, "won"),
        ("confirmed", None, "lost"),  # promoted, still recorded as not drawn
        ("waiting", 1, "lost"),
    ]
    assert outbox_kinds(draw.drawn_ids[2])[-1] == "promoted"
    assert_seats_match_rows(event.id)


def test_a_draw_before_the_deadline_is_refused_and_writes_nothing(app):
    event = lottery_event()
    ids = [enter(event, n) for n in range(3)]
    with app.test_request_context(), pytest.raises(lottery.DrawTooEarly) as refused:
        lottery.draw_frame(event.frames[0].id)
    assert refused.value.http_status == 409
    assert "の後に行います" in str(refused.value.message)
    assert statuses(ids) == [("entered", None, None)] * 3
    assert db.session.scalar(select(func.count(LotteryDraw.id))) == 0
    assert audit_entries("frame.draw_lottery") == []
    assert fresh(Frame, event.frames[0].id).drawn_at is None
    assert lottery.due_frames() == []


def test_a_frame_is_drawn_once(app):
    event = lottery_event()
    enter(event, 1)
    pass_deadline(event)
    lottery.draw_frame(event.frames[0].id)
    with pytest.raises(lottery.AlreadyDrawn):
        lottery.draw_frame(event.frames[0].id)
    assert db.session.scalar(select(func.count(LotteryDraw.id))) == 1
    assert len(audit_entries("frame.draw_lottery")) == 1


def test_only_a_published_events_lottery_is_drawn(app):
    draft = lottery_event(status=EventStatus.draft)
    cancelled = lottery_event(status=EventStatus.cancelled)
    ordinary = make_event(frames=[frame("一般枠", 3)])
    db.session.commit()
    for event in (draft, cancelled):
        pass_deadline(event)
        with pytest.raises(lottery.EventNotDrawn):
            lottery.draw_frame(event.frames[0].id)
    with pytest.raises(lottery.NotALottery):
        lottery.draw_frame(ordinary.frames[0].id)
    with pytest.raises(lottery.LotteryNotFound):
        lottery.draw_frame(ordinary.frames[0].id + 1000)
    assert lottery.due_frames() == []


def test_draw_lotteries_draws_each_due_frame_once(app, runner):
    due = lottery_event(capacity=1)
    later = lottery_event(capacity=1)
    for event in (due, later):
        enter(event, f"{event.id}-1")
        enter(event, f"{event.id}-2")
    pass_deadline(due)
    result = runner.invoke(args=["draw-lotteries"])
    assert result.exit_code == 0, result.output
    assert f"Drew frame {due.frames[0].id} of event {due.id}: 2 entries, 1 won, 1 on" in (
        result.stdout
    )
    assert "Drew 1 lotteries." in result.stderr
    again = runner.invoke(args=["draw-lotteries"])
    assert again.exit_code == 0 and "Drew 0 lotteries." in again.stderr
    assert db.session.scalar(select(func.count(LotteryDraw.id))) == 1
    assert fresh(Frame, later.frames[0].id).drawn_at is None


# Two draws at the same moment ------------------------------------------------------------


def test_two_draws_at_the_same_moment_draw_once(app):
    event = lottery_event(capacity=3)
    for n in range(8):
        enter(event, n)
    pass_deadline(event)
    frame_id = event.frames[0].id

    def draw() -> str:
        try:
            lottery.draw_frame(frame_id)
        except lottery.AlreadyDrawn:
            return "already drawn"
        return "drawn"

    db.session.rollback()  # the threads' sessions commit; read afresh afterwards
    results = run_at_once(app, 2, draw)
    assert sorted(results) == ["already drawn", "drawn"]
    db.session.rollback()
    assert db.session.scalar(select(func.count(LotteryDraw.id))) == 1
    assert len(audit_entries("frame.draw_lottery")) == 1
    assert len(_results("won")) == 3 and len(_results("not_drawn")) == 5
    assert_seats_match_rows(event.id)


def _lock_waiters(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        count = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    engine.dispose()
    return int(count)


@pytest.mark.slow
def test_two_draw_lotteries_processes_at_the_same_moment_draw_once(app, app_config, report_figures):
    """Two real `draw-lotteries` processes reach the event lock while the test holds it,
    and are let go together: one draws, the other finds the frame drawn."""
    url = app_config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("postgresql"):
        pytest.skip("waiting on a row lock is watched in pg_stat_activity")
    event = lottery_event(capacity=4)
    for n in range(10):
        enter(event, n)
    pass_deadline(event)
    env = {
        **os.environ,
        "FLASK_SQLALCHEMY_DATABASE_URI": url,
        "FLASK_SECRET_KEY": "lottery-test-secret",
        "FLASK_MAIL_DELIVERY": "worker",
    }
    command = [sys.executable, "-m", "flask", "--app", "cluster_events", "draw-lotteries"]
    holder = create_engine(url)
    with holder.connect() as connection:
        transaction = connection.begin()
        connection.execute(text("SELECT id FROM event WHERE id = :id FOR UPDATE"), {"id": event.id})
        processes = [
            subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        deadline = time.monotonic() + 60
        while _lock_waiters(url) < 2:
            assert time.monotonic() < deadline, "the two processes never both waited"
            assert all(p.poll() is None for p in processes), "a process ended early"
            time.sleep(0.05)
        transaction.rollback()
    holder.dispose()
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    reports = sorted(stderr.strip().splitlines()[-1] for _stdout, stderr in outputs)
    assert reports == ["Drew 0 lotteries.", "Drew 1 lotteries."]
    db.session.rollback()
    assert db.session.scalar(select(func.count(LotteryDraw.id))) == 1
    assert len(audit_entries("frame.draw_lottery")) == 1
    assert (len(_results("won")), len(_results("not_drawn"))) == (4, 6)
    assert_seats_match_rows(event.id)
    report_figures(processes=2, draws=1, won=4, waiting=6)


# The record and its check ------------------------------------------------------------------


def test_the_algorithm_is_the_documented_one():
    """Pinned vectors (CPython's random.Random with an integer seed): a Python whose
    generator or shuffle changed would fail here before any draw is recomputed wrongly."""
    assert lottery.drawn_order([21, 3, 13, 5, 8], "00" * 31 + "2a") == [13, 5, 8, 21, 3]
    assert lottery.drawn_order(list(range(10, 0, -1)), "0123456789abcdef" * 4) == [
        9, 6, 1, 3, 2, 10, 5, 7, 4, 8,
    ]  # fmt: skip
    listed = lottery.canonical_entry_list([(5, "b@example.jp"), (3, "a@example.jp")])
    assert listed == "3\ta@example.jp\n5\tb@example.jp\n"
    assert lottery.entries_digest(listed) == (
        "e8c11be162c73f984ef8bac95a39a24960d8e205b36f26499c6a749572ac61e9"
    )
    assert len(bytes.fromhex(lottery.new_seed())) * 8 == 256
    assert lottery.new_seed() != lottery.new_seed()


def drawn_event(app, entries: int = 5, capacity: int = 2) -> Event:
    event = lottery_event(capacity=capacity)
    for n in range(entries):
        enter(event, n)
    pass_deadline(event)
    lottery.draw_frame(event.frames[0].id)
    return event


def test_verify_lottery_recomputes_the_draw(app, runner):
    event = drawn_event(app)
    frame_id = event.frames[0].id
    draw = db.session.scalar(select(LotteryDraw))
    result = runner.invoke(args=["verify-lottery", str(frame_id)])
    assert result.exit_code == 0, result.output
    assert f"Seed: {draw.seed} (256 bits)" in result.output
    assert f"Recomputed SHA-256 of the recorded list: {draw.entries_sha256}" in result.output
    assert "DOES NOT MATCH" not in result.output
    assert result.output.strip().endswith("Result: the draw matches its record.")


@pytest.mark.parametrize("tampered", ["seed", "drawn_ids", "entry_list", "result", "audit"])
def test_verify_lottery_notices_any_change_to_the_record(app, runner, tampered):
    event = drawn_event(app)
    frame_id = event.frames[0].id
    draw = db.session.scalar(select(LotteryDraw))
    if tampered == "seed":
        draw.seed = lottery.new_seed()
    elif tampered == "drawn_ids":
        draw.drawn_ids = list(reversed(draw.drawn_ids))
    elif tampered == "entry_list":
        draw.entry_list = draw.entry_list.replace("entrant1@", "someone@")
    elif tampered == "result":
        loser = db.session.get(Registration, draw.drawn_ids[-1])
        loser.lottery_result = "won"
    else:
        (entry,) = audit_entries("frame.draw_lottery")
        entry.after = {**entry.after, "seed": lottery.new_seed()}
    db.session.commit()
    result = runner.invoke(args=["verify-lottery", str(frame_id)])
    assert result.exit_code == 1, result.output
    assert "DOES NOT MATCH" in result.output
    assert "Result: the draw DOES NOT MATCH its record." in result.output


def test_verify_lottery_after_the_purge_still_recomputes_the_order(app, runner):
    event = drawn_event(app)
    db.session.execute(
        update(Event)
        .where(Event.id == event.id)
        .values(starts_at=utcnow() - timedelta(days=2), ends_at=utcnow() - timedelta(days=2))
    )
    db.session.commit()
    with app.test_request_context():
        purge.purge_event(event.id)
    draw = fresh(LotteryDraw, db.session.scalar(select(LotteryDraw.id)))
    assert draw.entry_list == "" and "entrant" not in str(draw.drawn_ids)
    result = runner.invoke(args=["verify-lottery", str(event.frames[0].id)])
    assert result.exit_code == 0, result.output
    assert "emptied by the personal-data purge" in result.output
    assert "order: matches" in result.output


def test_verify_lottery_of_a_frame_not_drawn(app, runner):
    event = lottery_event()
    result = runner.invoke(args=["verify-lottery", str(event.frames[0].id)])
    assert result.exit_code == 1
    assert "この抽選はまだ行われていません" in result.output


def test_a_corrected_address_is_reported_not_counted_as_a_mismatch(app):
    event = drawn_event(app)
    draw = db.session.scalar(select(LotteryDraw))
    corrected = db.session.get(Registration, draw.entry_ids[0])
    corrected.email = corrected.email_normalized = "corrected@example.org"
    db.session.commit()
    result = lottery.verify_draw(event.frames[0].id)
    assert result.matches and result.changed_since == [corrected.id]


# The frame's settings ---------------------------------------------------------------------


def _frame_data(**values) -> frame_services.FrameData:
    values.setdefault("name_ja", "抽選枠")
    values.setdefault("capacity", 10)
    values.setdefault("selection", FrameSelection.lottery.value)
    return frame_services.FrameData(**values)


def test_a_lottery_frame_needs_seats_and_a_deadline(app):
    event = make_event(frames=[frame("一般枠", 5)])
    db.session.commit()
    with app.test_request_context(), pytest.raises(services.ServiceError) as refused:
        frame_services.add_frame(event.id, _frame_data(capacity=None))
    assert set(refused.value.field_errors) == {"capacity", "registration_closes_at"}
    closes = utcnow() + timedelta(days=2)
    with app.test_request_context():
        added = frame_services.add_frame(event.id, _frame_data(registration_closes_at=closes))
    assert fresh(Frame, added.id).is_lottery
    assert db.session.scalar(select(func.count(AuditLogEntry.id))) == 1


def test_a_lottery_frame_takes_no_companions_and_needs_no_approval(app):
    """Each entry is one person (the draw's seats are its winners) and the draw decides,
    not the office: both settings are refused beside their fields, nothing is added."""
    event = make_event(
        registration_closes_at=utcnow() + timedelta(days=2), frames=[frame("一般枠", 5)]
    )
    db.session.commit()
    with app.test_request_context(), pytest.raises(services.ServiceError) as refused:
        frame_services.add_frame(event.id, _frame_data(max_companions=2, requires_approval=True))
    assert set(refused.value.field_errors) == {"max_companions", "requires_approval"}
    assert "同伴者" in str(refused.value.field_errors["max_companions"])
    assert db.session.scalar(select(func.count(Frame.id))) == 1
    with app.test_request_context():
        frame_services.add_frame(
            event.id, _frame_data(selection="first_come", max_companions=2, requires_approval=True)
        )
    assert db.session.scalar(select(func.count(Frame.id))) == 2


def test_the_draws_waiting_list_counts_its_parties_and_a_newcomer_lines_up_after_it(app):
    """Losers join through the waiting list's own bookkeeping (``waiting_parties``), so
    someone who signs up after the draw is behind every one of them."""
    event = drawn_event(app, entries=5, capacity=2)
    drawn = fresh(Frame, event.frames[0].id)
    assert (drawn.confirmed_count, drawn.waiting_count, drawn.waiting_parties) == (2, 3, 3)
    late = services.register(event.id, details(9), source="organizer")
    assert (late.status, late.waiting_position) == ("waiting", 4)
    assert fresh(Frame, drawn.id).waiting_parties == 4


def test_how_a_frame_gives_seats_changes_only_while_it_has_no_registration(app):
    event = make_event(
        registration_closes_at=utcnow() + timedelta(days=2), frames=[frame("一般枠", 5)]
    )
    db.session.commit()
    only = event.frames[0]
    with app.test_request_context():
        frame_services.update_frame(event.id, only.id, _frame_data(name_ja="一般枠"))
    assert fresh(Frame, only.id).is_lottery
    enter(event, 1)
    with app.test_request_context(), pytest.raises(services.ServiceError) as refused:
        frame_services.update_frame(
            event.id, only.id, _frame_data(name_ja="一般枠", selection="first_come")
        )
    assert set(refused.value.field_errors) == {"selection"}
    assert fresh(Frame, only.id).is_lottery


def test_a_members_purge_empties_the_entry_lists_that_name_them(app):
    event = drawn_event(app, entries=3, capacity=1)
    other = drawn_event(app, entries=2, capacity=1)
    draw, untouched = db.session.scalars(select(LotteryDraw).order_by(LotteryDraw.id)).all()
    with app.test_request_context(), write_transaction(lock_event=event.id):
        purge.purge_registrations([draw.entry_ids[0]], utcnow())
    assert fresh(LotteryDraw, draw.id).entry_list == ""
    assert fresh(LotteryDraw, untouched.id).entry_list.count("\n") == 2
    assert lottery.verify_draw(event.frames[0].id).order_matches
    assert other.id != event.id


def test_the_office_is_told_of_a_second_entry_and_nothing_is_sent(app):
    event = lottery_event()
    first = enter(event, 1, "taro@example.jp")
    with app.test_request_context(), pytest.raises(services.AlreadyEntered) as refused:
        services.register(event.id, details(2, "TARO@example.jp"), source="organizer")
    message = str(refused.value.field_errors["email"])
    assert "お一人様1回まで" in message and "お送りしました" not in message
    assert outbox_kinds(first) == ["lottery_entered"]
