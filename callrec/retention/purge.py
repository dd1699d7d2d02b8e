"""The purge: deletes what has outlived its retention, and nothing that is held.

Crash safety rests on one rule: a recording file is only ever unlinked while its row
carries a durable mark (``recording_purge_started_at``), and the mark is replaced by
``recording_deleted_at`` only after the unlink. So whenever the process dies:

- before the mark is committed: nothing happened;
- between mark and unlink, or mid-batch: the next run finds marked rows first and, under
  the purge lock, settles each one by looking at the disk: file gone -> recorded as
  deleted; file still there -> mark cleared, and the row is judged afresh;
- after the unlink and before the row update: the same recovery records the deletion
  (and destroys the recording's data key, with encryption on, if the run died before it).

A history row is deleted only when it has no live recording, so its file always goes
first, by the same protocol. Every step is idempotent, so a re-run converges.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from callrec.domain.services import Retention
from callrec.errors import CallrecError, RecordingError
from callrec.retention.orphans import scan_files
from callrec.retention.ports import CallCandidate, Progress, PurgeStore, RecordingStore
from callrec.retention.report import HeldBack, PurgeReport, ServiceTally
from callrec.retention.rules import HoldReason, hold_reasons, is_expired, scan_cutoff

BATCH_SIZE = 1000
# Day directories younger than this are left alone even when empty: Asterisk may be about
# to write into today's.
DIR_PRUNE_AGE = timedelta(days=2)


@dataclass(frozen=True)
class ServicePolicy:
    recording: Retention
    history: Retention


@dataclass(frozen=True)
class PurgePolicy:
    services: Mapping[str, ServicePolicy]
    zone: ZoneInfo
    orphan_grace: Retention


class Purger:
    """One purge run per :meth:`run`; holds no state between runs."""

    def __init__(self, store: PurgeStore, files: RecordingStore, policy: PurgePolicy, *,
                 clock: Callable[[], datetime], progress: Progress,
                 batch_size: int = BATCH_SIZE) -> None:
        self._store = store
        self._files = files
        self._policy = policy
        self._clock = clock
        self._progress = progress
        self._batch = batch_size

    def run(self, report: PurgeReport) -> PurgeReport:
        """Fill in ``report``; a dry run changes no call row and no file."""
        if report.dry_run:
            # Reads only: no lock, so it works while the nightly purge runs.
            return self._run(report)
        with self._store.purge_lock() as acquired:
            if acquired:
                return self._run(report)
            report.locked_by = self._store.running_purges()
            report.finish(self._clock(), "skipped")
            self._store.finish_run(report)
            return report

    def _run(self, report: PurgeReport) -> PurgeReport:
        report.run_id = self._store.start_run(report)
        try:
            self._run_steps(report)
        except CallrecError as exc:
            report.note_problem(f"run failed: {exc}")
            report.finish(self._clock(), "failed")
            self._record_failure(report)
            raise
        report.finish(self._clock(), "completed")
        self._store.finish_run(report)
        return report

    def _record_failure(self, report: PurgeReport) -> None:
        # The database is what failed, most likely: the run then stays 'running' there and
        # the next run marks it interrupted; the log line still tells the story.
        with suppress(CallrecError):
            self._store.finish_run(report)

    def _run_steps(self, report: PurgeReport) -> None:
        if not report.dry_run:
            report.interrupted_runs = self._store.mark_interrupted(except_run=report.run_id or 0)
            self._recover(report)
        open_numbers = self._store.open_request_numbers()
        self._progress.start(self._expected(report.evaluated_at))
        try:
            for name, policy in self._policy.services.items():
                tally = ServiceTally(str(policy.recording), str(policy.history))
                report.services[name] = tally
                job = _ServiceJob(self._store, self._policy.zone, self._batch,
                                  self.delete_recordings, report, name, policy, tally,
                                  open_numbers)
                job.purge_recordings()
                job.purge_history()
        finally:
            self._progress.finish()
        report.unconfigured_services = self._store.unconfigured_services(self._policy.services)
        scan_files(self._files, self._store, self._policy, report, self._batch, self._clock())
        if not report.dry_run:
            oldest_kept = (self._clock() - DIR_PRUNE_AGE).strftime("%Y/%m/%d")
            report.files.empty_dirs_removed = self._files.prune_empty_dirs(oldest_kept)

    def _expected(self, now: datetime) -> int:
        total = 0
        for name, policy in self._policy.services.items():
            cutoff = scan_cutoff(policy.recording, self._policy.zone, now)
            if cutoff is not None:
                total += self._store.count_live_recordings(name, cutoff)
        return total

    def _recover(self, report: PurgeReport) -> None:
        """Settle rows a killed run left marked (we hold the lock: nobody else is live)."""
        after: str | None = None
        while batch := self._store.pending(after, self._batch):
            after = batch[-1].call_id
            gone: list[str] = []
            present: list[str] = []
            for row in batch:
                try:
                    exists = row.recording_path is not None and \
                        self._files.size(row.recording_path) is not None
                except RecordingError as exc:
                    report.note_problem(f"call {row.call_id}: {exc}")
                    exists = True
                (present if exists else gone).append(row.call_id)
                if not exists and row.recording_path is not None:
                    # Killed between the unlink and the key's destruction, maybe.
                    self._files.forget(row.recording_path)
            self._store.finish_deleted(gone, self._clock())
            self._store.release(present)
            report.recovered_completed += len(gone)
            report.recovered_rolled_back += len(present)

    def delete_recordings(self, rows: Sequence[CallCandidate], tally: ServiceTally,
                          held: HeldBack, report: PurgeReport) -> set[str]:
        """Delete the files of ``rows`` (mark, unlink, record); the ids now without a file."""
        if not rows:
            return set()
        if report.dry_run:
            return self._count_would_delete(rows, tally, report)
        claimed = self._store.claim([row.call_id for row in rows], self._clock())
        done: list[str] = []
        failed: list[str] = []
        for row in rows:
            if row.call_id not in claimed:
                held.add((HoldReason.CHANGED_DURING_RUN,))
                continue
            try:
                size = self._files.delete(row.recording_path or "")
            except RecordingError as exc:
                tally.errors += 1
                report.note_problem(f"call {row.call_id}: {exc}")
                failed.append(row.call_id)
                continue
            self._count_deleted(row, size, tally, report)
            done.append(row.call_id)
        self._store.finish_deleted(done, self._clock())
        self._store.release(failed)
        self._progress.advance(len(rows))
        return set(done)

    def _count_would_delete(self, rows: Sequence[CallCandidate], tally: ServiceTally,
                            report: PurgeReport) -> set[str]:
        for row in rows:
            try:
                size = self._files.size(row.recording_path or "")
            except RecordingError as exc:
                tally.errors += 1
                report.note_problem(f"call {row.call_id}: {exc}")
                continue
            self._count_deleted(row, size, tally, report)
        self._progress.advance(len(rows))
        return {row.call_id for row in rows}

    @staticmethod
    def _count_deleted(row: CallCandidate, size: int | None, tally: ServiceTally,
                       report: PurgeReport) -> None:
        tally.recordings_deleted += 1
        if size is None:
            tally.missing_files += 1
            report.note_missing(row.call_id)
        else:
            tally.bytes_freed += size


@dataclass
class _ServiceJob:
    """The two passes over one service's rows: recordings, then history."""

    store: PurgeStore
    zone: ZoneInfo
    batch_size: int
    delete: Callable[[Sequence[CallCandidate], ServiceTally, HeldBack, PurgeReport], set[str]]
    report: PurgeReport
    service: str
    policy: ServicePolicy
    tally: ServiceTally
    open_numbers: frozenset[str]

    def purge_recordings(self) -> None:
        keep = self.policy.recording
        cutoff = scan_cutoff(keep, self.zone, self.report.evaluated_at)
        if cutoff is None:
            return
        after: tuple[datetime, str] | None = None
        while batch := self.store.live_recordings(self.service, cutoff, after,
                                                  self.batch_size):
            after = (batch[-1].started_at, batch[-1].call_id)
            due = self._due(batch, keep, self.tally.held_recordings)
            self.delete(due, self.tally, self.tally.held_recordings, self.report)

    def purge_history(self) -> None:
        keep = self.policy.history
        cutoff = scan_cutoff(keep, self.zone, self.report.evaluated_at)
        if cutoff is None:
            return
        after: tuple[datetime, str] | None = None
        while batch := self.store.history_rows(self.service, cutoff, after, self.batch_size):
            after = (batch[-1].started_at, batch[-1].call_id)
            due = self._due(batch, keep, self.tally.held_history)
            live = [row for row in due if row.recording_live]
            if self.report.dry_run:
                # The recording pass already counted those whose recordings expired too.
                live = [row for row in live if not self._expired(row, self.policy.recording)]
            gone = self.delete(live, self.tally, self.tally.held_history, self.report)
            ids = [row.call_id for row in due if not row.recording_live or
                   row.call_id in gone or self.report.dry_run]
            self._delete_rows(ids)

    def _delete_rows(self, ids: list[str]) -> None:
        if self.report.dry_run:
            self.tally.history_deleted += len(ids)
            return
        deleted = self.store.delete_rows(ids) if ids else 0
        self.tally.history_deleted += deleted
        for _ in range(len(ids) - deleted):
            self.tally.held_history.add((HoldReason.CHANGED_DURING_RUN,))

    def _due(self, batch: Sequence[CallCandidate], keep: Retention,
             held: HeldBack) -> list[CallCandidate]:
        due = []
        for row in batch:
            if not self._expired(row, keep):
                continue
            reasons = hold_reasons(
                restricted=row.restricted, legal_hold=row.legal_hold,
                open_request=row.caller_number is not None and
                row.caller_number in self.open_numbers)
            if reasons:
                held.add(reasons)
            else:
                due.append(row)
        return due

    def _expired(self, row: CallCandidate, keep: Retention) -> bool:
        return is_expired(row.started_at, keep, self.zone, self.report.evaluated_at)
