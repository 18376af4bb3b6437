"""A three-session course, read by three calendar parsers: icalendar, vobject and ical.js
(Thunderbird's), from the public feed and the per-event .ics. Each sees three events,
the all-day one as all-day (VALUE=DATE, exclusive end); moving the second session
changes that entry only (same UIDs, only its SEQUENCE raised, the others byte for byte
the same) for a subscriber who fetches again.

ical.js runs with the machine's node; it is installed with npm into a cached folder
(``CLUSTER_EVENTS_ICALJS_DIR``, else ~/.cache/cluster-events/icaljs). Without node or
npm, or when the install fails, the ical.js part skips and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
import vobject

from cluster_events.events import sessions
from cluster_events.extensions import db
from cluster_events.models import Event
from cluster_events.timefmt import TOKYO, tokyo_midnight
from tests.factories import make_event, make_registration

ICALJS_VERSION = "2.2.1"
ICALJS_SCRIPT = """
import fs from "node:fs";
import ICAL from "ical.js";
const text = fs.readFileSync(process.argv[2], "utf8");
const calendar = new ICAL.Component(ICAL.parse(text));
const out = calendar.getAllSubcomponents("vevent").map((vevent) => {
  const event = new ICAL.Event(vevent);
  return {
    uid: event.uid,
    summary: event.summary,
    sequence: event.sequence,
    allDay: event.startDate.isDate,
    start: event.startDate.toString(),
    end: event.endDate.toString(),
    url: vevent.getFirstPropertyValue("url"),
    relatedTo: vevent.getFirstPropertyValue("related-to"),
  };
});
process.stdout.write(JSON.stringify(out));
"""


def _icaljs_dir() -> Path:
    configured = os.environ.get("CLUSTER_EVENTS_ICALJS_DIR")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "cluster-events" / "icaljs"


@pytest.fixture(scope="session")
def icaljs() -> Path:
    """The script that prints what ical.js reads of a file, ical.js installed beside it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(
            "ical.js needs node and npm, and this machine lacks "
            + ("node" if node is None else "npm")
        )
    folder = _icaljs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    package = folder / "node_modules" / "ical.js" / "package.json"
    if not package.exists() or json.loads(package.read_text())["version"] != ICALJS_VERSION:
        result = subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(folder),
                f"ical.js@{ICALJS_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0 or not package.exists():
            pytest.skip(f"npm could not install ical.js@{ICALJS_VERSION}: {result.stderr[-500:]}")
    script = folder / "read_ics.mjs"
    script.write_text(ICALJS_SCRIPT, encoding="utf-8")
    return script


def _read_with_icaljs(script: Path, data: bytes, tmp_path: Path) -> list[dict]:
    path = tmp_path / "calendar.ics"
    path.write_bytes(data)
    result = subprocess.run(
        ["node", str(script), str(path)], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)


FIRST_DAY = (datetime.now(TOKYO) + timedelta(days=30)).date()


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TOKYO)


@pytest.fixture
def course(app) -> Event:
    """市民公益活動団体の広報力アップ講座（全3回）: two afternoons a week apart and a
    closing workshop of two whole days."""
    event = make_event(
        title="市民公益活動団体の広報力アップ講座",
        title_en="PR skills for civic groups",
        starts_at=_at(FIRST_DAY, 14),
        ends_at=_at(FIRST_DAY, 16),
    )
    make_registration(event, name="渡辺 健", name_kana="わたなべ けん")
    db.session.commit()
    second = FIRST_DAY + timedelta(days=7)
    sessions.add_session(event.id, sessions.SessionData(_at(second, 14), _at(second, 16)))
    third = FIRST_DAY + timedelta(days=14)
    sessions.add_session(
        event.id,
        sessions.SessionData(
            tokyo_midnight(third), tokyo_midnight(third + timedelta(days=2)), is_all_day=True
        ),
    )
    db.session.expire_all()
    return db.session.get(Event, event.id)


def _fetch(client, course: Event) -> dict[str, bytes]:
    feed = client.get("/calendar.ics")
    one = client.get(f"/events/{course.slug}.ics")
    assert feed.status_code == one.status_code == 200
    return {"feed": feed.data, "event": one.data}


def _blocks(data: bytes) -> dict[str, bytes]:
    """Each VEVENT's raw text, by UID."""
    blocks = {}
    for block in data.split(b"BEGIN:VEVENT")[1:]:
        block = block.split(b"END:VEVENT")[0]
        uid = next(line for line in block.split(b"\r\n") if line.startswith(b"UID:"))
        blocks[uid[4:].decode()] = block
    return blocks


def _icalendar_events(data: bytes) -> list:
    return icalendar.Calendar.from_ical(data).walk("VEVENT")


def test_three_parsers_read_the_course_as_three_events(course, client, icaljs, tmp_path):
    uids = [session.uid for session in course.sessions]
    third_day = FIRST_DAY + timedelta(days=14)
    for name, data in _fetch(client, course).items():
        # icalendar
        events = [e for e in _icalendar_events(data) if str(e["uid"]) in uids]
        assert [str(e["uid"]) for e in events] == uids, name
        assert all(str(e["url"]).endswith(f"/events/{course.slug}") for e in events)
        assert all(str(e["related-to"]) == course.uid for e in events)
        assert all(e["related-to"].params["RELTYPE"] == "PARENT" for e in events)
        assert events[2]["dtstart"].dt == third_day  # a date, not a datetime
        assert events[2]["dtend"].dt == third_day + timedelta(days=2)  # exclusive end
        assert events[2]["dtstart"].params.get("VALUE") == "DATE"
        assert isinstance(events[0]["dtstart"].dt, datetime)
        assert "（第2回）" in str(events[1]["summary"])

        # vobject
        parsed = vobject.readOne(data.decode("utf-8"))
        vevents = [v for v in parsed.vevent_list if v.uid.value in uids]
        assert [v.uid.value for v in vevents] == uids, name
        assert type(vevents[2].dtstart.value) is date
        assert vevents[2].dtend.value == third_day + timedelta(days=2)
        assert isinstance(vevents[1].dtstart.value, datetime)
        assert vevents[1].dtstart.value == _at(FIRST_DAY + timedelta(days=7), 14)

        # ical.js (Thunderbird)
        read = [e for e in _read_with_icaljs(icaljs, data, tmp_path) if e["uid"] in uids]
        assert [e["uid"] for e in read] == uids, name
        assert [e["allDay"] for e in read] == [False, False, True]
        assert read[2]["start"] == third_day.isoformat()
        assert read[2]["end"] == (third_day + timedelta(days=2)).isoformat()
        assert all(e["relatedTo"] == course.uid for e in read)
        assert all(e["url"].endswith(f"/events/{course.slug}") for e in read)
        # The event's own UID is not an entry: its sessions are.
        assert course.uid not in [e["uid"] for e in _read_with_icaljs(icaljs, data, tmp_path)]


def test_moving_the_second_session_changes_only_its_entry(course, client, icaljs, tmp_path):
    before = _fetch(client, course)
    first, second, third = course.sessions
    moved_day = FIRST_DAY + timedelta(days=8)
    result = sessions.update_session(
        course.id, second.id, sessions.SessionData(_at(moved_day, 18), _at(moved_day, 20))
    )
    assert result.changes == ["time"] and result.notified == 1
    db.session.expire_all()
    after = _fetch(client, course)
    for name in ("feed", "event"):
        old, new = _blocks(before[name]), _blocks(after[name])
        assert set(old) == set(new), name  # the same UIDs
        assert new[first.uid] == old[first.uid], name  # byte for byte
        assert new[third.uid] == old[third.uid], name
        assert new[second.uid] != old[second.uid]

        read_old = {e["uid"]: e for e in _read_with_icaljs(icaljs, before[name], tmp_path)}
        read_new = {e["uid"]: e for e in _read_with_icaljs(icaljs, after[name], tmp_path)}
        assert read_new[second.uid]["sequence"] == read_old[second.uid]["sequence"] + 1
        assert read_new[first.uid]["sequence"] == read_old[first.uid]["sequence"]
        assert read_new[third.uid]["sequence"] == read_old[third.uid]["sequence"]
        assert read_new[second.uid]["start"].startswith(moved_day.isoformat())

        for parse in (_icalendar_events,):
            sequences = {str(e["uid"]): int(e["sequence"]) for e in parse(after[name])}
            olds = {str(e["uid"]): int(e["sequence"]) for e in parse(before[name])}
            assert sequences[second.uid] == olds[second.uid] + 1
        vobject_new = {v.uid.value: v for v in vobject.readOne(after[name].decode()).vevent_list}
        assert vobject_new[second.uid].dtstart.value == _at(moved_day, 18)
