"""Recording files: generated names, and the facts stored about each one.

Files are named ``YYYY/MM/DD/<call id>.wav`` (UTC date of the call's start, a random id):
nothing a caller controls ever reaches a path. Asterisk writes them (MixMonitor); callrec
only reads, measures, tightens permissions and deletes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import time
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import soundfile

from callrec.domain.history import RecordingFacts
from callrec.domain.ports import RecordingTarget
from callrec.errors import RecordingError

FILE_MODE = 0o640          # owner (asterisk) and the callrec group; nobody else
_SETTLE_SECONDS = 0.3      # size unchanged this long: the writer has let go
_SETTLE_TIMEOUT = 5.0


class RecordingFiles:
    def __init__(self, asterisk_dir: str, local_dir: Path) -> None:
        self._asterisk_dir = PurePosixPath(asterisk_dir)
        self._local_dir = local_dir

    def target_for(self, call_id: str, started_at: datetime) -> RecordingTarget:
        if not call_id.isalnum():
            raise RecordingError(f"refusing a recording name from id {call_id!r}")
        relative = f"{started_at.astimezone(UTC):%Y/%m/%d}/{call_id}.wav"
        return RecordingTarget(relative, str(self._asterisk_dir / relative))

    def local_path(self, relative_path: str) -> Path:
        """Where callrec reads a stored relative path; refuses anything leaving the dir."""
        relative = PurePosixPath(relative_path)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise RecordingError(f"recording path {relative_path!r} leaves the recordings "
                                 "directory")
        return self._local_dir.joinpath(*relative.parts)

    async def finalise(self, relative_path: str) -> RecordingFacts | None:
        return await asyncio.to_thread(self.measure, relative_path)

    async def discard(self, relative_path: str) -> None:
        await asyncio.to_thread(self.local_path(relative_path).unlink, missing_ok=True)

    async def last_written(self, relative_path: str) -> datetime | None:
        try:
            stamp = (await asyncio.to_thread(self.local_path(relative_path).stat)).st_mtime
        except FileNotFoundError:
            return None
        return datetime.fromtimestamp(stamp, UTC)

    def measure(self, relative_path: str) -> RecordingFacts | None:
        """Size, duration and SHA-256 of a finished recording; None if it never appeared."""
        path = self.local_path(relative_path)
        try:
            settled = _wait_until_settled(path)
            if settled is None:
                return None
            size, seconds = settled
            os.chmod(path, FILE_MODE)
            digest = hashlib.sha256()
            with path.open("rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    digest.update(block)
        except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
            raise RecordingError(f"cannot measure recording {relative_path}: {exc}") from exc
        return RecordingFacts(relative_path, size, round(seconds, 3), digest.hexdigest())


def _wait_until_settled(path: Path) -> tuple[int, float] | None:
    """MixMonitor closes its file a moment after the channel is gone: wait for that.

    Settled means the same size twice, 0.3 s apart, and a header that counts the frames
    (a WAV whose writer has not closed it yet still says "0 frames"). Returns the size
    and the duration, or None if no file appeared. The header is read once, here: each
    read costs CPU on every call.
    """
    deadline = time.monotonic() + _SETTLE_TIMEOUT
    last_size = -1
    while time.monotonic() < deadline:
        try:
            info = path.stat()
        except FileNotFoundError:
            time.sleep(0.1)
            continue
        if not stat.S_ISREG(info.st_mode):
            raise RecordingError(f"{path} is not a regular file")
        if info.st_size == last_size:
            seconds = _duration(path, info.st_size)
            if seconds is not None:
                return info.st_size, seconds
        last_size = info.st_size
        time.sleep(_SETTLE_SECONDS)
    if not path.exists():
        return None
    # Still changing after the timeout: measure what is there.
    size = path.stat().st_size
    return size, _duration(path, size) or 0.0


def _duration(path: Path, size: int) -> float | None:
    """Seconds of audio by the header; None while the header does not count them yet."""
    if size <= 44:
        return 0.0  # a header and no audio
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError):
        return None
    if info.frames <= 0 or not info.samplerate:
        return None
    return float(info.frames / info.samplerate)
