"""``[recordings] in_progress_dir``: MixMonitor writes there while the call lasts (a
tmpfs), and the finished recording reaches the recordings directory sealed (or moved,
without encryption); what a crash leaves there is settled at the next start."""

from __future__ import annotations

import hashlib
import os
import time
import tomllib
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from callrec.config import parse_config
from callrec.crypto.vault import is_sealed
from callrec.errors import ConfigError, RecordingError
from callrec.recordings import files as recordings
from callrec.recordings.files import RecordingFiles
from callrec.recordings.in_progress import InProgressDir
from tests.support.vaults import new_vault

RELATIVE = "2026/12/04/" + "b" * 32 + ".wav"
SUBJECT = "+358401234567"
AN_HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def _quick_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recordings, "_SETTLE_SECONDS", 0.05)
    monkeypatch.setattr(recordings, "_SETTLE_TIMEOUT", 2.0)


def write_wav(path: Path, seconds: float = 1.5) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(8000 * seconds)) / 8000)
    soundfile.write(str(path), tone, 8000, subtype="PCM_16")
    return path.read_bytes()


def files_in(tmp_path: Path, encrypted: bool) -> RecordingFiles:
    final, live = tmp_path / "recordings", tmp_path / "live"
    final.mkdir()
    live.mkdir()
    vault = new_vault(tmp_path / "keys") if encrypted else None
    return RecordingFiles(str(final), final, vault, InProgressDir("/run/callrec-live", live))


def read_all(files: RecordingFiles, relative: str) -> bytes:
    with closing(files.open_audio(relative)) as audio:
        return b"".join(audio.read_range(0, audio.size))


def test_mixmonitor_is_told_to_write_into_the_in_progress_dir(tmp_path: Path) -> None:
    from datetime import UTC, datetime
    files = files_in(tmp_path, encrypted=False)
    target = files.target_for("c" * 32, datetime(2026, 12, 4, 9, tzinfo=UTC))
    assert target.asterisk_path == f"/run/callrec-live/2026/12/04/{'c' * 32}.wav"
    assert target.relative_path == f"2026/12/04/{'c' * 32}.wav"


def test_a_finished_call_reaches_the_recordings_dir_sealed_only(tmp_path: Path) -> None:
    files = files_in(tmp_path, encrypted=True)
    live = files.live_path(RELATIVE)
    assert live is not None
    plaintext = write_wav(live)
    written = live.stat().st_mtime
    facts = files.measure_and_seal(RELATIVE, SUBJECT)
    assert facts is not None and facts.sha256 == hashlib.sha256(plaintext).hexdigest()
    final = files.local_path(RELATIVE)
    assert is_sealed(final) and not live.exists()
    assert plaintext[2000:2064] not in final.read_bytes()
    assert [p.name for p in (tmp_path / "recordings").rglob("*") if p.is_file()] == [final.name]
    assert read_all(files, RELATIVE) == plaintext
    assert final.stat().st_mtime == pytest.approx(written, abs=0.01)
    assert final.parent.stat().st_mode & 0o777 == 0o750
    files.close()


def test_without_encryption_the_file_is_moved(tmp_path: Path) -> None:
    files = files_in(tmp_path, encrypted=False)
    live = files.live_path(RELATIVE)
    assert live is not None
    plaintext = write_wav(live)
    assert files.measure_and_seal(RELATIVE, SUBJECT) is not None
    assert files.local_path(RELATIVE).read_bytes() == plaintext and not live.exists()


class BrokenVault:
    def __init__(self, real: object) -> None:
        self.real = real

    def seal(self, path: Path, recording_id: str, subject: str,
             target: Path | None = None) -> bool:
        raise RecordingError("the key store is on a full disk")

    def close(self) -> None:
        pass


def test_a_failed_seal_moves_the_plaintext_off_the_tmpfs(tmp_path: Path) -> None:
    final, live_dir = tmp_path / "recordings", tmp_path / "live"
    final.mkdir()
    files = RecordingFiles(str(final), final, BrokenVault(None),  # type: ignore[arg-type]
                           InProgressDir("/run/live", live_dir))
    live = files.live_path(RELATIVE)
    assert live is not None
    plaintext = write_wav(live)
    assert files.measure_and_seal(RELATIVE, SUBJECT) is not None
    assert files.local_path(RELATIVE).read_bytes() == plaintext and not live.exists()


def test_last_written_and_measure_read_the_in_progress_file(tmp_path: Path) -> None:
    import asyncio
    files = files_in(tmp_path, encrypted=False)
    live = files.live_path(RELATIVE)
    assert live is not None
    write_wav(live)
    os.utime(live, (1_700_000_000, 1_700_000_000))
    written = asyncio.run(files.last_written(RELATIVE))
    assert written is not None and written.timestamp() == 1_700_000_000
    asyncio.run(files.discard(RELATIVE))
    assert not live.exists() and asyncio.run(files.last_written(RELATIVE)) is None


def age(path: Path) -> None:
    old = time.time() - 2 * AN_HOUR.total_seconds()
    os.utime(path, (old, old))


def test_a_crash_leftover_is_moved_a_recent_file_is_left(tmp_path: Path) -> None:
    files = files_in(tmp_path, encrypted=False)
    live = files.live_path(RELATIVE)
    recent = files.live_path(RELATIVE.replace("b" * 32, "d" * 32))
    assert live is not None and recent is not None
    plaintext = write_wav(live)
    write_wav(recent)
    age(live)
    assert files.settle_in_progress(AN_HOUR) == 1
    assert files.local_path(RELATIVE).read_bytes() == plaintext
    assert not live.exists() and recent.exists()


def test_a_copy_left_after_a_finished_seal_is_removed(tmp_path: Path) -> None:
    files = files_in(tmp_path, encrypted=True)
    live = files.live_path(RELATIVE)
    assert live is not None
    plaintext = write_wav(live)
    assert files.measure_and_seal(RELATIVE, SUBJECT) is not None
    sealed = files.local_path(RELATIVE).read_bytes()
    live.write_bytes(plaintext)          # as if killed between the rename and the unlink
    age(live)
    assert files.settle_in_progress(AN_HOUR) == 1
    assert not live.exists() and files.local_path(RELATIVE).read_bytes() == sealed
    files.close()


def test_a_different_file_of_the_same_name_is_kept_in_both_places(tmp_path: Path) -> None:
    files = files_in(tmp_path, encrypted=False)
    live = files.live_path(RELATIVE)
    assert live is not None
    write_wav(live, 1.0)
    other = write_wav(files.local_path(RELATIVE), 2.0)
    age(live)
    assert files.settle_in_progress(AN_HOUR) == 0
    assert live.exists() and files.local_path(RELATIVE).read_bytes() == other


def config_with(**recordings_keys: str) -> dict[str, Any]:
    """The example configuration, its [recordings] given these keys too."""
    example = Path(__file__).resolve().parents[2] / "callrec.example.toml"
    raw: dict[str, Any] = tomllib.loads(example.read_text(encoding="utf-8"))
    raw["recordings"].update(local_dir="/var/spool/asterisk/callrec",
                             asterisk_dir="/var/spool/asterisk/callrec", **recordings_keys)
    return raw


@pytest.mark.parametrize(("keys", "culprit"), [
    ({"in_progress_dir": "/var/spool/asterisk/callrec/live"}, "recordings.in_progress_dir"),
    ({"in_progress_dir": "/var/spool/asterisk"}, "recordings.in_progress_dir"),
    ({"in_progress_dir": "/run/live", "in_progress_asterisk_dir": "/run/a,b"},
     "recordings.in_progress_asterisk_dir"),
    ({"in_progress_asterisk_dir": "/run/live"}, "recordings.in_progress_asterisk_dir"),
])
def test_bad_in_progress_settings_name_the_key(keys: dict[str, str], culprit: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(config_with(**keys))
    assert raised.value.key == culprit


def test_in_progress_settings_parse() -> None:
    config = parse_config(config_with(in_progress_dir="/run/callrec-live"))
    assert config.recordings.in_progress_dir == Path("/run/callrec-live")
    assert config.recordings.in_progress_asterisk_dir == "/run/callrec-live"
    assert parse_config(config_with()).recordings.in_progress_dir is None
