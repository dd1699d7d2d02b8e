"""Erasure that reaches backups (crypto-shredding), on SQLite and PostgreSQL.

Before the erasure, a backup is taken of the recordings directory and of the contact
history (its rows, as a restore would bring them back), and separately of the key store.
After it: the old recordings with the CURRENT key store yield nothing of the subject
(every other caller's audio still opens); with the key-store backup they still do, until
the backup window has passed and ``callrec keys rotate`` + ``callrec keys retire`` have
run (the clock simulated); then that backup is useless too. The same for a purged
recording. Killed midway and run again, an encrypted erasure still ends with every key
of the subject gone; a refusal and a legal hold keep them.
"""

from __future__ import annotations

import shutil
import signal
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from callrec.config import load_config
from callrec.errors import CallrecError
from callrec.recordings.configured import recording_files
from callrec.recordings.files import RecordingFiles
from callrec.storage.db import Database
from callrec.storage.rights_dao import SqlRights
from callrec.storage.tables import CallRow
from tests.storage.test_rights_erasure import run_erase, seed_subject
from tests.support.rights import OTHER, SUBJECT, Cli, Seeder, cli, recordings, seeder
from tests.support.vaults import (
    encrypted_config,
    key_store_copy,
    restore_key_store,
    rotate_and_retire,
    vault_with_store,
)

__all__ = ["cli", "recordings", "seeder"]


@pytest.fixture
def config_path(tmp_path: Path, database_url: str, recordings: Path) -> Path:
    return encrypted_config(tmp_path, database_url, recordings)


@pytest.fixture
def files(config_path: Path) -> RecordingFiles:
    return recording_files(load_config(config_path))


def seal_all(cli: Cli) -> None:
    status, out, err = cli("recordings", "encrypt")
    assert status == 0, err
    assert "failed 0" in out


def yields(files: RecordingFiles, directory: Path, relative: str, sha256: str) -> bool:
    """Whether the copy of ``relative`` under ``directory`` opens to the audio it held."""
    import hashlib

    copy = RecordingFiles(str(directory), directory, files._vault)
    try:
        with closing(copy.open_audio(relative)) as audio:
            digest = hashlib.sha256()
            for piece in audio.read_range(0, audio.size):
                digest.update(piece)
    except CallrecError:
        return False
    return digest.hexdigest() == sha256


def history_backup(database: Database, number: str) -> dict[str, str]:
    """What a restored history says of ``number``'s recordings: path -> SHA-256."""
    return {call.recording_path: call.recording_sha256 or ""
            for call in SqlRights(database).calls_of(number) if call.recording_path}


def assert_key_store_backup_ages_out(config_path: Path, keys_backup: Path, backup: Path,
                                     mine: dict[str, str], tmp_path: Path) -> None:
    """The key-store backup from before still opens the subject's old copies within the
    backup window, and no longer once it has passed and rotation and retirement ran."""
    with vault_with_store(config_path, keys_backup) as old_keys:
        assert all(yields(old_keys, backup, path, sha) for path, sha in mine.items())
    rotate_and_retire(config_path, after=timedelta(days=36))
    restored = restore_key_store(config_path, keys_backup, tmp_path / "restored-keys")
    with vault_with_store(config_path, restored) as old_keys:
        assert [p for p, sha in mine.items() if yields(old_keys, backup, p, sha)] == []


def aged_archive(cli: Cli, seeder: Seeder, recordings: Path) -> None:
    seed_subject(seeder)
    for path in recordings.rglob("*.wav"):
        import os
        os.utime(path, (0, 0))     # long finished
    seal_all(cli)


def test_an_erased_subject_is_unreadable_in_old_backups(
        cli: Cli, config_path: Path, seeder: Seeder, database: Database, recordings: Path,
        tmp_path: Path) -> None:
    aged_archive(cli, seeder, recordings)
    mine, theirs = history_backup(database, SUBJECT), history_backup(database, OTHER)
    backup = tmp_path / "backup-recordings"
    shutil.copytree(recordings, backup)
    keys_backup = key_store_copy(config_path, tmp_path / "backup-keys")
    files = recording_files(load_config(config_path))
    assert all(yields(files, backup, path, sha) for path, sha in mine.items())
    files.close()

    status, _, err = cli("rights", "erase", "--number", SUBJECT, "--request", "ER-C1")
    assert status == 0, err

    files = recording_files(load_config(config_path))
    try:
        # The old copies, with the key store as it is now: nothing of the subject.
        assert [p for p, sha in mine.items() if yields(files, backup, p, sha)] == []
        assert all(yields(files, backup, path, sha) for path, sha in theirs.items())
        assert all(yields(files, recordings, path, sha) for path, sha in theirs.items())
    finally:
        files.close()
    assert_key_store_backup_ages_out(config_path, keys_backup, backup, mine, tmp_path)
    files = recording_files(load_config(config_path))
    try:
        assert all(yields(files, recordings, path, sha) for path, sha in theirs.items())
    finally:
        files.close()


@pytest.mark.parametrize("kill_after", [0, 2])
def test_a_killed_encrypted_erasure_run_again_destroys_every_key(
        cli: Cli, config_path: Path, seeder: Seeder, database: Database, recordings: Path,
        tmp_path: Path, kill_after: int) -> None:
    aged_archive(cli, seeder, recordings)
    mine, theirs = history_backup(database, SUBJECT), history_backup(database, OTHER)
    backup = tmp_path / "backup-recordings"
    shutil.copytree(recordings, backup)
    killed = run_erase(config_path, "ER-C2", kill_after)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    files = recording_files(load_config(config_path))
    try:
        # The subject key went before the job was stored: already nothing opens.
        assert [p for p, sha in mine.items() if yields(files, backup, p, sha)] == []
    finally:
        files.close()
    # The caller calls again before the erasure is re-run: a fresh key, kept by the re-run.
    files = recording_files(load_config(config_path))
    try:
        later = seeder.call(SUBJECT)
        record = seeder.history.get(later.id)
        assert record is not None and record.recording_path and record.recording_sha256
        assert files.seal(record.recording_path, SUBJECT)
    finally:
        files.close()
    again = run_erase(config_path, "ER-C2")
    assert (again.returncode, again.stderr) == (0, "")
    files = recording_files(load_config(config_path))
    try:
        assert [p for p, sha in mine.items() if yields(files, backup, p, sha)] == []
        assert all(yields(files, recordings, path, sha) for path, sha in theirs.items())
        assert yields(files, recordings, record.recording_path, record.recording_sha256)
    finally:
        files.close()


def test_one_call_erased_keeps_the_subjects_other_recordings(
        cli: Cli, config_path: Path, seeder: Seeder, database: Database, recordings: Path,
        tmp_path: Path) -> None:
    aged_archive(cli, seeder, recordings)
    [first, *rest] = [call for call in SqlRights(database).calls_of(SUBJECT)
                      if call.recording_path]
    backup = tmp_path / "backup-recordings"
    shutil.copytree(recordings, backup)
    status, _, err = cli("rights", "erase", "--number", SUBJECT, "--call", first.id,
                         "--request", "ER-C3")
    assert status == 0, err
    files = recording_files(load_config(config_path))
    try:
        assert first.recording_path and first.recording_sha256
        assert not yields(files, backup, first.recording_path, first.recording_sha256)
        for call in rest:
            assert call.recording_path and call.recording_sha256
            assert yields(files, recordings, call.recording_path, call.recording_sha256)
    finally:
        files.close()


@pytest.mark.parametrize("how", ["refusal", "legal hold"])
def test_a_refusal_or_a_legal_hold_keeps_the_keys(
        cli: Cli, config_path: Path, seeder: Seeder, database: Database, recordings: Path,
        how: str) -> None:
    aged_archive(cli, seeder, recordings)
    mine = history_backup(database, SUBJECT)
    if how == "refusal":
        status, _, err = cli("rights", "erase", "--number", SUBJECT, "--request", "ER-C4",
                             "--refuse", "--justification", "a pending complaint")
        assert status == 0, err
    else:
        with database.session() as session:
            session.execute(update(CallRow).where(CallRow.caller_number == SUBJECT)
                            .values(legal_hold=True))
        assert cli("rights", "erase", "--number", SUBJECT, "--request", "ER-C4")[0] == 2
    files = recording_files(load_config(config_path))
    try:
        assert all(yields(files, recordings, path, sha) for path, sha in mine.items())
    finally:
        files.close()


def test_the_subjects_next_call_after_an_erasure_is_sealed_and_readable(
        cli: Cli, config_path: Path, seeder: Seeder, database: Database,
        recordings: Path) -> None:
    aged_archive(cli, seeder, recordings)
    assert cli("rights", "erase", "--number", SUBJECT, "--request", "ER-C5")[0] == 0
    files = recording_files(load_config(config_path))
    try:
        call = seeder.call(SUBJECT)
        record = seeder.history.get(call.id)
        assert record is not None and record.recording_path and record.recording_sha256
        assert files.seal(record.recording_path, SUBJECT)
        assert yields(files, recordings, record.recording_path, record.recording_sha256)
    finally:
        files.close()


def test_a_purged_recording_is_unreadable_in_old_backups(
        config_path: Path, cli: Cli, seeder: Seeder, database: Database, recordings: Path,
        tmp_path: Path) -> None:
    aged_archive(cli, seeder, recordings)
    mine = history_backup(database, SUBJECT)
    backup = tmp_path / "backup-recordings"
    shutil.copytree(recordings, backup)
    keys_backup = key_store_copy(config_path, tmp_path / "backup-keys")
    status, _, err = cli("purge", "--now", "2030-01-01T00:00:00+00:00")
    assert status == 0, err
    files = recording_files(load_config(config_path))
    try:
        assert [p for p, sha in mine.items() if yields(files, backup, p, sha)] == []
    finally:
        files.close()
    assert_key_store_backup_ages_out(config_path, keys_backup, backup, mine, tmp_path)
