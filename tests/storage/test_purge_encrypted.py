"""The purge on an encrypted archive (SQLite and PostgreSQL): each deleted recording's
data key goes with it, also when the purge is SIGKILLed between the unlink and the key
and run again; kept recordings stay readable."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callrec.config import load_config
from callrec.errors import RecordingKeyDestroyed
from callrec.recordings.configured import recording_files, vault_for
from callrec.recordings.files import RecordingFiles
from callrec.storage.db import Database
from tests.storage.purge_support import Seeder, recording_path, snapshot, write_config
from tests.support.vaults import encryption_toml

STARTED = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
NOW = "2026-06-01T00:00:00+00:00"     # past the 2-month retention of the old calls
PROJECT = Path(__file__).resolve().parents[2]


def purge(config: Path, kill: str | None = None) -> subprocess.CompletedProcess[str]:
    runner = ["callrec"] if kill is None else ["tests.support.sigkill_after", kill]
    return subprocess.run([sys.executable, "-m", *runner, "--config", str(config), "purge",
                           "--json", "--now", NOW], capture_output=True, text=True,
                          timeout=120, cwd=PROJECT, check=False)


def opens(config: Path, directory: Path, relative: str) -> bool:
    """Whether the key store as it is now opens the copy of ``relative`` in ``directory``."""
    copy = RecordingFiles(str(directory), directory, vault_for(load_config(config)))
    try:
        with closing(copy.open_audio(relative)) as audio:
            return b"".join(audio.read_range(0, audio.size)).startswith(b"RIFF")
    except RecordingKeyDestroyed:
        return False
    finally:
        copy.close()


@pytest.fixture
def archive(database: Database, database_url: str, tmp_path: Path
            ) -> tuple[Path, Seeder, list[str], list[str]]:
    """Six expired and two recent recordings, all sealed; (config, seeder, expired ids,
    kept ids)."""
    config = write_config(tmp_path, database_url, append=encryption_toml(tmp_path / "keys"))
    seeder = Seeder(database, tmp_path / "recordings")
    expired = [uuid.uuid4().hex for _ in range(6)]
    kept = [uuid.uuid4().hex for _ in range(2)]
    seeder.rows(expired, [STARTED + timedelta(minutes=i) for i in range(6)], "servicedesk")
    recent = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)
    seeder.rows(kept, [recent, recent + timedelta(minutes=1)], "servicedesk")
    files = recording_files(load_config(config))
    try:
        for call_id in [*expired, *kept]:
            assert files.seal(_path(seeder, call_id), "+358401234567")
    finally:
        files.close()
    return config, seeder, expired, kept


def _path(seeder: Seeder, call_id: str) -> str:
    [found] = [str(path.relative_to(seeder.recordings))
               for path in seeder.recordings.rglob(f"{call_id}.wav")]
    return found


@pytest.mark.parametrize("kill", [None, "3k", "3"])
def test_a_purged_recording_loses_its_key(archive: tuple[Path, Seeder, list[str], list[str]],
                                          tmp_path: Path, kill: str | None) -> None:
    config, seeder, expired, kept = archive
    paths = {call_id: _path(seeder, call_id) for call_id in [*expired, *kept]}
    backup = tmp_path / "backup"
    shutil.copytree(seeder.recordings, backup)
    if kill is not None:
        killed = purge(config, kill)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        # "3k": the third file is gone and its key still there; "3": both gone.
        assert opens(config, backup, paths[expired[2]]) is (kill == "3k")
        assert not opens(config, backup, paths[expired[1]])
    done = purge(config)
    assert done.returncode == 0, done.stderr
    state = snapshot(seeder.database, seeder.recordings)
    assert state.inconsistent == []
    assert state.deleted == set(expired) and state.live == set(kept)
    for call_id in expired:
        assert not opens(config, backup, paths[call_id]), call_id
    for call_id in kept:
        assert opens(config, seeder.recordings, paths[call_id])
        assert opens(config, backup, paths[call_id])
    assert recording_path(expired[0], STARTED) == paths[expired[0]]
