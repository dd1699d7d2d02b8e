"""``callrec calls``: list contact-history rows, newest first, as a table or as JSON.

Caller ids and names are whatever the trunk delivered, so before they reach a terminal
every control character is shown escaped: a caller must not be able to move the cursor,
recolour the screen or fake table rows through an admin's terminal.
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from callrec.commands.options import parse_instant
from callrec.config import load_config
from callrec.domain.history import CallRecord
from callrec.domain.numbers import parse_subject_number
from callrec.errors import InputError
from callrec.pause.model import Pause, pause_json
from callrec.storage.db import Database
from callrec.storage.history_dao import MAX_SEARCH_LIMIT, SqlContactHistory
from callrec.storage.migrate import require_current
from callrec.storage.pauses_dao import SqlPauses

DEFAULT_LIMIT = 100
MAX_CELL_WIDTH = 32
ELLIPSIS = "…"
_COLUMNS = ("started", "caller", "service", "queue", "agent", "outcome", "duration")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calls", help="list calls from the contact history",
        description="List calls from the contact history, newest first.")
    parser.add_argument("--json", action="store_true", help="print one JSON array")
    parser.add_argument("--number", metavar="N",
                        help="only calls from this caller number (e.g. 040 123 4567)")
    parser.add_argument("--since", metavar="ISO",
                        help="only calls started at or after this time (ISO 8601; "
                             "without an offset: UTC)")
    parser.add_argument("--limit", metavar="N", default=str(DEFAULT_LIMIT),
                        help=f"at most this many calls, 1-{MAX_SEARCH_LIMIT} "
                             f"(default {DEFAULT_LIMIT})")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    number = None if args.number is None else parse_subject_number(args.number,
                                                                   config.default_region)
    since = None if args.since is None else parse_since(args.since)
    limit = parse_limit(args.limit)
    database = Database.open(config.database_url)
    try:
        require_current(database)
        records = SqlContactHistory(database).search(number=number, since=since, limit=limit)
        # One query for the whole page (batched IN lists), not one per call.
        pauses = SqlPauses(database).of_calls(r.id for r in records) if args.json else {}
    finally:
        database.dispose()
    if args.json:
        print(json.dumps([record_to_json(record, pauses.get(record.id, []))
                          for record in records], indent=2))
    elif records:
        print(format_table(records, config.timezone))
    else:
        print("no calls found")
    return 0


def parse_since(text: str) -> datetime:
    return parse_instant("--since", text, UTC, "2026-11-24 or 2026-11-24T08:00:00+02:00")


def parse_limit(text: str) -> int:
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise InputError(f"--limit {text!r} is not a whole number 1-{MAX_SEARCH_LIMIT}")
    return limit


def record_to_json(record: CallRecord, pauses: list[Pause] | None = None) -> dict[str, Any]:
    """Every stored field; datetimes as ISO 8601 UTC; the caller's name as ``caller_name``;
    with ``pauses`` given, the recording's pauses, oldest first (the file is silence over
    each); without, no ``pauses`` key (a caller that did not look them up claims none)."""
    fields = asdict(record)
    fields["caller_name"] = fields.pop("caller_name_raw")
    for key, value in fields.items():
        if isinstance(value, datetime):
            fields[key] = value.astimezone(UTC).isoformat()
    fields["outcome"] = None if record.outcome is None else record.outcome.value
    if pauses is not None:
        fields["pauses"] = [pause_json(pause) for pause in pauses]
    return fields


def format_table(records: list[CallRecord], zone: ZoneInfo) -> str:
    rows = [_COLUMNS, *(_table_row(record, zone) for record in records)]
    widths = [max(display_width(row[index]) for row in rows) for index in range(len(_COLUMNS))]
    lines = ["  ".join(_pad(cell, width) for cell, width in zip(row, widths, strict=True))
             .rstrip() for row in rows]
    return "\n".join(lines)


def _table_row(record: CallRecord, zone: ZoneInfo) -> tuple[str, ...]:
    return (
        record.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
        _caller(record),
        terminal_safe(record.service),
        terminal_safe(record.queue),
        terminal_safe(record.agent or "-"),
        record.outcome.value if record.outcome else "in progress",
        _duration(record),
    )


def _caller(record: CallRecord) -> str:
    if record.caller_withheld:
        return "withheld"
    if record.caller_number:
        return record.caller_number
    return terminal_safe(record.caller_number_raw or "?")


def _duration(record: CallRecord) -> str:
    if record.ended_at is None:
        return "-"
    seconds = max(0, round((record.ended_at - record.started_at).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" + ("~" if record.end_estimated else "")


def terminal_safe(text: str, limit: int = MAX_CELL_WIDTH) -> str:
    """Control and format characters escaped (ESC -> \\x1b); longer than ``limit``: cut, '…'."""
    shown = "".join(_escape(char) for char in text)
    if display_width(shown) <= limit:
        return shown
    cut = ""
    for char in shown:
        if display_width(cut + char) > limit - 1:
            break
        cut += char
    return cut + ELLIPSIS


def _escape(char: str) -> str:
    # Cc: C0/C1 controls incl. ESC; Cf: bidi overrides and invisible joiners that could
    # reorder or hide what is shown; Zl/Zp: line breaks in disguise.
    if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char


def display_width(text: str) -> int:
    """Terminal columns: wide East Asian characters take two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _pad(cell: str, width: int) -> str:
    return cell + " " * (width - display_width(cell))
