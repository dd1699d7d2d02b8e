"""What one purge run did: counted while it runs, then stored, logged and printed.

Nothing here holds caller data: call ids and generated file names only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from callrec.retention.rules import HoldReason

# Lists of ids/paths in a report are capped: the counts are exact, the lists are examples.
LIST_LIMIT = 100


@dataclass
class HeldBack:
    rows: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, reasons: tuple[HoldReason, ...]) -> None:
        self.rows += 1
        self.reasons.update(str(reason) for reason in reasons)

    def to_json(self) -> dict[str, Any]:
        return {"total": self.rows, **{str(reason): self.reasons[str(reason)]
                                       for reason in HoldReason}}


@dataclass
class ServiceTally:
    recording_retention: str
    history_retention: str
    recordings_deleted: int = 0
    bytes_freed: int = 0
    history_deleted: int = 0
    missing_files: int = 0
    errors: int = 0
    held_recordings: HeldBack = field(default_factory=HeldBack)
    held_history: HeldBack = field(default_factory=HeldBack)

    @property
    def held_back(self) -> int:
        return self.held_recordings.rows + self.held_history.rows

    def to_json(self) -> dict[str, Any]:
        return {
            "recording_retention": self.recording_retention,
            "history_retention": self.history_retention,
            "recordings_deleted": self.recordings_deleted,
            "bytes_freed": self.bytes_freed,
            "history_deleted": self.history_deleted,
            "missing_files": self.missing_files,
            "errors": self.errors,
            "held_back": {"recordings": self.held_recordings.to_json(),
                          "history": self.held_history.to_json()},
        }


@dataclass
class FileTally:
    orphans_found: int = 0
    orphans_deleted: int = 0
    orphans_within_grace: int = 0
    orphan_bytes_freed: int = 0
    failopen_files: int = 0
    failopen_bytes: int = 0
    failopen_oldest: datetime | None = None
    unrecognised: int = 0
    empty_dirs_removed: int = 0

    def saw_failopen(self, size: int, modified_at: datetime) -> None:
        self.failopen_files += 1
        self.failopen_bytes += size
        if self.failopen_oldest is None or modified_at < self.failopen_oldest:
            self.failopen_oldest = modified_at


@dataclass
class PurgeReport:
    evaluated_at: datetime
    started_at: datetime
    dry_run: bool
    actor: str
    host: str
    pid: int
    run_id: int | None = None
    status: str = "running"
    finished_at: datetime | None = None
    services: dict[str, ServiceTally] = field(default_factory=dict)
    files: FileTally = field(default_factory=FileTally)
    recovered_completed: int = 0
    recovered_rolled_back: int = 0
    interrupted_runs: int = 0
    unconfigured_services: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)        # call ids
    problems: list[str] = field(default_factory=list)
    locked_by: list[str] = field(default_factory=list)

    def note_missing(self, call_id: str) -> None:
        if len(self.missing) < LIST_LIMIT:
            self.missing.append(call_id)

    def note_problem(self, text: str) -> None:
        if len(self.problems) < LIST_LIMIT:
            self.problems.append(text)

    def finish(self, at: datetime, status: str) -> None:
        self.finished_at = at
        self.status = status

    @property
    def elapsed(self) -> float:
        end = self.finished_at or self.started_at
        return round((end - self.started_at).total_seconds(), 3)

    def total(self, name: str) -> int:
        return sum(int(getattr(tally, name)) for tally in self.services.values())

    @property
    def errors(self) -> int:
        return self.total("errors") + (1 if self.status == "failed" else 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "dry_run": self.dry_run,
            "evaluated_at": _iso(self.evaluated_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "elapsed_seconds": self.elapsed,
            "actor": self.actor,
            "host": self.host,
            "pid": self.pid,
            "totals": self.totals(),
            "services": {name: tally.to_json() for name, tally in self.services.items()},
            "recovered": {"completed": self.recovered_completed,
                          "rolled_back": self.recovered_rolled_back,
                          "interrupted_runs": self.interrupted_runs},
            "files": self._files_json(),
            "unconfigured_services": self.unconfigured_services,
            "missing_call_ids": self.missing,
            "problems": self.problems,
            "locked_by": self.locked_by,
        }

    def totals(self) -> dict[str, int]:
        return {
            "recordings_deleted": self.total("recordings_deleted"),
            "bytes_freed": self.total("bytes_freed") + self.files.orphan_bytes_freed,
            "history_deleted": self.total("history_deleted"),
            "held_back": self.total("held_back"),
            "missing_files": self.total("missing_files"),
            "orphans_found": self.files.orphans_found,
            "orphans_deleted": self.files.orphans_deleted,
            "errors": self.errors,
        }

    def _files_json(self) -> dict[str, Any]:
        files = self.files
        return {
            "orphans_found": files.orphans_found,
            "orphans_deleted": files.orphans_deleted,
            "orphans_within_grace": files.orphans_within_grace,
            "orphan_bytes_freed": files.orphan_bytes_freed,
            "failopen_files": files.failopen_files,
            "failopen_bytes": files.failopen_bytes,
            "failopen_oldest": _iso(files.failopen_oldest),
            "unrecognised_files": files.unrecognised,
            "empty_dirs_removed": files.empty_dirs_removed,
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()
