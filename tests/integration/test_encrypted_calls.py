"""Encryption at rest on the real lab: a recorded call's file is sealed once the call has
ended, no plaintext of it is left in the recordings directory, and it decrypts (as a
stream) to audio holding both directions' tones and the row's SHA-256. A plaintext left
over (as a crash or a fail-open call leaves one) is sealed by the next ``callrec serve``.

Run only under the lab lock: ``flock /tmp/callrec-lab.lock .venv/bin/pytest tests/integration/...``
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import numpy as np

from callrec.config import load_config
from callrec.crypto.vault import is_sealed
from callrec.lab.asterisk import AsteriskLab
from callrec.recordings.configured import recording_files
from callrec.recordings.files import RecordingFiles
from tests.integration.conftest import Agents
from tests.integration.test_recorded_calls import (
    AGENT1_HZ,
    AGENT2_HZ,
    CALLER_HZ,
    NOBODY_HZ,
    TALK,
    Callrec,
    call,
    notice_seconds,
    start_callrec,
)
from tests.support.audio import assert_tones
from tests.support.vaults import encryption_toml, init_keys

__all__ = ["start_callrec"]


def decrypted(files: RecordingFiles, relative: str) -> bytes:
    with closing(files.open_audio(relative)) as audio:
        return b"".join(audio.read_range(0, audio.size))


def test_a_recorded_call_ends_sealed_and_decrypts_to_both_directions(
        start_callrec: Callable[..., Callrec], agents: Agents, lab: AsteriskLab,
        tmp_path: Path) -> None:
    # A plaintext left over from an earlier crash, written long ago: sealed at the next start.
    leftover = lab.recordings_host_dir / "failopen" / f"left-{os.getpid()}.wav"
    leftover.parent.mkdir(exist_ok=True)
    leftover.write_bytes(b"RIFF" + os.urandom(4000))
    leftover_plain = leftover.read_bytes()
    os.utime(leftover, (time.time() - 3600, time.time() - 3600))
    keys = tmp_path / "keys"
    section = encryption_toml(keys)
    database_url = f"sqlite:///{tmp_path / 'state' / 'callrec.db'}"
    running = start_callrec(database_url, lambda text: text + section)
    # `callrec serve` made the first master key itself: init finds it done.
    init_keys(running.config_path)
    # Other tests' plaintext recordings of the same tones may lie there: only what this
    # call wrote is looked at.
    before = set(lab.recordings_host_dir.rglob("*"))
    call("0201234500", "0401234567", "Matti", notice_seconds("fi") + 1 + TALK,
         tmp_path / "sipp")
    row = running.one_finished_row()
    path = running.recording(row)
    assert row.recording_path is not None
    assert is_sealed(path)
    files = recording_files(load_config(running.config_path))
    try:
        plaintext = decrypted(files, row.recording_path)
        assert len(plaintext) == row.recording_bytes
        assert hashlib.sha256(plaintext).hexdigest() == row.recording_sha256
        # No plaintext of the call anywhere in the directory: no sample run of it.
        audio_sample = plaintext[len(plaintext) // 2:len(plaintext) // 2 + 64]
        for other in running.lab.recordings_host_dir.rglob("*"):
            if other.is_file() and other != leftover and other not in before:
                assert audio_sample not in other.read_bytes(), other
        assert [p for p in path.parent.iterdir() if row.id in p.name] == [path]
        listen = tmp_path / "decrypted.wav"        # the test's own copy, to analyse
        listen.write_bytes(plaintext)
        assert_tones(listen, present=[CALLER_HZ, AGENT1_HZ], absent=[AGENT2_HZ, NOBODY_HZ])
        assert np.frombuffer(plaintext[44:], dtype="<i2").std() > 100
        assert path.stat().st_mode & 0o777 == 0o640
        # The leftover: sealed by this callrec's start, under the fail-open file's subject.
        deadline = time.monotonic() + 20
        while not is_sealed(leftover) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert is_sealed(leftover)
        assert decrypted(files, f"failopen/{leftover.name}") == leftover_plain
    finally:
        files.close()
        leftover.unlink(missing_ok=True)


def watch_for_plaintext(directory: Path, found: list[Path], stop: threading.Event) -> None:
    """Record every unsealed recording that shows up under ``directory`` meanwhile."""
    while not stop.is_set():
        for path in directory.rglob("*.wav"):
            if path not in found and path.is_file() and not is_sealed(path):
                found.append(path)
        time.sleep(0.05)


def test_with_an_in_progress_dir_the_recordings_dir_never_holds_plaintext(
        start_callrec: Callable[..., Callrec], agents: Agents, lab: AsteriskLab,
        tmp_path: Path) -> None:
    lab.in_progress_host_dir.mkdir(exist_ok=True)     # made by `callrec lab up`
    assert not [p for p in lab.in_progress_host_dir.rglob("*") if p.is_file()]
    section = encryption_toml(tmp_path / "keys")
    settings = (f'[recordings]\nin_progress_dir = "{lab.in_progress_host_dir}"\n'
                f'in_progress_asterisk_dir = "{lab.in_progress_asterisk_dir}"\n')
    running = start_callrec(f"sqlite:///{tmp_path / 'state' / 'callrec.db'}",
                            lambda text: text.replace("[recordings]\n", settings, 1) + section)
    before = set(running.lab.recordings_host_dir.rglob("*.wav"))
    on_disk: list[Path] = []
    in_progress: list[Path] = []
    stop = threading.Event()
    watchers = [threading.Thread(target=watch_for_plaintext, args=(where, seen, stop))
                for where, seen in ((running.lab.recordings_host_dir, on_disk),
                                    (lab.in_progress_host_dir, in_progress))]
    for watcher in watchers:
        watcher.start()
    try:
        call("0201234500", "0401234567", "Matti", notice_seconds("fi") + 1 + TALK,
             tmp_path / "sipp")
        row = running.one_finished_row()
    finally:
        stop.set()
        for watcher in watchers:
            watcher.join()
    assert row.recording_path is not None
    # MixMonitor wrote it in the in-progress dir; the recordings dir only ever saw it sealed.
    assert [p.name for p in in_progress] == [f"{row.id}.wav"]
    assert [p for p in on_disk if p not in before] == []
    path = running.recording(row)
    assert is_sealed(path)
    assert not [p for p in lab.in_progress_host_dir.rglob("*") if p.is_file()]
    files = recording_files(load_config(running.config_path))
    try:
        plaintext = decrypted(files, row.recording_path)
    finally:
        files.close()
    assert hashlib.sha256(plaintext).hexdigest() == row.recording_sha256
    listen = tmp_path / "decrypted.wav"
    listen.write_bytes(plaintext)
    assert_tones(listen, present=[CALLER_HZ, AGENT1_HZ], absent=[AGENT2_HZ, NOBODY_HZ])
