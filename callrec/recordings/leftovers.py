"""Sealing the plaintext recordings nobody sealed: left by a crash, a failed seal, a
fail-open call, or an archive from before encryption was turned on.

``callrec serve`` runs this in the background at start, ``callrec recordings encrypt``
in the foreground over the whole directory. A file is sealed only when nobody can still
be writing it: not modified for :data:`QUIET` (MixMonitor writes every few tens of
milliseconds while a call lasts), and, for a call's file, its row is finished (the call
path seals a finished call's file itself, before it writes the end: a row still open
belongs to a live call or to one the call path is about to finish, and measure).

Whose key: a call's file is sealed under its row's caller (E.164), or ``call:<id>`` for
a withheld number or a file no row knows; a fail-open file, which no row knows yet,
under ``file:<name>``.

Each seal is atomic and idempotent (:meth:`callrec.crypto.vault.RecordingVault.seal`), so
a run killed anywhere, run again, seals the rest and leaves every file readable once.
Each sealed file is read back: the decrypted audio must hash as the plaintext did, and a
plaintext that no longer hashes as the history says is reported (and still sealed:
what is kept is what there is).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Protocol

import structlog

from callrec.domain.history import CallRecord
from callrec.errors import CallrecError, RecordingError
from callrec.recordings.audio import size_and_sha256
from callrec.recordings.files import RecordingFiles
from callrec.retention.ports import NoProgress, Progress, StoredFile
from callrec.retention.rules import FileKind, classify

QUIET = timedelta(minutes=10)
_PROBLEMS_KEPT = 100


class CallLookup(Protocol):
    def get(self, call_id: str) -> CallRecord | None: ...


class FileWalk(Protocol):
    def walk(self) -> Iterator[StoredFile]: ...


@dataclass
class SealReport:
    sealed: int = 0
    already_sealed: int = 0
    in_progress: int = 0          # a live call's file, or one written too recently
    unrecognised: int = 0         # not a recording name: left alone
    failed: int = 0
    moved_from_in_progress: int = 0   # a crash's files, out of [recordings] in_progress_dir
    changed_since_hangup: list[str] = field(default_factory=list)  # sealed, hash differs
    problems: list[str] = field(default_factory=list)

    def note_problem(self, text: str) -> None:
        self.failed += 1
        if len(self.problems) < _PROBLEMS_KEPT:
            self.problems.append(text)

    def to_json(self) -> dict[str, object]:
        return {"sealed": self.sealed, "already_sealed": self.already_sealed,
                "in_progress": self.in_progress, "unrecognised": self.unrecognised,
                "failed": self.failed, "moved_from_in_progress": self.moved_from_in_progress,
                "changed_since_hangup": self.changed_since_hangup,
                "problems": self.problems}


@dataclass(frozen=True)
class Leftover:
    path: str
    subject: str
    sha256: str | None            # what the history says, when it knows the file


def seal_leftovers(files: RecordingFiles, walk: FileWalk, calls: CallLookup,
                   wall_now: datetime, progress: Progress,
                   stop: Callable[[], bool] = lambda: False) -> SealReport:
    """Seal every plaintext recording nobody writes any more; see the module docstring."""
    report = SealReport()
    report.moved_from_in_progress = files.settle_in_progress(QUIET)
    candidates = list(walk.walk())
    progress.start(len(candidates))
    try:
        for stored in candidates:
            if stop():
                break
            _settle(files, stored, calls, wall_now, report)
            progress.advance(1)
    finally:
        progress.finish()
    return report


def _settle(files: RecordingFiles, stored: StoredFile, calls: CallLookup,
            wall_now: datetime, report: SealReport) -> None:
    try:
        leftover = _leftover(files, stored, calls, wall_now, report)
        if leftover is not None:
            seal_verified(files, leftover, report)
    except CallrecError as exc:
        report.note_problem(f"{stored.path}: {exc}")


def _leftover(files: RecordingFiles, stored: StoredFile, calls: CallLookup,
              wall_now: datetime, report: SealReport) -> Leftover | None:
    """What to seal ``stored`` as, or None (counted in the report) when it stays."""
    name = classify(stored.path)
    if not stored.regular or name.kind is FileKind.OTHER:
        report.unrecognised += 1
        return None
    if files.is_sealed(stored.path):
        report.already_sealed += 1
        return None
    if wall_now - stored.modified_at < QUIET:
        report.in_progress += 1
        return None
    if name.kind is FileKind.FAILOPEN:
        return Leftover(stored.path, f"file:{PurePosixPath(stored.path).name}", None)
    call_id = name.call_id or ""
    row = calls.get(call_id)
    if row is None or row.recording_path != stored.path:
        return Leftover(stored.path, f"call:{call_id}", None)   # an orphan: no row's file
    if row.ended_at is None:
        report.in_progress += 1
        return None
    return Leftover(stored.path, row.caller_number or f"call:{call_id}",
                    row.recording_sha256)


def seal_verified(files: RecordingFiles, leftover: Leftover, report: SealReport) -> None:
    with closing(files.open_audio(leftover.path)) as plain:
        _, plain_sha256 = size_and_sha256(plain)
    if files.seal(leftover.path, leftover.subject):
        report.sealed += 1
    else:
        report.already_sealed += 1   # sealed meanwhile by someone else
    with closing(files.open_audio(leftover.path)) as audio:
        _, sealed_sha256 = size_and_sha256(audio)
    if sealed_sha256 != plain_sha256:
        raise RecordingError(f"the sealed file does not decrypt to the plaintext it was "
                             f"made of (SHA-256 {sealed_sha256} != {plain_sha256})")
    if leftover.sha256 is not None and leftover.sha256 != plain_sha256:
        report.changed_since_hangup.append(leftover.path)


@asynccontextmanager
async def sealing_leftovers(files: RecordingFiles, walk: FileWalk, calls: CallLookup,
                            clock: Callable[[], datetime]) -> AsyncIterator[None]:
    """While the body runs, seal the leftovers in a thread of their own (calls go on);
    on exit, stop between two files and wait for that one. Without a vault, only what
    a crash left in the in-progress directory is moved into the recordings directory."""
    if not files.encrypted:
        moved = await asyncio.to_thread(files.settle_in_progress, QUIET)
        if moved:
            structlog.get_logger("callrec.recordings").info("in_progress_files_moved",
                                                            moved=moved)
        yield
        return
    stop = threading.Event()
    sealing = asyncio.create_task(_seal_and_log(files, walk, calls, clock(), stop),
                                  name="seal-leftovers")
    try:
        yield
    finally:
        stop.set()
        await sealing


async def _seal_and_log(files: RecordingFiles, walk: FileWalk, calls: CallLookup,
                        wall_now: datetime, stop: threading.Event) -> None:
    log = structlog.get_logger("callrec.recordings")
    try:
        report = await asyncio.to_thread(seal_leftovers, files, walk, calls, wall_now,
                                         NoProgress(), stop.is_set)
    except CallrecError as exc:    # the directory could not even be listed
        log.error("leftovers_not_sealed", error=str(exc))
        return
    (log.error if report.failed else log.info)("leftovers_sealed", **report.to_json())
