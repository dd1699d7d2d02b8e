"""Recording files as the rights module sees them: find, delete, make deletions durable."""

from __future__ import annotations

import os
from pathlib import Path

from callrec.errors import RecordingError
from callrec.recordings.files import RecordingFiles


class LocalRecordingArchive:
    """:class:`callrec.rights.ports.RecordingArchive` on the local recordings directory."""

    def __init__(self, files: RecordingFiles) -> None:
        self._files = files
        self._touched: set[Path] = set()

    def path(self, relative: str) -> Path:
        return self._files.local_path(relative)

    def delete(self, relative: str) -> bool:
        path = self.path(relative)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise RecordingError(f"cannot delete recording {relative}: {exc.strerror}") from exc
        self._touched.add(path.parent)
        return True

    def sync(self) -> None:
        """fsync each directory a file left: a crash must not bring an erased file back
        after the database has recorded the erasure."""
        for directory in sorted(self._touched):
            try:
                descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        self._touched.clear()
