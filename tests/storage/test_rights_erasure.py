"""Erasure (art. 17) and its refusal: nothing of the subject is left but the tombstone,
even when the erasure is killed midway and run again (a real process, SIGKILLed)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update

from callrec.storage.audit_dao import SqlAuditLog
from callrec.storage.db import Database
from callrec.storage.rights_dao import SqlRights
from callrec.storage.tables import CallRow, ErasureTombstoneRow
from tests.support.rights import (
    OTHER,
    SPELLINGS,
    SUBJECT,
    Cli,
    Seeder,
    cli,
    config_path,
    disk,
    dump,
    recordings,
    seeder,
)

# Fixtures, which pytest finds by name in this module.
__all__ = ["cli", "config_path", "recordings", "seeder"]
PROJECT = Path(__file__).resolve().parents[2]
# Every way the subject's number could still be written somewhere.
TRACES = ("401234567", "Matti")


def traces_left(database: Database) -> list[str]:
    return [f"{table}: {row}" for table, rows in dump(database).items() for row in rows
            if any(trace in row for trace in TRACES)]


def tombstones(database: Database) -> list[tuple[object, ...]]:
    with database.session() as session:
        return [(row.request_reference, row.calls_erased, row.recordings_erased)
                for row in session.scalars(select(ErasureTombstoneRow))]


def seed_subject(seeder: Seeder) -> tuple[list[str], list[str]]:
    """Four recorded calls and one unrecorded from the subject, one recorded other call;
    returns the subject's call ids and the other caller's recording files."""
    mine = [seeder.call().id for _ in range(4)] + [seeder.call(recorded=False).id]
    other = seeder.call(OTHER, caller_name_raw="Olli")
    files = seeder.files
    return mine, [files.target_for(other.id, other.started_at).relative_path]


def test_erasure_leaves_nothing_but_the_tombstone(cli: Cli, seeder: Seeder,
                                                  database: Database,
                                                  recordings: Path) -> None:
    mine, others_files = seed_subject(seeder)
    cli("rights", "rectify", "--call", mine[0], "--field", "caller_name", "--value",
        "Matti M.", "--reason", "typo", "--request", "REC-1")
    cli("rights", "restrict", "--number", SUBJECT, "--request", "RES-1")
    cli("rights", "find", "--number", SUBJECT)
    assert traces_left(database), "the check below could not fail"
    status, out, err = cli("rights", "erase", "--number", SPELLINGS[1], "--request", "ER-1")
    assert (status, err) == (0, "")
    assert out == "erased: 5 calls, 4 recordings (request ER-1)\n"
    assert traces_left(database) == []
    assert sorted(disk(recordings)) == others_files
    assert tombstones(database) == [("ER-1", 5, 4)]
    request = SqlRights(database).request("ER-1")
    assert request is not None
    assert (request.subject_number, request.status.value) == ("erased", "closed")
    actions = [(e.action, e.request_reference) for e in SqlAuditLog(database).entries()]
    assert actions[:2] == [("rights.erase", "ER-1"), ("rights.erase.started", "ER-1")]
    # Again: nothing more to do, and still one tombstone.
    assert cli("rights", "erase", "--number", SUBJECT, "--request", "ER-1")[1] == (
        "already erased: 5 calls, 4 recordings (request ER-1)\n")
    assert tombstones(database) == [("ER-1", 5, 4)]


def test_erasure_of_one_call(cli: Cli, seeder: Seeder, database: Database,
                             recordings: Path) -> None:
    mine, _ = seed_subject(seeder)
    before = disk(recordings)
    status, out, _ = cli("rights", "erase", "--number", SUBJECT, "--call", mine[1],
                         "--request", "ER-2")
    assert (status, out) == (0, "erased: 1 calls, 1 recordings (request ER-2)\n")
    remaining = [call.id for call in SqlRights(database).calls_of(SUBJECT)]
    assert remaining == [mine[0], *mine[2:]]
    assert len(disk(recordings)) == len(before) - 1
    status, _, err = cli("rights", "erase", "--number", OTHER, "--request", "ER-2")
    assert (status, "another number" in err) == (2, True)
    assert not any(mine[1] in name for name in disk(recordings))
    request = SqlRights(database).request("ER-2")
    assert request is not None and request.subject_number == SUBJECT


def test_refusal_keeps_everything_and_the_justification(
        cli: Cli, seeder: Seeder, database: Database, recordings: Path) -> None:
    seed_subject(seeder)
    calls_before = dump(database)["calls"]
    files_before = disk(recordings)
    justification = "Recordings are needed for a pending complaint (art. 17(3)(e))."
    status, out, err = cli("rights", "erase", "--number", SUBJECT, "--request", "ER-3",
                           "--refuse", "--justification", justification)
    assert (status, out, err) == (0, "erasure refused and justified; 5 calls kept\n", "")
    assert dump(database)["calls"] == calls_before
    assert disk(recordings) == files_before
    assert tombstones(database) == []
    request = SqlRights(database).request("ER-3")
    assert request is not None
    assert (request.status.value, request.outcome) == ("refused", justification)
    [entry] = SqlAuditLog(database).entries(action="rights.erase.refused")
    assert (entry.request_reference, entry.details) == ("ER-3", {"calls_kept": 5})
    status, _, err = cli("rights", "erase", "--number", SUBJECT, "--request", "ER-3")
    assert (status, "refused" in err) == (2, True)
    assert disk(recordings) == files_before


@pytest.mark.parametrize("state", ["in progress", "legal hold"])
def test_erasure_waits_for_calls_in_progress_and_on_hold(
        cli: Cli, seeder: Seeder, database: Database, recordings: Path, state: str) -> None:
    seeder.call()
    blocked = seeder.call(finished=state != "in progress")
    if state == "legal hold":
        with database.session() as session:
            session.execute(update(CallRow).where(CallRow.id == blocked.id)
                            .values(legal_hold=True))
    before, files = dump(database), disk(recordings)
    status, out, err = cli("rights", "erase", "--number", SUBJECT, "--request", "ER-4")
    assert (status, out) == (2, "")
    assert state in err and blocked.id in err
    assert (dump(database), disk(recordings)) == (before, files)


def run_erase(config: Path, reference: str, kill_after: int | None = None
              ) -> subprocess.CompletedProcess[str]:
    """``callrec rights erase`` in a process of its own; with ``kill_after`` the same
    command SIGKILLs itself once that many files are gone (tests/support/sigkill_after.py)."""
    if kill_after is None:
        command = [str(Path(sys.executable).with_name("callrec"))]
    else:
        command = [sys.executable, "-m", "tests.support.sigkill_after", str(kill_after)]
    return subprocess.run([*command, "--config", str(config), "rights", "erase",
                           "--number", SPELLINGS[2], "--request", reference],
                          capture_output=True, text=True, timeout=120, cwd=PROJECT,
                          check=False)


@pytest.mark.parametrize("kill_after", [0, 2])
def test_killed_erasure_run_again_leaves_nothing(
        config_path: Path, seeder: Seeder, database: Database, recordings: Path,
        kill_after: int, tmp_path: Path, cli: Cli) -> None:
    mine, others_files = seed_subject(seeder)
    killed = run_erase(config_path, "ER-5", kill_after)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # Midway for real: the plan is stored, exactly K files are gone, every row is there.
    assert len(disk(recordings)) == 5 - kill_after
    assert len(SqlRights(database).calls_of(SUBJECT)) == 5
    assert tombstones(database) == []
    assert SqlRights(database).unfinished_erasures(SUBJECT) == ["ER-5"]
    status, _, err = cli("rights", "export", "--number", SUBJECT, "--request", "A-5",
                         "--out", str(tmp_path / "x.zip"))
    assert (status, "erasure" in err) == (2, True)
    status, _, err = cli("rights", "erase", "--number", SUBJECT, "--request", "ER-6")
    assert (status, "ER-5" in err) == (2, True)
    again = run_erase(config_path, "ER-5")
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout == "erased: 5 calls, 4 recordings (request ER-5)\n"
    assert traces_left(database) == []
    assert sorted(disk(recordings)) == others_files
    assert tombstones(database) == [("ER-5", 5, 4)]
    assert SqlRights(database).unfinished_erasures(SUBJECT) == []
    assert not any(call_id in name for call_id in mine for name in disk(recordings))
    third = run_erase(config_path, "ER-5")
    assert third.stdout.startswith("already erased")
    assert tombstones(database) == [("ER-5", 5, 4)]
