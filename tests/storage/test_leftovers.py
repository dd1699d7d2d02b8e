"""Plaintext leftovers sealed at ``callrec serve`` start (SQLite and PostgreSQL): finished
calls' files under their caller's key, fail-open files under their own, never a file a
live call may still be writing, nothing that is not a recording."""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import structlog

from callrec.crypto.vault import is_sealed
from callrec.errors import CallrecError
from callrec.recordings.files import RecordingFiles
from callrec.recordings.leftovers import seal_leftovers, sealing_leftovers
from callrec.retention.files import LocalRecordings
from callrec.retention.ports import NoProgress
from callrec.storage.history_dao import SqlContactHistory
from tests.support.rights import OTHER, SUBJECT, Seeder, recordings, seeder, write_wav
from tests.support.vaults import new_vault

__all__ = ["recordings", "seeder"]
LONG_AGO = time.time() - 3600


def opens(files: RecordingFiles, relative: str) -> bool:
    try:
        with closing(files.open_audio(relative)) as audio:
            return b"".join(audio.read_range(0, audio.size)).startswith(b"RIFF")
    except CallrecError:
        return False


def test_leftovers_are_sealed_under_their_subjects(seeder: Seeder, recordings: Path,
                                                   history: SqlContactHistory,
                                                   tmp_path: Path) -> None:
    files = RecordingFiles(str(recordings), recordings, new_vault(tmp_path / "keys"))
    done = {number: seeder.call(number) for number in (SUBJECT, OTHER)}
    withheld = seeder.call(None)
    live = seeder.call(SUBJECT, finished=False)
    paths = {call.id: seeder.files.target_for(call.id, call.started_at).relative_path
             for call in (*done.values(), withheld, live)}
    orphan = f"2026/11/24/{'e' * 32}.wav"
    failopen = "failopen/1733312345.7.wav"
    for relative in (orphan, failopen):
        write_wav(recordings / relative, 900.0)
    for path in recordings.rglob("*.wav"):
        os.utime(path, (LONG_AGO, LONG_AGO))
    fresh = seeder.call(OTHER)                  # just ended: left for the next run
    paths[fresh.id] = seeder.files.target_for(fresh.id, fresh.started_at).relative_path
    (recordings / "README").write_text("left alone")

    report = seal_leftovers(files, LocalRecordings(recordings), history,
                            datetime.now(UTC), NoProgress())

    assert (report.sealed, report.in_progress, report.unrecognised, report.failed) == (
        5, 2, 1, 0)
    assert not is_sealed(recordings / paths[live.id])
    assert not is_sealed(recordings / paths[fresh.id])
    assert (recordings / "README").read_text() == "left alone"
    for call in (*done.values(), withheld):
        assert is_sealed(recordings / paths[call.id]) and opens(files, paths[call.id])
    # Each under its own subject: destroying one subject's key reaches only its files.
    assert files.destroy_subject_key(SUBJECT) == 1
    assert not opens(files, paths[done[SUBJECT].id])
    assert opens(files, paths[done[OTHER].id])
    assert files.destroy_subject_key(f"call:{withheld.id}") == 1
    assert not opens(files, paths[withheld.id])
    assert files.destroy_subject_key(f"file:{Path(failopen).name}") == 1
    assert not opens(files, failopen)
    assert files.destroy_subject_key(f"call:{'e' * 32}") == 1
    assert not opens(files, orphan)
    again = seal_leftovers(files, LocalRecordings(recordings), history, datetime.now(UTC),
                           NoProgress())
    assert (again.sealed, again.already_sealed) == (0, 5)


async def test_serve_seals_leftovers_in_the_background(seeder: Seeder, recordings: Path,
                                                       history: SqlContactHistory,
                                                       tmp_path: Path) -> None:
    files = RecordingFiles(str(recordings), recordings, new_vault(tmp_path / "keys"))
    call = seeder.call(SUBJECT)
    relative = seeder.files.target_for(call.id, call.started_at).relative_path
    os.utime(recordings / relative, (LONG_AGO, LONG_AGO))
    with structlog.testing.capture_logs() as logs:
        async with sealing_leftovers(files, LocalRecordings(recordings), history,
                                     lambda: datetime.now(UTC)):
            for _ in range(100):
                if is_sealed(recordings / relative):
                    break
                await asyncio.sleep(0.05)
    assert is_sealed(recordings / relative) and opens(files, relative)
    [entry] = [entry for entry in logs if entry["event"] == "leftovers_sealed"]
    assert (entry["sealed"], entry["failed"]) == (1, 0)


async def test_without_encryption_serve_leaves_the_files(seeder: Seeder, recordings: Path,
                                                         history: SqlContactHistory) -> None:
    call = seeder.call(SUBJECT)
    relative = seeder.files.target_for(call.id, call.started_at).relative_path
    before = (recordings / relative).read_bytes()
    async with sealing_leftovers(seeder.files, LocalRecordings(recordings), history,
                                 lambda: datetime.now(UTC)):
        await asyncio.sleep(0.1)
    assert (recordings / relative).read_bytes() == before
