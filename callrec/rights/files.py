"""Recordings on the local disk as the rights module sees them: read (plaintext, whether
the file is sealed or not), delete, destroy keys, make deletions durable
(:class:`callrec.rights.ports.RecordingArchive`)."""

from __future__ import annotations

import os
from contextlib import closing
from pathlib import Path
from typing import BinaryIO

from callrec.errors import RecordingError
from callrec.recordings.audio import as_file, size_and_sha256
from callrec.recordings.files import RecordingFiles
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
            with closing(self._files.open_audio(relative)) as audio:
                return RecordingContent(*size_and_sha256(audio))
        except RecordingError:
            if not path.exists():
                return None   # deleted since the check: missing all the same
            raise

    def open(self, relative: str) -> BinaryIO:
        """The plaintext: the data subject gets the audio, not the ciphertext."""
        return as_file(self._files.open_audio(relative))

    def delete(self, relative: str) -> bool:
        """Unlink, then destroy the data key (again on a re-run: idempotent)."""
        path = self._path(relative)
        try:
            path.unlink()
        except FileNotFoundError:
            self._files.destroy_key(relative)
            return False
        except OSError as exc:
            raise RecordingError(f"cannot delete recording {relative}: {exc.strerror}") from exc
        self._touched.add(path.parent)
        self._files.destroy_key(relative)
        return True

    def forget_subject(self, subject: str) -> None:
        self._files.destroy_subject_key(subject)

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
