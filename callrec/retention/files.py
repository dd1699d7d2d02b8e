"""The recordings directory on the local disk: :class:`~callrec.retention.ports.RecordingStore`.

With encryption on, deleting a recording also destroys its data key (after the unlink: a
crash between the two leaves a key without a file, which the next purge's recovery, or
the next deletion of the same path, destroys), so that a copy of the file in a backup
cannot be opened with the key store as it is from then on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from callrec.errors import RecordingError
from callrec.recordings.files import AudioVault, RecordingFiles
from callrec.retention.ports import StoredFile
from callrec.retention.rules import RECORDING_NAME


class LocalRecordings:
    def __init__(self, local_dir: Path, vault: AudioVault | None = None) -> None:
        self._root = local_dir
        # Reuses the one place that refuses paths leaving the directory.
        self._paths = RecordingFiles(str(local_dir), local_dir, vault)

    def delete(self, path: str) -> int | None:
        local = self._paths.local_path(path)
        try:
            info = local.lstat()
            if not stat.S_ISREG(info.st_mode):
                raise RecordingError(f"{path} is not a regular file; left in place")
            local.unlink()
        except FileNotFoundError:
            self.forget(path)
            return None
        except OSError as exc:
            raise RecordingError(f"cannot delete {path}: {exc.strerror or exc}") from None
        self.forget(path)
        return info.st_size

    def forget(self, path: str) -> None:
        self._paths.destroy_key(path)

    def size(self, path: str) -> int | None:
        try:
            return self._paths.local_path(path).lstat().st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RecordingError(f"cannot inspect {path}: {exc.strerror or exc}") from None

    def walk(self) -> Iterator[StoredFile]:
        if not self._root.is_dir():
            raise RecordingError(f"recordings directory {self._root} does not exist")
        yield from self._walk_dir(self._root, "")

    def _walk_dir(self, directory: Path, prefix: str) -> Iterator[StoredFile]:
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as exc:
            raise RecordingError(f"cannot list {directory}: {exc.strerror or exc}") from None
        for entry in entries:
            relative = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk_dir(Path(entry.path), relative + "/")
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # deleted since listing (a call being set up gave up, say)
            yield StoredFile(relative, info.st_size, datetime.fromtimestamp(info.st_mtime, UTC),
                             stat.S_ISREG(info.st_mode))

    def prune_empty_dirs(self, before_day: str) -> int:
        removed = 0
        for year in _numbered(self._root, 4):
            for month in _numbered(year, 2):
                for day in _numbered(month, 2):
                    stamp = f"{year.name}/{month.name}/{day.name}"
                    if stamp < before_day and RECORDING_NAME.match(f"{stamp}/{'0' * 32}.wav"):
                        removed += _rmdir(day)
                if f"{year.name}/{month.name}/99" < before_day:
                    removed += _rmdir(month)
            if f"{year.name}/99" < before_day:
                removed += _rmdir(year)
        return removed


def _numbered(directory: Path, digits: int) -> list[Path]:
    try:
        return sorted(entry for entry in directory.iterdir() if entry.name.isdigit() and
                      len(entry.name) == digits and entry.is_dir() and not entry.is_symlink())
    except OSError:
        return []


def _rmdir(directory: Path) -> int:
    try:
        directory.rmdir()
    except OSError:
        return 0  # not empty (or gone): either way nothing to do
    return 1
