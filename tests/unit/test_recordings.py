"""Recording files: measuring a finished MixMonitor file, and waiting for one to finish."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from callrec.errors import RecordingError
from callrec.recordings import files as recordings
from callrec.recordings.files import RecordingFiles


@pytest.fixture(autouse=True)
def _quick_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recordings, "_SETTLE_SECONDS", 0.05)
    monkeypatch.setattr(recordings, "_SETTLE_TIMEOUT", 2.0)


def write_wav(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(8000 * seconds)) / 8000)
    soundfile.write(str(path), tone, 8000, subtype="PCM_16")


def test_a_finished_recording_is_measured_and_locked_down(tmp_path: Path) -> None:
    files = RecordingFiles("/asterisk", tmp_path)
    path = tmp_path / "2026/11/25/a.wav"
    write_wav(path, 2.5)
    path.chmod(0o666)
    facts = files.measure("2026/11/25/a.wav")
    assert facts is not None
    assert (facts.path, facts.bytes, facts.seconds) == ("2026/11/25/a.wav",
                                                         path.stat().st_size, 2.5)
    assert facts.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_recording_that_never_appears_is_none(tmp_path: Path) -> None:
    started = time.monotonic()
    assert RecordingFiles("/asterisk", tmp_path).measure("2026/11/25/none.wav") is None
    assert time.monotonic() - started >= 2.0  # it waited for the writer


def test_a_recording_still_being_written_is_measured_once_closed(tmp_path: Path) -> None:
    path = tmp_path / "2026/11/25/b.wav"
    write_wav(path, 1.0)
    complete = path.read_bytes()
    # As MixMonitor leaves it until it closes the file: no frame count in the header.
    path.write_bytes(complete[:40] + b"\0\0\0\0" + complete[44:])

    def writer_closes() -> None:
        time.sleep(0.4)
        write_wav(path, 1.5)

    closing = threading.Thread(target=writer_closes)
    closing.start()
    facts = RecordingFiles("/asterisk", tmp_path).measure("2026/11/25/b.wav")
    closing.join()
    assert facts is not None and facts.seconds == 1.5
    assert facts.bytes == path.stat().st_size


def test_a_header_only_recording_lasts_zero_seconds(tmp_path: Path) -> None:
    path = tmp_path / "2026/11/25/c.wav"
    write_wav(path, 0.0)
    facts = RecordingFiles("/asterisk", tmp_path).measure("2026/11/25/c.wav")
    assert facts is not None and (facts.bytes, facts.seconds) == (44, 0.0)


@pytest.mark.parametrize("relative", ["../outside.wav", "/etc/passwd", ""])
def test_paths_leaving_the_directory_are_refused(tmp_path: Path, relative: str) -> None:
    with pytest.raises(RecordingError, match="leaves the recordings directory"):
        RecordingFiles("/asterisk", tmp_path).measure(relative)


def test_something_else_than_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "2026/11/25/d.wav").mkdir(parents=True)
    with pytest.raises(RecordingError, match="not a regular file"):
        RecordingFiles("/asterisk", tmp_path).measure("2026/11/25/d.wav")
