"""The recordings directory against the database: orphans, fail-open files, strangers.

The rule (docs/retention.md):

- ``YYYY/MM/DD/<call id>.wav`` is ours. If a row with that id has that path and its
  recording is live, the file is known. Otherwise it is an orphan (a failed call, a row
  erased or purged while its file survived): reported, and deleted once it is older than
  ``[retention] orphan_grace`` by its modification time. The grace protects a call being
  set up, whose file may appear a moment before its row has the path.
- ``failopen/<uniqueid>.wav`` was recorded by Asterisk alone while callrec was down; it
  has no row and no known service, so no retention to apply: it is reported (count,
  bytes, oldest) and kept for an admin to file or delete.
- Anything else (other names, symlinks, devices) is reported and never touched.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from callrec.errors import RecordingError
from callrec.retention.ports import PurgeStore, RecordingStore, StoredFile
from callrec.retention.report import PurgeReport
from callrec.retention.rules import FileKind, classify, orphan_deletable

if TYPE_CHECKING:
    from callrec.retention.purge import PurgePolicy


def scan_files(files: RecordingStore, store: PurgeStore, policy: PurgePolicy,
               report: PurgeReport, batch_size: int, wall_now: datetime) -> None:
    """Walk the directory once; look ids up in batches, so memory stays flat.

    The grace counts from ``wall_now``, the real time, never from ``--now``: it protects
    files being written right now, whatever instant retention is evaluated at.
    """
    batch: list[tuple[StoredFile, str]] = []
    for stored in files.walk():
        name = classify(stored.path)
        if not stored.regular or name.kind is FileKind.OTHER:
            report.files.unrecognised += 1
        elif name.kind is FileKind.FAILOPEN:
            report.files.saw_failopen(stored.size, stored.modified_at)
        else:
            batch.append((stored, name.call_id or ""))
            if len(batch) >= batch_size:
                _settle(batch, files, store, policy, report, wall_now)
                batch = []
    _settle(batch, files, store, policy, report, wall_now)


def _settle(batch: list[tuple[StoredFile, str]], files: RecordingStore, store: PurgeStore,
            policy: PurgePolicy, report: PurgeReport, wall_now: datetime) -> None:
    if not batch:
        return
    known = store.known_recordings([call_id for _, call_id in batch])
    tally = report.files
    for stored, call_id in batch:
        if known.get(call_id) == stored.path:
            continue
        tally.orphans_found += 1
        if not orphan_deletable(stored.modified_at, policy.orphan_grace, policy.zone,
                                wall_now):
            tally.orphans_within_grace += 1
            continue
        if report.dry_run:
            tally.orphans_deleted += 1
            tally.orphan_bytes_freed += stored.size
            continue
        try:
            size = files.delete(stored.path)
        except RecordingError as exc:
            report.note_problem(f"orphan {stored.path}: {exc}")
            continue
        tally.orphans_deleted += 1
        tally.orphan_bytes_freed += size or 0
