"""``callrec purge``: apply the retention periods (run nightly by callrec-purge.timer)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

import structlog

from callrec.commands.actor import current_actor
from callrec.commands.options import parse_instant
from callrec.config import Config, load_config
from callrec.logs import configure_logging
from callrec.recordings.configured import vault_for
from callrec.retention.files import LocalRecordings
from callrec.retention.ports import NoProgress, Progress, RecordingStore
from callrec.retention.purge import PurgePolicy, Purger, ServicePolicy
from callrec.retention.report import PurgeReport
from callrec.storage.db import Database
from callrec.storage.migrate import require_current
from callrec.storage.purge_dao import SqlPurgeStore

PROGRESS_MIN_TOTAL = 1000   # below this a purge is over before a bar is worth drawing


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "purge", help="delete recordings and history whose retention has passed",
        description="Delete each recording once its service's recording_retention has "
                    "passed since the call started, and history rows when the service sets "
                    "a history_retention. Restricted calls, calls on legal hold and calls "
                    "of callers with an open data-subject request are kept. Also reports "
                    "(and after [retention] orphan_grace deletes) files no row refers to. "
                    "Safe to interrupt and to re-run; concurrent runs skip.")
    parser.add_argument("--dry-run", action="store_true",
                        help="report what would be deleted; change no call row and no file")
    parser.add_argument("--now", metavar="ISO",
                        help="evaluate retention at this instant instead of the current time "
                             "(ISO 8601; without an offset: UTC)")
    parser.add_argument("--json", action="store_true", help="print one JSON summary object")
    parser.set_defaults(handler=run)


# Builds the recordings adapter from the configuration. A parameter of run() so that the
# crash tests can pass one whose deletions kill the process (tests/support/sigkill_after.py).
RecordingsFactory = Callable[[Config], RecordingStore]


def local_recordings(config: Config) -> RecordingStore:
    # With [encryption] on, a deleted recording's data key is destroyed with it.
    return LocalRecordings(config.recordings.local_dir, vault_for(config))


def run(args: argparse.Namespace, make_recordings: RecordingsFactory = local_recordings) -> int:
    now = None if args.now is None else parse_now(args.now)
    config = load_config(args.config)
    configure_logging(config.log_level)
    started = datetime.now(UTC)
    report = PurgeReport(evaluated_at=now or started, started_at=started,
                         dry_run=args.dry_run, actor=current_actor(),
                         host=socket.gethostname(), pid=os.getpid())
    database = Database.open(config.database_url)
    try:
        require_current(database)
        purger = Purger(SqlPurgeStore(database), make_recordings(config), policy(config),
                        clock=lambda: datetime.now(UTC), progress=progress_for(sys.stderr))
        purger.run(report)
    finally:
        _log(report)
        database.dispose()
    print(json.dumps(report.to_json(), indent=2) if args.json else format_report(report))
    return 1 if report.errors else 0


def parse_now(text: str) -> datetime:
    return parse_instant("--now", text, UTC, "2026-11-24T03:00:00+02:00")


def policy(config: Config) -> PurgePolicy:
    return PurgePolicy(
        services={name: ServicePolicy(service.recording_retention, service.history_retention)
                  for name, service in config.services.items()},
        zone=config.timezone, orphan_grace=config.retention.orphan_grace)


def _log(report: PurgeReport) -> None:
    log = structlog.get_logger("callrec.purge")
    event = "purge skipped: another purge holds the lock" if report.status == "skipped" \
        else "purge finished"
    log.info(event, run_id=report.run_id, status=report.status, dry_run=report.dry_run,
             actor=report.actor, host=report.host, evaluated_at=report.evaluated_at.isoformat(),
             elapsed_seconds=report.elapsed, **report.totals())


def format_report(report: PurgeReport) -> str:
    verb = "would delete" if report.dry_run else "deleted"
    lines = [f"callrec purge: {report.status}{' (dry run)' if report.dry_run else ''}, "
             f"run {report.run_id}, {report.elapsed:.1f} s, retention evaluated at "
             f"{report.evaluated_at.isoformat()}"]
    if report.status == "skipped":
        lines.append("another purge is running, nothing done: " +
                     ("; ".join(report.locked_by) or "holder unknown"))
        return "\n".join(lines)
    for name, tally in report.services.items():
        held = tally.held_recordings.to_json()
        lines.append(
            f"  {name} (recordings {tally.recording_retention}, history "
            f"{tally.history_retention}): {verb} {tally.recordings_deleted} recordings "
            f"({_size(tally.bytes_freed)}) and {tally.history_deleted} history rows; "
            f"{tally.missing_files} files already missing; held back "
            f"{tally.held_back} (restricted {held['restricted']}, legal hold "
            f"{held['legal_hold']}, open request {held['open_request']}, changed during "
            f"run {held['changed_during_run']})")
    lines += _file_lines(report, verb)
    return "\n".join(lines)


def _file_lines(report: PurgeReport, verb: str) -> list[str]:
    files = report.files
    lines = [f"  orphan files: {files.orphans_found} found, {verb} {files.orphans_deleted} "
             f"({_size(files.orphan_bytes_freed)}), {files.orphans_within_grace} kept "
             f"within the grace period; unrecognised files left alone: {files.unrecognised}"]
    if files.failopen_files:
        lines.append(f"  fail-open recordings kept for review: {files.failopen_files} "
                     f"({_size(files.failopen_bytes)}), oldest written "
                     f"{files.failopen_oldest.isoformat() if files.failopen_oldest else '?'}")
    if report.recovered_completed or report.recovered_rolled_back:
        lines.append(f"  finished an interrupted purge: {report.recovered_completed} "
                     f"deletions recorded, {report.recovered_rolled_back} marks cleared")
    for service, rows in report.unconfigured_services.items():
        lines.append(f"  service {service!r} is not configured: {rows} recordings kept")
    if report.missing:
        lines.append("  calls whose file was already missing: " + ", ".join(report.missing))
    lines += [f"  problem: {problem}" for problem in report.problems]
    return lines


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} B"
    scaled, unit = count / 1000, "kB"
    for bigger in ("MB", "GB"):
        if scaled < 1000:
            break
        scaled, unit = scaled / 1000, bigger
    return f"{scaled:.1f} {unit}"


def progress_for(stream: TextIO) -> Progress:
    return TerminalProgress(stream) if stream.isatty() else NoProgress()


class TerminalProgress:
    """A one-line bar on a terminal, redrawn at most five times a second."""

    def __init__(self, stream: TextIO, width: int = 40) -> None:
        self._stream = stream
        self._width = width
        self._total = 0
        self._done = 0
        self._drawn_at = 0.0

    def start(self, total: int) -> None:
        self._total = total if total >= PROGRESS_MIN_TOTAL else 0

    def advance(self, count: int) -> None:
        self._done += count
        if self._total and time.monotonic() - self._drawn_at >= 0.2:
            self._draw()

    def finish(self) -> None:
        if self._total:
            self._done = max(self._done, self._total)
            self._draw()
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self) -> None:
        self._drawn_at = time.monotonic()
        share = min(1.0, self._done / self._total)
        filled = int(share * self._width)
        self._stream.write(f"\rpurging [{'#' * filled}{'.' * (self._width - filled)}] "
                           f"{share:4.0%} {self._done}/{self._total}")
        self._stream.flush()
