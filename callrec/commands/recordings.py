"""``callrec recordings encrypt``: seal an existing archive in place (the migration to
encryption at rest), and whatever plaintext a crash or a fail-open call left.

Safe to interrupt and to re-run: each file is sealed atomically (a temporary file beside
it, renamed over it once its key is in the key store), and a sealed file is skipped.
Guide: docs/encryption.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from callrec.config import Config, load_config
from callrec.logs import configure_logging
from callrec.recordings.configured import recording_files, require_encryption
from callrec.recordings.files import RecordingFiles
from callrec.recordings.leftovers import QUIET, SealReport, seal_leftovers
from callrec.retention.files import LocalRecordings
from callrec.retention.ports import Progress
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.migrate import require_current

LINE_EVERY_SECONDS = 10.0   # progress lines when stderr is not a terminal (a log, a pipe)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("recordings", help="recording files: encrypt an archive")
    actions = parser.add_subparsers(dest="recordings_action", metavar="ACTION",
                                    required=True)
    encrypt = actions.add_parser(
        "encrypt", help="seal every plaintext recording in place (resumable)",
        description="Seal every plaintext recording in the recordings directory with its "
                    "caller's key ([encryption] must be enabled). Files written in the last "
                    f"{int(QUIET.total_seconds() // 60)} minutes and files of calls still "
                    "in progress are left for the next run. Each sealed file is read back "
                    "and checked against the plaintext. Safe to interrupt and to re-run.")
    encrypt.add_argument("--json", action="store_true", help="print one JSON summary")
    encrypt.set_defaults(handler=run)


# Builds the recordings adapter from the configuration. A parameter of run() so that the
# crash tests can pass one whose seals kill the process (tests/support/sigkill_after.py).
FilesFactory = Callable[[Config], RecordingFiles]


def run(args: argparse.Namespace, make_files: FilesFactory = recording_files) -> int:
    config = load_config(args.config)
    configure_logging(config.log_level)
    require_encryption(config)
    database = Database.open(config.database_url)
    try:
        require_current(database)
        files = make_files(config)
        try:
            report = seal_leftovers(files, LocalRecordings(config.recordings.local_dir),
                                    SqlContactHistory(database), datetime.now(UTC),
                                    progress_for(sys.stderr))
        finally:
            files.close()
    finally:
        database.dispose()
    print(json.dumps(report.to_json(), indent=2) if args.json else format_report(report))
    return 1 if report.failed else 0


def format_report(report: SealReport) -> str:
    lines = [f"callrec recordings encrypt: sealed {report.sealed}, already sealed "
             f"{report.already_sealed}, left for later (in progress or written in the last "
             f"{int(QUIET.total_seconds() // 60)} minutes) {report.in_progress}, not "
             f"recordings (left alone) {report.unrecognised}, failed {report.failed}"]
    if report.moved_from_in_progress:
        lines.append(f"  moved out of the in-progress directory first (left by a crash): "
                     f"{report.moved_from_in_progress}")
    if report.changed_since_hangup:
        lines.append("  sealed, but no longer what the history's SHA-256 says (changed "
                     "since hangup: investigate): " + ", ".join(report.changed_since_hangup))
    lines += [f"  problem: {problem}" for problem in report.problems]
    if report.in_progress:
        lines.append("  run it again later for the files left")
    return "\n".join(lines)


def progress_for(stream: TextIO) -> Progress:
    return ProgressLine(stream, redraw=stream.isatty())


class ProgressLine:
    """On a terminal a bar redrawn in place (\\r) at most five times a second; elsewhere
    (a log file, a pipe) one plain line every ten seconds and one at the end."""

    def __init__(self, stream: TextIO, redraw: bool, width: int = 40) -> None:
        self._stream = stream
        self._redraw = redraw
        self._width = width
        self._total = 0
        self._done = 0
        self._shown_at = 0.0

    def start(self, total: int) -> None:
        self._total = total
        self._shown_at = time.monotonic()

    def advance(self, count: int) -> None:
        self._done += count
        pause = 0.2 if self._redraw else LINE_EVERY_SECONDS
        if time.monotonic() - self._shown_at >= pause:
            self._show()

    def finish(self) -> None:
        if self._total:
            self._show()
            if self._redraw:
                self._stream.write("\n")
                self._stream.flush()

    def _show(self) -> None:
        self._shown_at = time.monotonic()
        share = min(1.0, self._done / self._total) if self._total else 1.0
        counts = f"{share:4.0%} {self._done}/{self._total} files"
        if self._redraw:
            filled = int(share * self._width)
            self._stream.write(f"\rencrypting [{'#' * filled}{'.' * (self._width - filled)}]"
                               f" {counts}")
        else:
            self._stream.write(f"encrypting: {counts}\n")
        self._stream.flush()
