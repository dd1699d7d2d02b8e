"""Recordings on the local disk as the rights module sees them: read, delete, make
deletions durable (:class:`callrec.rights.ports.RecordingArchive`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from callrec.errors import RecordingError
from callrec.recordings.files import RecordingFiles
from callrec.recordings.streams import size_and_sha256
from callrec.rights.ports import RecordingContent


class LocalRecordingArchive:
    def __init__(self, files: RecordingFiles) -> None:
        self._files = files
        self._touched: set[Path] = set()

    def content(self, relative: str) -> RecordingContent | None:
        path = self._path(relative)
        # Anything but a regular file (a directory, a FIFO) is no recording; checked before
        # opening, which would block on a FIFO.
        if not path.is_file():
            return None
        try:
            with path.open("rb") as stream:
                return RecordingContent(*size_and_sha256(stream))
        except FileNotFoundError:
            return None   # deleted since the check: missing all the same
        except OSError as exc:
            raise _unreadable(relative, exc) from exc

    def open(self, relative: str) -> BinaryIO:
        try:
            return self._path(relative).open("rb")
        except FileNotFoundError:
            raise RecordingError(f"recording {relative} is missing") from None
        except OSError as exc:
            raise _unreadable(relative, exc) from exc

    def delete(self, relative: str) -> bool:
        path = self._path(relative)
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

    def _path(self, relative: str) -> Path:
        # The one place that refuses paths leaving the recordings directory.
        return self._files.local_path(relative)


def _unreadable(relative: str, exc: OSError) -> RecordingError:
    return RecordingError(f"cannot read recording {relative}: {exc.strerror or exc}")
