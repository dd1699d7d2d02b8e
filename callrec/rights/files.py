"""Recording files as the rights module sees them: find, delete, make deletions durable."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from callrec.errors import RecordingError
from callrec.recordings.files import RecordingFiles

# Test hook for the erasure protocol: SIGKILL this process right after deleting this many
# files (0: after planning, before the first). Lets a test kill an erasure midway for
# real; nobody sets it in production.
KILL_AFTER_ENV = "CALLREC_TEST_ERASE_KILL_AFTER"


class LocalRecordingArchive:
    """:class:`callrec.rights.ports.RecordingArchive` on the local recordings directory."""

    def __init__(self, files: RecordingFiles) -> None:
        self._files = files
        self._touched: set[Path] = set()
        self._deleted = 0
        hook = os.environ.get(KILL_AFTER_ENV)
        self._kill_after = int(hook) if hook and hook.isdigit() else None

    def path(self, relative: str) -> Path:
        return self._files.local_path(relative)

    def delete(self, relative: str) -> bool:
        self._maybe_die()
        path = self.path(relative)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise RecordingError(f"cannot delete recording {relative}: {exc.strerror}") from exc
        self._touched.add(path.parent)
        self._deleted += 1
        self._maybe_die()
        return True

    def sync(self) -> None:
        """fsync each directory a file left: a crash must not bring an erased file back
        after the database has recorded the erasure."""
        self._maybe_die()
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

    def _maybe_die(self) -> None:
        if self._kill_after is not None and self._deleted >= self._kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
