"""Recordings read the same way plain or sealed: ranges, a seekable file for soundfile,
the facts measured from the plaintext, the seal after the call, and the refusals."""

from __future__ import annotations

import hashlib
import os
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import soundfile
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callrec.crypto.vault import is_sealed
from callrec.errors import RecordingError, RecordingKeyDestroyed, RecordingTampered
from callrec.recordings import files as recordings
from callrec.recordings.audio import PlainFile, as_file, size_and_sha256
from callrec.recordings.files import RecordingFiles
from tests.support.vaults import new_vault

RELATIVE = "2026/12/04/" + "a" * 32 + ".wav"


@pytest.fixture(autouse=True)
def _quick_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recordings, "_SETTLE_SECONDS", 0.05)
    monkeypatch.setattr(recordings, "_SETTLE_TIMEOUT", 2.0)


def write_wav(path: Path, seconds: float = 2.0, hz: float = 440.0) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    tone = 0.3 * np.sin(2 * np.pi * hz * np.arange(int(8000 * seconds)) / 8000)
    soundfile.write(str(path), tone, 8000, subtype="PCM_16")
    return path.read_bytes()


@pytest.fixture
def sealed_files(tmp_path: Path) -> RecordingFiles:
    directory = tmp_path / "recordings"
    directory.mkdir()
    return RecordingFiles(str(directory), directory, new_vault(tmp_path / "keys"))


def read_all(files: RecordingFiles, relative: str) -> bytes:
    with closing(files.open_audio(relative)) as audio:
        return b"".join(audio.read_range(0, audio.size))


def test_a_call_is_measured_as_plaintext_then_sealed(sealed_files: RecordingFiles) -> None:
    path = sealed_files.local_path(RELATIVE)
    plaintext = write_wav(path, 2.5)
    facts = sealed_files.measure_and_seal(RELATIVE, "+358401234567")
    assert facts is not None
    assert (facts.bytes, facts.seconds) == (len(plaintext), 2.5)
    assert facts.sha256 == hashlib.sha256(plaintext).hexdigest()
    assert is_sealed(path)
    assert plaintext[44:1044] not in path.read_bytes()       # no audio in the clear
    assert read_all(sealed_files, RELATIVE) == plaintext
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_sealed_file_measured_again_gives_the_plaintext_facts(
        sealed_files: RecordingFiles) -> None:
    """A callrec killed after the seal and before the row: the next one measures again."""
    plaintext = write_wav(sealed_files.local_path(RELATIVE), 1.5)
    first = sealed_files.measure_and_seal(RELATIVE, "+358401234567")
    again = sealed_files.measure_and_seal(RELATIVE, "+358401234567")
    assert first == again
    assert again is not None and again.sha256 == hashlib.sha256(plaintext).hexdigest()
    assert again.seconds == 1.5


def test_a_failed_seal_keeps_the_plaintext_and_the_facts(tmp_path: Path) -> None:
    class BrokenVault:
        def seal(self, path: Path, recording_id: str, subject: str) -> None:
            raise RecordingError("the key store is away")

    directory = tmp_path / "recordings"
    files = RecordingFiles(str(directory), directory, BrokenVault())  # type: ignore[arg-type]
    plaintext = write_wav(files.local_path(RELATIVE))
    with structlog.testing.capture_logs() as logs:
        facts = files.measure_and_seal(RELATIVE, "+358401234567")
    assert facts is not None and facts.sha256 == hashlib.sha256(plaintext).hexdigest()
    assert files.local_path(RELATIVE).read_bytes() == plaintext
    assert [(entry["event"], entry["log_level"]) for entry in logs] == [
        ("recording_not_sealed", "error")]


def test_without_a_vault_nothing_is_sealed(tmp_path: Path) -> None:
    files = RecordingFiles(str(tmp_path), tmp_path)
    plaintext = write_wav(files.local_path(RELATIVE))
    assert files.measure_and_seal(RELATIVE, "+358401234567") is not None
    assert files.local_path(RELATIVE).read_bytes() == plaintext
    assert read_all(files, RELATIVE) == plaintext
    with pytest.raises(RecordingError, match="not enabled"):
        files.seal(RELATIVE, "+358401234567")


def test_a_sealed_file_without_the_vault_is_refused(sealed_files: RecordingFiles) -> None:
    write_wav(sealed_files.local_path(RELATIVE))
    sealed_files.measure_and_seal(RELATIVE, "+358401234567")
    plain_only = RecordingFiles("/a", sealed_files.local_dir)
    with pytest.raises(RecordingError, match="encrypted"):
        plain_only.open_audio(RELATIVE)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 40_000), st.integers(0, 40_000))
def test_every_range_is_the_plaintext_slice(sealed_files: RecordingFiles, start: int,
                                            end: int) -> None:
    path = sealed_files.local_path(RELATIVE)
    if not path.exists():
        write_wav(path, 2.0)
        sealed_files.measure_and_seal(RELATIVE, "+358401234567")
    plain_copy = sealed_files.local_dir / "plain.wav"
    if not plain_copy.exists():
        plain_copy.write_bytes(read_all(sealed_files, RELATIVE))
    plaintext = plain_copy.read_bytes()
    for relative in (RELATIVE, "plain.wav"):
        with closing(sealed_files.open_audio(relative)) as audio:
            assert audio.size == len(plaintext)
            assert b"".join(audio.read_range(start, end)) == plaintext[start:end]


def test_as_file_seeks_and_soundfile_reads_a_sealed_recording(
        sealed_files: RecordingFiles) -> None:
    write_wav(sealed_files.local_path(RELATIVE), 1.0, hz=1500.0)
    sealed_files.measure_and_seal(RELATIVE, "+358401234567")
    with as_file(sealed_files.open_audio(RELATIVE)) as plaintext:
        audio, rate = soundfile.read(plaintext)
        plaintext.seek(-4, os.SEEK_END)
        assert len(plaintext.read()) == 4
        plaintext.seek(0)
        assert plaintext.read(4) == b"RIFF"
    spectrum = np.abs(np.fft.rfft(audio))
    assert rate == 8000
    assert abs(float(np.fft.rfftfreq(len(audio), 1 / rate)[spectrum.argmax()]) - 1500) < 5


def test_tampering_and_destroyed_keys_reach_the_reader(sealed_files: RecordingFiles) -> None:
    write_wav(sealed_files.local_path(RELATIVE))
    sealed_files.measure_and_seal(RELATIVE, "+358401234567")
    path = sealed_files.local_path(RELATIVE)
    sealed = bytearray(path.read_bytes())
    sealed[len(sealed) // 2] ^= 0x01
    path.write_bytes(bytes(sealed))
    with pytest.raises(RecordingTampered):
        read_all(sealed_files, RELATIVE)
    sealed[len(sealed) // 2] ^= 0x01
    path.write_bytes(bytes(sealed))
    assert read_all(sealed_files, RELATIVE).startswith(b"RIFF")
    assert sealed_files.destroy_key(RELATIVE)
    with pytest.raises(RecordingKeyDestroyed):
        read_all(sealed_files, RELATIVE)


def test_a_plain_file_is_read_from_the_descriptor_it_opened(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(b"0123456789")
    plain = PlainFile(path)
    path.unlink()                                    # e.g. sealed: renamed over
    assert b"".join(plain.read_range(2, 5)) == b"234"
    assert size_and_sha256(plain) == (10, hashlib.sha256(b"0123456789").hexdigest())
    plain.close()


def test_not_a_regular_file_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.wav")
    with pytest.raises(RecordingError, match="not a regular file"):
        PlainFile(tmp_path / "fifo.wav")
    with pytest.raises(RecordingError, match="missing"):
        PlainFile(tmp_path / "none.wav")
