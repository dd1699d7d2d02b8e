"""What the purge needs from storage and from the recordings directory, as small ports.

:mod:`callrec.storage.purge_dao` implements :class:`PurgeStore` in SQL,
:mod:`callrec.retention.files` implements :class:`RecordingStore` on the local disk; the
tests drive the same service through both.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from callrec.retention.report import PurgeReport


@dataclass(frozen=True)
class CallCandidate:
    """A calls row the purge may act on, with what could hold it back."""

    call_id: str
    started_at: datetime
    recording_path: str | None
    recording_live: bool            # a file is supposed to exist (path set, not deleted)
    restricted: bool
    legal_hold: bool
    caller_number: str | None


@dataclass(frozen=True)
class StoredFile:
    path: str                       # relative to the recordings directory, '/'-separated
    size: int
    modified_at: datetime           # UTC
    regular: bool                   # False: a symlink, device, ... (never deleted)


class PurgeStore(Protocol):
    def purge_lock(self) -> AbstractContextManager[bool]:
        """Held for a whole run; yields False when another purge holds it."""

    def running_purges(self) -> list[str]:
        """Who holds the lock, as far as purge_runs tells ("host pid 123, since ...")."""

    def open_request_numbers(self) -> frozenset[str]: ...

    def live_recordings(self, service: str, before: datetime,
                        after: tuple[datetime, str] | None, limit: int
                        ) -> list[CallCandidate]:
        """Unclaimed rows with a live recording started before ``before``, in (started_at,
        id) order after the ``after`` key."""

    def history_rows(self, service: str, before: datetime,
                     after: tuple[datetime, str] | None, limit: int) -> list[CallCandidate]:
        """Every row of the service started before ``before``, same order and paging."""

    def count_live_recordings(self, service: str, before: datetime) -> int: ...

    def claim(self, call_ids: Collection[str], at: datetime) -> set[str]:
        """Mark rows as being purged, but only those still live and not held; the ids marked."""

    def finish_deleted(self, call_ids: Collection[str], at: datetime) -> None:
        """The files are gone: record the deletion and clear the marks."""

    def release(self, call_ids: Collection[str]) -> None:
        """Clear marks without deleting (the file could not be removed, or still exists)."""

    def pending(self, after: str | None, limit: int) -> list[CallCandidate]:
        """Rows still marked (by a run that died), in id order after ``after``."""

    def delete_rows(self, call_ids: Collection[str]) -> int:
        """Delete history rows that are not held and have no live recording; how many."""

    def known_recordings(self, call_ids: Collection[str]) -> Mapping[str, str]:
        """call id -> recording path, for rows whose recording is live (or being purged)."""

    def unconfigured_services(self, configured: Collection[str]) -> dict[str, int]:
        """Services in the history but not in the configuration: rows with live recordings."""

    def start_run(self, report: PurgeReport) -> int: ...

    def mark_interrupted(self, except_run: int) -> int:
        """Runs left 'running' by a killed purge become 'interrupted'; how many."""

    def finish_run(self, report: PurgeReport) -> None:
        """Store the run's outcome in purge_runs and the audit log, in one transaction."""


class RecordingStore(Protocol):
    def delete(self, path: str) -> int | None:
        """Remove one file; its size, or None when it was already missing.

        Raises RecordingError when it exists but cannot be removed, or is not a regular file.
        """

    def forget(self, path: str) -> None:
        """Destroy what could still open a deleted file's copies (its data key, with
        encryption on); idempotent. :meth:`delete` does it too."""

    def size(self, path: str) -> int | None:
        """The file's size; None when missing."""

    def walk(self) -> Iterator[StoredFile]:
        """Every file below the recordings directory, lazily."""

    def prune_empty_dirs(self, before_day: str) -> int:
        """Remove empty YYYY/MM/DD directories dated before ``before_day`` (YYYY/MM/DD)."""


class Progress(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def start(self, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def finish(self) -> None:
        pass
