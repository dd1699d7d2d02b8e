"""Recording files: generated names, and the facts stored about each one.

Files are named ``YYYY/MM/DD/<call id>.wav`` (UTC date of the call's start, a random id):
nothing a caller controls ever reaches a path. Asterisk writes them (MixMonitor); callrec
reads, measures, tightens permissions, seals (with encryption on) and deletes.

With a vault (``[encryption] enabled``), a finished recording is measured as plaintext
(size, duration and SHA-256 go into the history), then sealed in place: the plaintext
exists only while the call is being recorded. Readers open either kind of file the same
way, through :meth:`RecordingFiles.open_audio`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Protocol

import soundfile
import structlog

from callrec.crypto.vault import is_sealed
from callrec.domain.history import RecordingFacts
from callrec.domain.ports import RecordingTarget
from callrec.errors import CallrecError, RecordingError
from callrec.recordings.audio import AudioStream, PlainFile, as_file, size_and_sha256
from callrec.recordings.in_progress import (
    InProgressDir,
    log_kept,
    make_parents,
    move_into,
    quiet_files,
    stale_copy,
)

FILE_MODE = 0o640          # owner (asterisk) and the callrec group; nobody else
_SETTLE_SECONDS = 0.3      # size unchanged this long: the writer has let go
_SETTLE_TIMEOUT = 5.0


class AudioVault(Protocol):
    """What the recordings need of :class:`callrec.crypto.vault.RecordingVault`."""

    def seal(self, path: Path, recording_id: str, subject: str,
             target: Path | None = None) -> bool: ...

    def open(self, path: Path, recording_id: str) -> AudioStream: ...

    def destroy_recording(self, recording_id: str) -> bool: ...

    def destroy_subject(self, subject: str) -> int: ...

    def close(self) -> None: ...


class RecordingFiles:
    def __init__(self, asterisk_dir: str, local_dir: Path,
                 vault: AudioVault | None = None,
                 in_progress: InProgressDir | None = None) -> None:
        self._asterisk_dir = PurePosixPath(asterisk_dir)
        self._local_dir = local_dir
        self._vault = vault
        self._in_progress = in_progress

    def close(self) -> None:
        """Close the vault's key store, if any."""
        if self._vault is not None:
            self._vault.close()

    @property
    def local_dir(self) -> Path:
        return self._local_dir

    @property
    def encrypted(self) -> bool:
        """Whether recordings are sealed (a vault is configured)."""
        return self._vault is not None

    def target_for(self, call_id: str, started_at: datetime) -> RecordingTarget:
        if not call_id.isalnum():
            raise RecordingError(f"refusing a recording name from id {call_id!r}")
        relative = f"{started_at.astimezone(UTC):%Y/%m/%d}/{call_id}.wav"
        written_in = self._asterisk_dir if self._in_progress is None \
            else PurePosixPath(self._in_progress.asterisk_dir)
        return RecordingTarget(relative, str(written_in / relative))

    def local_path(self, relative_path: str) -> Path:
        """Where callrec reads a stored relative path; refuses anything leaving the dir."""
        return self._local_dir.joinpath(*_checked(relative_path).parts)

    def live_path(self, relative_path: str) -> Path | None:
        """Where MixMonitor writes the file while its call lasts, if not local_path."""
        if self._in_progress is None:
            return None
        return self._in_progress.path(_checked(relative_path))

    def _current_path(self, relative_path: str) -> Path:
        """The in-progress file while there is one (or nothing yet: MixMonitor will write
        it there), else the file in the recordings directory."""
        final, live = self.local_path(relative_path), self.live_path(relative_path)
        if live is not None and (live.exists() or not final.exists()):
            return live
        return final

    async def finalise(self, relative_path: str, subject: str) -> RecordingFacts | None:
        return await asyncio.to_thread(self.measure_and_seal, relative_path, subject)

    def measure_and_seal(self, relative_path: str, subject: str) -> RecordingFacts | None:
        """The facts of a finished recording, then (with a vault) the file sealed.

        A seal that fails leaves the plaintext and does not fail the call: the row still
        gets its facts, and the next ``callrec serve`` (or ``callrec recordings encrypt``)
        seals the leftover. The error is logged for the admin."""
        facts = self.measure(relative_path)
        live = self.live_path(relative_path)
        if facts is not None and live is not None and live.exists():
            self._settle_live(relative_path, live, subject)
        elif facts is not None and self._vault is not None:
            try:
                self.seal(relative_path, subject)
            except CallrecError as exc:
                structlog.get_logger("callrec.recordings").error(
                    "recording_not_sealed", recording=relative_path, error=str(exc))
        return facts

    def _settle_live(self, relative_path: str, live: Path, subject: str) -> None:
        """Seal (or, without a vault, move) the in-progress file into the recordings
        directory. A failed seal moves the plaintext (sealed later as a leftover) rather
        than leave it on a tmpfs that a reboot empties; a failed move leaves it where it
        is, for :meth:`settle_in_progress` at the next start."""
        final = self.local_path(relative_path)
        log = structlog.get_logger("callrec.recordings")
        try:
            make_parents(final, self._local_dir)
            if self._vault is not None:
                try:
                    self._vault.seal(live, relative_path, subject, target=final)
                    return
                except CallrecError as exc:
                    log.error("recording_not_sealed", recording=relative_path,
                              error=str(exc))
            move_into(live, final, self._local_dir)
        except (CallrecError, OSError) as exc:
            log.error("recording_left_in_progress", recording=relative_path,
                      error=str(exc))

    def settle_in_progress(self, quiet: timedelta) -> int:
        """Move into the recordings directory what a crash left in the in-progress
        directory (nobody has written it for ``quiet``), and remove the copies a crash
        after a finished seal left; how many files. The leftover sealing seals them."""
        if self._in_progress is None:
            return 0
        settled = 0
        for relative in quiet_files(self._in_progress, quiet):
            live, final = self._in_progress.path(relative), self.local_path(str(relative))
            try:
                if stale_copy(live, final):
                    live.unlink()
                elif final.exists():
                    log_kept(relative, "a different file of that name is in the "
                                       "recordings directory")
                    continue
                else:
                    move_into(live, final, self._local_dir)
            except (CallrecError, OSError) as exc:
                log_kept(relative, str(exc))
                continue
            settled += 1
        return settled

    def seal(self, relative_path: str, subject: str) -> bool:
        """Seal the file in place; False if it was sealed already (nothing done)."""
        if self._vault is None:
            raise RecordingError("encryption is not enabled ([encryption] enabled = false)")
        # The vault itself finds a sealed file sealed (under its lock): no check here.
        return self._vault.seal(self.local_path(relative_path), relative_path, subject)

    def is_sealed(self, relative_path: str) -> bool:
        return is_sealed(self.local_path(relative_path))

    def open_audio(self, relative_path: str) -> AudioStream:
        """The recording's plaintext, from a plain or a sealed file alike.

        Raises RecordingError (missing, unreadable, sealed without a vault), and the
        vault's RecordingTampered / RecordingKeyDestroyed."""
        path = self.local_path(relative_path)
        while True:
            plain = PlainFile(path)
            try:
                # The inode check: a file sealed (renamed over) between our open and the
                # magic check must not be read as plaintext from the old descriptor's
                # view of things; opening again settles it.
                sealed = is_sealed(path)
                same = plain.inode == path.stat().st_ino
            except FileNotFoundError:
                plain.close()
                raise RecordingError(f"recording {relative_path} is missing") from None
            except BaseException:
                plain.close()
                raise
            if not sealed and same:
                return plain
            plain.close()
            if sealed:
                return self._open_sealed(path, relative_path)

    def _open_sealed(self, path: Path, relative_path: str) -> AudioStream:
        if self._vault is None:
            raise RecordingError(f"recording {relative_path} is encrypted, and this "
                                 "configuration has no [encryption]: it cannot be read")
        return self._vault.open(path, relative_path)

    def destroy_key(self, relative_path: str) -> bool:
        """Destroy the recording's data key (a no-op without encryption)."""
        return self._vault is not None and self._vault.destroy_recording(relative_path)

    def destroy_subject_key(self, subject: str) -> int:
        """Destroy a data subject's key, and with it every recording it wraps."""
        return 0 if self._vault is None else self._vault.destroy_subject(subject)

    async def discard(self, relative_path: str) -> None:
        await asyncio.to_thread(self._discard, relative_path)

    def _discard(self, relative_path: str) -> None:
        self.local_path(relative_path).unlink(missing_ok=True)
        live = self.live_path(relative_path)
        if live is not None:
            live.unlink(missing_ok=True)

    async def last_written(self, relative_path: str) -> datetime | None:
        try:
            path = self._current_path(relative_path)
            stamp = (await asyncio.to_thread(path.stat)).st_mtime
        except FileNotFoundError:
            return None
        return datetime.fromtimestamp(stamp, UTC)

    def measure(self, relative_path: str) -> RecordingFacts | None:
        """Size, duration and SHA-256 of a finished recording; None if it never appeared."""
        path = self._current_path(relative_path)
        if path.is_file() and is_sealed(path):
            # Sealed by a run that died before it wrote the row: measure the plaintext.
            return self._measure_sealed(path, relative_path)
        try:
            settled = _wait_until_settled(path)
            if settled is None:
                return None
            size, seconds = settled
            with contextlib.suppress(PermissionError):
                # Not the owner (callrec runs as its own user; Asterisk wrote the file):
                # Asterisk's umask 0007 already kept other users out (docs/encryption.md).
                os.chmod(path, FILE_MODE)
            digest = hashlib.sha256()
            with path.open("rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    digest.update(block)
        except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
            raise RecordingError(f"cannot measure recording {relative_path}: {exc}") from exc
        return RecordingFacts(relative_path, size, round(seconds, 3), digest.hexdigest())

    def _measure_sealed(self, path: Path, relative_path: str) -> RecordingFacts:
        with closing(self._open_sealed(path, relative_path)) as stream:
            size, sha256 = size_and_sha256(stream)
            try:
                with as_file(self._open_sealed(path, relative_path)) as audio:
                    info = soundfile.info(audio)
            except (RuntimeError, soundfile.LibsndfileError) as exc:
                raise RecordingError(f"cannot measure recording {relative_path}: "
                                     f"{exc}") from exc
        seconds = info.frames / info.samplerate if info.samplerate else 0.0
        return RecordingFacts(relative_path, size, round(seconds, 3), sha256)


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


def _checked(relative_path: str) -> PurePosixPath:
    relative = PurePosixPath(relative_path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise RecordingError(f"recording path {relative_path!r} leaves the recordings "
                             "directory")
    return relative
