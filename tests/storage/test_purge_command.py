"""``callrec purge`` end to end, in process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from callrec.cli import main
from callrec.storage.audit_dao import SqlAuditLog
from callrec.storage.db import Database
from callrec.storage.purge_dao import SqlPurgeStore
from callrec.storage.tables import CallRow, PurgeRunRow
from tests.storage.purge_support import Seeder, age, recording_path, snapshot, write_config

HELSINKI = ZoneInfo("Europe/Helsinki")
SECOND = timedelta(seconds=1)
Purge = Callable[..., dict[str, Any]]


def helsinki(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=HELSINKI)


def all_rows(database: Database) -> list[tuple[Any, ...]]:
    with database.session() as session:
        return [tuple(row) for row in
                session.execute(select(CallRow.__table__).order_by(CallRow.id))]


@pytest.fixture
def seeder(database: Database, tmp_path: Path) -> Seeder:
    return Seeder(database, tmp_path / "recordings")


@pytest.fixture
def config_path(tmp_path: Path, database_url: str) -> Path:
    return write_config(tmp_path, database_url)


@pytest.fixture
def purge(config_path: Path, capsys: pytest.CaptureFixture[str]) -> Purge:
    """Runs `callrec purge --json [--now ISO] ...`; the parsed summary, exit status added."""
    def run(now: datetime | None, *args: str, status: int = 0) -> dict[str, Any]:
        argv = ["--config", str(config_path), "purge", "--json", *args]
        if now is not None:
            argv += ["--now", now.isoformat()]
        result = main(argv)
        out = capsys.readouterr().out
        assert result == status, out
        summary: dict[str, Any] = json.loads(out)
        return summary
    return run


@pytest.mark.parametrize(("service", "started", "due"), [
    # Due instants written out from a calendar; the first crosses the switch to summer time.
    ("servicedesk", "2026-03-15T10:00", "2026-05-15T10:00"),
    ("switchboard", "2026-01-31T12:00", "2026-07-31T12:00"),
    ("servicedesk", "2025-12-31T23:30", "2026-02-28T23:30"),   # month end: 31 Dec + 2 months
    ("switchboard", "2025-12-31T23:30", "2026-06-30T23:30"),
])
def test_each_service_keeps_its_recordings_until_the_second_they_expire(
        purge: Purge, seeder: Seeder, service: str, started: str, due: str) -> None:
    call = seeder.call(helsinki(started), service)
    other = "switchboard" if service == "servicedesk" else "servicedesk"
    neighbour = seeder.call(helsinki(started), other)
    before = purge(helsinki(due) - SECOND)
    assert before["services"][service]["recordings_deleted"] == 0
    assert call in snapshot(seeder.database, seeder.recordings).live

    after = purge(helsinki(due) + SECOND)
    assert after["services"][service]["recordings_deleted"] == 1
    assert after["services"][service]["bytes_freed"] == 100
    state = snapshot(seeder.database, seeder.recordings)
    assert call in state.deleted
    # The other service's period is 6 months (kept) or 2 months (gone in the first run).
    assert neighbour in (state.live if other == "switchboard" else state.deleted)
    assert state.inconsistent == []
    assert after["totals"]["errors"] == 0


def test_held_records_are_kept_and_counted_by_reason(purge: Purge, seeder: Seeder) -> None:
    old = helsinki("2026-01-10T09:00")
    plain = seeder.call(old)
    restricted = seeder.call(old, restricted_at=old + timedelta(days=3))
    held = seeder.call(old, legal_hold=True)
    requested = seeder.call(old, caller="+358409999999")
    closed = seeder.call(old, caller="+358408888888")
    seeder.open_request("+358409999999")
    seeder.open_request("+358408888888", status="closed")
    withheld = seeder.call(old, caller=None)

    summary = purge(helsinki("2026-06-01T00:00"))
    desk = summary["services"]["servicedesk"]
    assert desk["recordings_deleted"] == 3
    assert desk["held_back"]["recordings"] == {
        "total": 3, "restricted": 1, "legal_hold": 1, "open_request": 1,
        "changed_during_run": 0}
    assert summary["totals"]["held_back"] == 3
    state = snapshot(seeder.database, seeder.recordings)
    assert state.live == {restricted, held, requested}
    assert state.deleted == {plain, closed, withheld}


def test_missing_file_is_tolerated_reported_and_settled(purge: Purge, seeder: Seeder) -> None:
    old = helsinki("2026-01-10T09:00")
    present = seeder.call(old)
    missing = seeder.call(old, file=False)
    first = purge(helsinki("2026-06-01T00:00"))
    assert first["status"] == "completed"
    assert first["totals"]["missing_files"] == 1
    assert first["missing_call_ids"] == [missing]
    assert first["totals"]["recordings_deleted"] == 2
    assert snapshot(seeder.database, seeder.recordings).deleted == {present, missing}
    again = purge(helsinki("2026-06-01T00:00"))
    assert again["totals"]["missing_files"] == again["totals"]["recordings_deleted"] == 0


def test_dry_run_changes_nothing_and_predicts_the_real_run(purge: Purge, seeder: Seeder,
                                                           database: Database) -> None:
    old = helsinki("2026-01-10T09:00")
    for _ in range(3):
        seeder.call(old)
    seeder.call(old, legal_hold=True)
    seeder.call(helsinki("2026-05-20T09:00"))
    orphan = seeder.recordings / "2026/01/01" / ("f" * 32 + ".wav")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"x" * 10)
    age(orphan, 30)
    before = snapshot(database, seeder.recordings)
    rows_before = all_rows(database)

    dry = purge(helsinki("2026-06-01T00:00"), "--dry-run")
    assert dry["dry_run"] is True
    assert all_rows(database) == rows_before
    assert snapshot(database, seeder.recordings) == before

    real = purge(helsinki("2026-06-01T00:00"))
    assert dry["totals"]["recordings_deleted"] == real["totals"]["recordings_deleted"] == 3
    for key in ("bytes_freed", "held_back", "orphans_found", "orphans_deleted"):
        assert dry["totals"][key] == real["totals"][key], key
    assert real["totals"]["orphans_deleted"] == 1


def test_history_retention_deletes_rows_and_their_recordings(
        tmp_path: Path, database_url: str, database: Database, seeder: Seeder,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, database_url, replace=[
        ('"6 months"\nhistory_retention = "until erased"',
         '"6 months"\nhistory_retention = "1 year"')])
    old = helsinki("2025-01-10T09:00")
    gone = seeder.call(old, "switchboard")
    row_only = seeder.call(old, "switchboard", file=False, recording_path=None)
    held = seeder.call(old, "switchboard", legal_hold=True)
    young = seeder.call(helsinki("2025-07-10T09:00"), "switchboard")
    desk = seeder.call(old, "servicedesk")   # its history is kept until erased
    assert main(["--config", str(config), "purge", "--json", "--now",
                 "2026-02-01T00:00:00+02:00"]) == 0
    summary = json.loads(capsys.readouterr().out)
    board = summary["services"]["switchboard"]
    assert board["history_deleted"] == 2
    assert board["recordings_deleted"] == 2   # gone's and young's (6 months passed)
    assert board["held_back"]["history"]["legal_hold"] == 1
    state = snapshot(database, seeder.recordings)
    assert state.rows == {held, young, desk}
    assert gone not in state.rows and row_only not in state.rows
    assert state.inconsistent == []


def test_orphans_failopen_and_strangers(purge: Purge, seeder: Seeder) -> None:
    recordings = seeder.recordings
    recent = datetime.now(UTC) - timedelta(days=1)
    known = seeder.call(recent)
    old_orphan = recordings / "2026/04/01" / ("a" * 32 + ".wav")
    new_orphan = recordings / "2026/05/31" / ("b" * 32 + ".wav")
    failopen = recordings / "failopen" / "1764000000.42.wav"
    stranger = recordings / "README.txt"
    for path in (old_orphan, new_orphan, failopen, stranger):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 50)
    for path in (old_orphan, failopen, stranger):
        age(path, 400)
    age(new_orphan, 1)

    summary = purge(None)
    files = summary["files"]
    assert (files["orphans_found"], files["orphans_deleted"], files["orphans_within_grace"]) \
        == (2, 1, 1)
    assert files["orphan_bytes_freed"] == 50
    assert (files["failopen_files"], files["failopen_bytes"]) == (1, 50)
    assert files["unrecognised_files"] == 1
    assert not old_orphan.exists()
    assert new_orphan.exists() and failopen.exists() and stranger.exists()
    assert (recordings / recording_path(known, recent)).exists()
    assert not old_orphan.parent.exists()   # its emptied day directory went too


def test_a_purged_rows_leftover_file_is_an_orphan(purge: Purge, seeder: Seeder) -> None:
    started = helsinki("2026-01-10T09:00")
    call = seeder.call(started, recording_deleted_at=started + timedelta(days=70))
    leftover = seeder.recordings / recording_path(call, started)
    age(leftover, 30)
    summary = purge(None)
    assert summary["files"]["orphans_deleted"] == 1
    assert not leftover.exists()


def test_every_run_leaves_an_audit_record(purge: Purge, seeder: Seeder,
                                          database: Database) -> None:
    seeder.call(helsinki("2026-01-10T09:00"))
    summary = purge(helsinki("2026-06-01T00:00"))
    dry = purge(helsinki("2026-06-01T00:00"), "--dry-run")
    with database.session() as session:
        runs = list(session.scalars(select(PurgeRunRow).order_by(PurgeRunRow.id)))
    assert [(run.id, run.status, run.dry_run, run.recordings_deleted, run.bytes_freed)
            for run in runs] == [(summary["run_id"], "completed", False, 1, 100),
                                 (dry["run_id"], "completed", True, 0, 0)]
    assert runs[0].actor == summary["actor"] and runs[0].host == summary["host"]
    assert runs[0].evaluated_at == helsinki("2026-06-01T00:00")
    assert json.loads(runs[0].details or "{}")["totals"] == summary["totals"]
    entries = SqlAuditLog(database).entries(action="retention.purge")
    assert [entry.details["run_id"] for entry in entries] == [dry["run_id"], summary["run_id"]]
    assert entries[1].details["totals"]["recordings_deleted"] == 1


def test_a_held_lock_makes_the_run_skip(purge: Purge, seeder: Seeder,
                                        database: Database) -> None:
    """On PostgreSQL the lock is an advisory lock: another node's connection sees it."""
    call = seeder.call(helsinki("2026-01-10T09:00"))
    other_node = Database.open(database.engine.url.render_as_string(hide_password=False))
    try:
        with SqlPurgeStore(other_node).purge_lock() as acquired:
            assert acquired
            summary = purge(helsinki("2026-06-01T00:00"))
            assert summary["status"] == "skipped"
            assert summary["totals"]["recordings_deleted"] == 0
            assert snapshot(database, seeder.recordings).live == {call}
    finally:
        other_node.dispose()
    with database.session() as session:
        assert session.scalar(select(PurgeRunRow.status)) == "skipped"
    assert purge(helsinki("2026-06-01T00:00"))["totals"]["recordings_deleted"] == 1


def test_marks_left_by_a_dead_run_are_settled(purge: Purge, seeder: Seeder,
                                              database: Database) -> None:
    started = helsinki("2026-01-10T09:00")
    marked_gone = seeder.call(started)
    marked_present = seeder.call(started)
    young_marked = seeder.call(helsinki("2026-05-20T09:00"))
    mark = datetime(2026, 6, 1, tzinfo=UTC)
    for call in (marked_gone, marked_present, young_marked):
        seeder.set(call, recording_purge_started_at=mark)
    (seeder.recordings / recording_path(marked_gone, started)).unlink()
    with database.session() as session:
        session.add(PurgeRunRow(started_at=mark, evaluated_at=mark, actor="x", host="h", pid=1,
                                dry_run=False, status="running", recordings_deleted=0,
                                bytes_freed=0, history_deleted=0, held_back=0,
                                missing_files=0, orphans_found=0, orphans_deleted=0,
                                errors=0))
    summary = purge(helsinki("2026-06-01T00:00"))
    assert summary["recovered"] == {"completed": 1, "rolled_back": 2, "interrupted_runs": 1}
    state = snapshot(database, seeder.recordings)
    # Rolled back, then judged afresh: the expired one went, the young one stays.
    assert state.deleted == {marked_gone, marked_present}
    assert state.live == {young_marked}
    assert state.marked == set() and state.inconsistent == []


def test_unconfigured_service_is_reported_not_purged(purge: Purge, seeder: Seeder) -> None:
    call = seeder.call(helsinki("2020-01-10T09:00"), "retired-line")
    summary = purge(None)
    assert summary["unconfigured_services"] == {"retired-line": 1}
    assert snapshot(seeder.database, seeder.recordings).live == {call}


@pytest.mark.parametrize(("old", "new", "key"), [
    ('orphan_grace = "7 days"', 'orphan_grace = "7 dayz"', "retention.orphan_grace"),
    ('orphan_grace = "7 days"', 'orphan_grace = 7', "retention.orphan_grace"),
    ('orphan_grace = "7 days"', 'orphan_grace = "7 days"\nbatch = 5', "retention.batch"),
    ('recording_retention = "6 months"', 'recording_retention = "six months"',
     "services.switchboard.recording_retention"),
])
def test_bad_config_exits_2_and_changes_nothing(
        tmp_path: Path, database_url: str, seeder: Seeder, database: Database,
        capsys: pytest.CaptureFixture[str], old: str, new: str, key: str) -> None:
    seeder.call(helsinki("2020-01-10T09:00"))
    config = write_config(tmp_path, database_url, replace=[(old, new)])
    before = snapshot(database, seeder.recordings)
    assert main(["--config", str(config), "purge"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"callrec: config: {key}: ")
    assert snapshot(database, seeder.recordings) == before
    with database.session() as session:
        assert session.scalar(select(PurgeRunRow.id)) is None


@pytest.mark.parametrize("now", ["yesterday", "2026-13-01", ""])
def test_bad_now_exits_2_and_changes_nothing(config_path: Path, seeder: Seeder,
                                             capsys: pytest.CaptureFixture[str],
                                             now: str) -> None:
    seeder.call(helsinki("2020-01-10T09:00"))
    before = snapshot(seeder.database, seeder.recordings)
    assert main(["--config", str(config_path), "purge", "--now", now]) == 2
    assert f"--now {now!r} is not an ISO 8601 time" in capsys.readouterr().err
    assert snapshot(seeder.database, seeder.recordings) == before


def test_text_output_says_what_was_held_back_and_why(config_path: Path, seeder: Seeder,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    old = helsinki("2026-01-10T09:00")
    seeder.call(old)
    seeder.call(old, restricted_at=old)
    assert main(["--config", str(config_path), "purge", "--now", "2026-06-01T00:00"]) == 0
    out = capsys.readouterr().out
    assert "servicedesk (recordings 2 months, history until erased): deleted 1 recordings " \
           "(100 B)" in out
    assert "held back 1 (restricted 1, legal hold 0, open request 0" in out
