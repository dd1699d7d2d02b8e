"""The in-progress directory: where MixMonitor writes while a call lasts, when it is not
the recordings directory itself (``[recordings] in_progress_dir``, e.g. a tmpfs).

With it, the plaintext of a call never reaches the recordings' disk when encryption is
on: once the call ends, callrec measures the file there, seals it into the recordings
directory (same relative path) and removes it. Without encryption, the file is moved.

Crash-safe in the same way as sealing in place: the sealed (or moved) copy is written to
a temporary file in the target directory, fsynced and renamed into place before the
in-progress file is removed. Killed before the rename, the in-progress file is still
there and a later run settles it; killed after, the target is complete and the stale
in-progress file is removed by :func:`settle_quiet` (which ``callrec serve`` runs at
start and ``callrec recordings encrypt`` before it seals). A tmpfs lost at a reboot loses
the calls that were in progress then, which a crash of the disk's writer would too.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath

import structlog

from callrec.crypto.vault import fsync_directory, is_sealed
from callrec.errors import RecordingError

DIRECTORY_MODE = 0o750       # the date directories callrec makes in the recordings dir
_MOVING_SUFFIX = ".moving"


@dataclass(frozen=True)
class InProgressDir:
    asterisk_dir: str        # as Asterisk sees it (MixMonitor's file name)
    local_dir: Path          # as callrec sees it

    def path(self, relative: PurePosixPath) -> Path:
        return self.local_dir.joinpath(*relative.parts)


def make_parents(target: Path, root: Path) -> None:
    """The date directories of ``target`` under ``root``, made as callrec's own."""
    missing = [parent for parent in target.parents if parent != root
               and parent.is_relative_to(root) and not parent.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=DIRECTORY_MODE, exist_ok=True)


def move_into(source: Path, target: Path, root: Path) -> None:
    """Copy ``source`` to ``target`` (mode, times kept), durably, then remove it."""
    make_parents(target, root)
    temporary = target.with_name(f".{target.name}{_MOVING_SUFFIX}")
    try:
        shutil.copy2(source, temporary)
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, target)
        fsync_directory(target.parent)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise RecordingError(f"cannot move {source.name} into the recordings directory: "
                             f"{exc.strerror or exc}") from None
    source.unlink(missing_ok=True)


def quiet_files(directory: InProgressDir, quiet: timedelta) -> list[PurePosixPath]:
    """Recordings in the in-progress directory nobody has written for ``quiet``."""
    if not directory.local_dir.is_dir():
        return []
    cutoff = time.time() - quiet.total_seconds()
    found: list[PurePosixPath] = []
    for path in sorted(directory.local_dir.rglob("*.wav")):
        try:
            if path.is_file() and not path.name.startswith(".") \
                    and path.stat().st_mtime < cutoff:
                found.append(PurePosixPath(*path.relative_to(directory.local_dir).parts))
        except OSError:
            continue
    return found


def stale_copy(live: Path, final: Path) -> bool:
    """Whether ``live`` is only what a crash after the rename left: ``final`` is there
    and sealed (or, unsealed, of the same size: a finished move)."""
    if not final.exists():
        return False
    return is_sealed(final) or final.stat().st_size == live.stat().st_size


def log_kept(relative: PurePosixPath, reason: str) -> None:
    structlog.get_logger("callrec.recordings").error(
        "in_progress_file_kept", recording=str(relative), reason=reason)
