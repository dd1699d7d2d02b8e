"""Real processes: a purge SIGKILLed mid-run and then re-run; two purges at once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callrec.retention.purge import BATCH_SIZE
from callrec.storage.db import Database
from callrec.storage.tables import PurgeRunRow
from tests.storage.purge_support import Seeder, snapshot, write_config

CALLS = BATCH_SIZE + 200           # two batches, so a kill can land in the second
STARTED = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
NOW = "2026-06-01T00:00:00+00:00"  # long after the 2-month expiry of every seeded call
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def seeded(database: Database, database_url: str, tmp_path: Path) -> tuple[Path, Seeder]:
    config = write_config(tmp_path, database_url)
    seeder = Seeder(database, tmp_path / "recordings")
    ids = [uuid.uuid4().hex for _ in range(CALLS)]
    seeder.rows(ids, [STARTED + timedelta(seconds=index) for index in range(CALLS)],
                "servicedesk")
    return config, seeder


def start_purge(config: Path, kill_after: int | None = None) -> subprocess.Popen[str]:
    """``callrec purge``; with ``kill_after`` the same command SIGKILLs itself right after
    that many file deletions (tests/support/sigkill_after.py)."""
    runner = ["callrec"] if kill_after is None else ["tests.support.sigkill_after",
                                                     str(kill_after)]
    return subprocess.Popen(
        [sys.executable, "-m", *runner, "--config", str(config), "purge", "--json",
         "--now", NOW],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT)


def finish(process: subprocess.Popen[str]) -> tuple[int, dict[str, Any] | None, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, json.loads(out) if out.strip() else None, err


@pytest.mark.parametrize("kill_after", [0, 500, BATCH_SIZE, BATCH_SIZE + 50])
def test_purge_killed_midway_then_rerun_ends_consistent(seeded: tuple[Path, Seeder],
                                                        kill_after: int) -> None:
    """0: marks committed, nothing unlinked; 500: half a batch unlinked, none recorded;
    BATCH_SIZE: a whole batch unlinked, not recorded; +50: first batch settled, second
    half-way."""
    config, seeder = seeded
    status, summary, _ = finish(start_purge(config, kill_after))
    assert status == -signal.SIGKILL and summary is None

    crashed = snapshot(seeder.database, seeder.recordings)
    assert crashed.inconsistent == []        # every gone file's row is marked or settled
    settled_before = len(crashed.deleted)
    assert settled_before == (BATCH_SIZE if kill_after > BATCH_SIZE else 0)
    assert len(crashed.marked) == min(BATCH_SIZE, CALLS - settled_before)
    unlinked_unrecorded = kill_after - settled_before
    assert len(crashed.files) == CALLS - kill_after

    status, summary, err = finish(start_purge(config))
    assert status == 0, err
    assert summary is not None
    assert summary["recovered"] == {"completed": unlinked_unrecorded,
                                    "rolled_back": len(crashed.marked) - unlinked_unrecorded,
                                    "interrupted_runs": 1}
    assert summary["totals"]["missing_files"] == 0   # no file was counted as lost
    assert summary["totals"]["recordings_deleted"] == \
        CALLS - settled_before - unlinked_unrecorded
    done = snapshot(seeder.database, seeder.recordings)
    assert done.inconsistent == [] and done.marked == set() and done.files == set()
    assert len(done.deleted) == CALLS
    with seeder.database.session() as session:
        statuses = list(session.scalars(select(PurgeRunRow.status).order_by(PurgeRunRow.id)))
    assert statuses == ["interrupted", "completed"]


def test_two_purges_at_once_delete_everything_once(seeded: tuple[Path, Seeder]) -> None:
    config, seeder = seeded
    first, second = start_purge(config), start_purge(config)
    results = [finish(first), finish(second)]
    for status, summary, err in results:
        assert status == 0, err
        assert summary is not None and summary["totals"]["errors"] == 0
        assert summary["totals"]["missing_files"] == 0   # a double delete would show here
    summaries = [summary for _, summary, _ in results if summary is not None]
    assert sum(summary["totals"]["recordings_deleted"] for summary in summaries) == CALLS
    assert sorted(summary["status"] for summary in summaries) in (
        ["completed", "skipped"], ["completed", "completed"])
    done = snapshot(seeder.database, seeder.recordings)
    assert done.inconsistent == [] and len(done.deleted) == CALLS and done.files == set()
