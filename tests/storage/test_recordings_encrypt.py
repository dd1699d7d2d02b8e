"""``callrec recordings encrypt``: an existing archive sealed in place, on SQLite and
PostgreSQL; killed midway (a real process, SIGKILLed) and run again, every recording is
readable exactly once and still hashes as the history says."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from callrec.config import load_config
from callrec.crypto.vault import is_sealed
from callrec.recordings.configured import recording_files
from callrec.recordings.files import RecordingFiles
from callrec.storage.db import Database
from callrec.storage.rights_dao import SqlRights
from tests.support.rights import OTHER, SUBJECT, Cli, Seeder, cli, recordings, seeder, write_wav
from tests.support.vaults import encrypted_config

__all__ = ["cli", "recordings", "seeder"]
PROJECT = Path(__file__).resolve().parents[2]
AN_HOUR_AGO = time.time() - 3600


@pytest.fixture
def config_path(tmp_path: Path, database_url: str, recordings: Path) -> Path:
    return encrypted_config(tmp_path, database_url, recordings)


def age(path: Path) -> None:
    os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))


def files_of(config: Path) -> RecordingFiles:
    return recording_files(load_config(config))


def plaintext_sha256(files: RecordingFiles, relative: str) -> str:
    digest = hashlib.sha256()
    with closing(files.open_audio(relative)) as audio:
        for piece in audio.read_range(0, audio.size):
            digest.update(piece)
    return digest.hexdigest()


def seed_archive(seeder: Seeder, recordings: Path, count: int = 6) -> dict[str, str]:
    """``count`` finished calls with real WAVs, aged; relative path -> history SHA-256."""
    history: dict[str, str] = {}
    for index in range(count):
        call = seeder.call(SUBJECT if index % 2 else OTHER)
        record = seeder.history.get(call.id)
        assert record is not None and record.recording_path and record.recording_sha256
        history[record.recording_path] = record.recording_sha256
        age(recordings / record.recording_path)
    return history


def run_encrypt(config: Path, kill_after: int | None = None) -> subprocess.CompletedProcess[str]:
    runner = ["callrec"] if kill_after is None else ["tests.support.sigkill_after",
                                                     str(kill_after)]
    return subprocess.run([sys.executable, "-m", *runner, "--config", str(config),
                           "recordings", "encrypt"], capture_output=True, text=True,
                          timeout=120, cwd=PROJECT, check=False)


def test_without_encryption_it_says_what_to_do(cli: Cli, tmp_path: Path,
                                               database_url: str, recordings: Path) -> None:
    plain = encrypted_config(tmp_path, database_url, recordings, enabled=False)
    status, out, err = cli("recordings", "encrypt", config=plain)
    assert (status, out) == (2, "")
    assert "encryption.enabled" in err and "enabled = true" in err


def test_an_archive_is_sealed_in_place(cli: Cli, config_path: Path, seeder: Seeder,
                                       recordings: Path, database: Database) -> None:
    history = seed_archive(seeder, recordings)
    live = seeder.call(SUBJECT, finished=False)
    live_path = seeder.files.target_for(live.id, live.started_at).relative_path
    age(recordings / live_path)
    failopen = recordings / "failopen" / "1733312345.42.wav"
    write_wav(failopen, 700.0)
    failopen_plain = failopen.read_bytes()
    age(failopen)
    fresh = recordings / "2026/12/04" / ("f" * 32 + ".wav")      # written a moment ago
    write_wav(fresh, 800.0)
    stranger = recordings / "notes.txt"
    stranger.write_text("not a recording")
    age(stranger)

    status, out, err = cli("recordings", "encrypt")
    assert status == 0, err
    assert out.startswith(f"callrec recordings encrypt: sealed {len(history) + 1}, already "
                          "sealed 0, left for later (in progress or written in the last 10 "
                          "minutes) 2, not recordings (left alone) 1, failed 0")
    files = files_of(config_path)
    for relative, sha256 in history.items():
        assert is_sealed(recordings / relative)
        assert plaintext_sha256(files, relative) == sha256
    assert is_sealed(failopen)
    with closing(files.open_audio("failopen/1733312345.42.wav")) as audio:
        assert b"".join(audio.read_range(0, audio.size)) == failopen_plain
    assert not is_sealed(recordings / live_path) and not is_sealed(fresh)
    assert stranger.read_text() == "not a recording"
    assert "encrypting: 100%" in err           # stderr is not a terminal here: plain lines
    # Whose keys: erasing the subject's key leaves their files unreadable, not the others'.
    assert files.destroy_subject_key(SUBJECT) > 0
    readable = {relative: _readable(files, relative) for relative in history}
    subject_paths = {call.recording_path for call in SqlRights(database).calls_of(SUBJECT)}
    assert {path for path, ok in readable.items() if not ok} == subject_paths - {live_path}
    again = cli("recordings", "encrypt")
    assert again[0] == 0 and "sealed 0, already sealed" in again[1]


def _readable(files: RecordingFiles, relative: str) -> bool:
    try:
        plaintext_sha256(files, relative)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("kill_after", [0, 3])
def test_killed_midway_and_run_again_every_recording_is_readable_once(
        config_path: Path, seeder: Seeder, recordings: Path, kill_after: int) -> None:
    history = seed_archive(seeder, recordings)
    killed = run_encrypt(config_path, kill_after)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    sealed_now = [relative for relative in history if is_sealed(recordings / relative)]
    assert len(sealed_now) == kill_after
    again = run_encrypt(config_path)
    assert again.returncode == 0, again.stderr
    assert f"sealed {len(history) - kill_after}, already sealed {kill_after}," in again.stdout
    files = files_of(config_path)
    for relative, sha256 in history.items():
        assert is_sealed(recordings / relative)
        assert plaintext_sha256(files, relative) == sha256
    on_disk = sorted(str(path.relative_to(recordings)) for path in recordings.rglob("*")
                     if path.is_file())
    assert on_disk == sorted(history)          # no second copy, no temporary file left
