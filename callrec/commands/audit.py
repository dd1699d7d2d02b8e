"""``callrec audit verify|list``: the access log of playbacks and downloads.

``verify`` walks the whole hash chain and prints its head: note the head somewhere else
(a ticket, a printout) and a later run also shows whether entries were cut off the end.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from callrec.access.chain import ChainedEntry, verify
from callrec.commands.access_common import format_rows, opened
from callrec.commands.calls import terminal_safe
from callrec.config import load_config
from callrec.errors import InputError
from callrec.storage.access_log_dao import SqlAccessLog
from callrec.web.api import entry_json
from callrec.web.params import valid_call_id

MAX_LIMIT = 100_000


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audit", help="the access log of recordings: verify, list",
        description="Check or show the access log: every playback and download of a "
                    "recording, hash-chained.")
    actions = parser.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    check = actions.add_parser("verify", help="check the hash chain of the access log")
    check.add_argument("--head", metavar="HASH",
                       help="fail unless the newest entry has this hash (noted earlier)")
    listing = actions.add_parser("list", help="show access-log entries, newest first")
    listing.add_argument("--call", metavar="ID", help="only this call")
    listing.add_argument("--user", metavar="NAME", help="only this user")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    listing.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return run_verify(args) if args.audit_action == "verify" else run_list(args)


def run_verify(args: argparse.Namespace) -> int:
    with opened(args) as database:
        report = verify(SqlAccessLog(database).chain())
    if not report.intact:
        print(f"access log BROKEN at entry {report.broken_at}: {report.problem}. "
              f"The {report.entries} entries before it are intact.")
        return 1
    print(f"access log intact: {report.entries} entries; head {report.head_seq} "
          f"{report.head_hash}")
    if args.head is not None and args.head != report.head_hash:
        print("but the head differs from the one given: entries were removed from the end "
              "or the log was rebuilt")
        return 1
    return 0


def run_list(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_LIMIT:
        raise InputError(f"--limit must be 1-{MAX_LIMIT}")
    if args.call is not None and not valid_call_id(args.call):
        raise InputError(f"--call {args.call!r} is not a call id (32 hexadecimal digits)")
    zone = load_config(args.config).timezone
    with opened(args) as database:
        entries = SqlAccessLog(database).entries(limit=args.limit, call_id=args.call,
                                                 username=args.user)
    if args.json:
        print(json.dumps([entry_json(entry) for entry in entries], indent=2,
                         ensure_ascii=False))
    elif entries:
        print(format_rows(("#", "time", "user", "role", "call", "action", "purpose", "client",
                           "note"), [_row(entry, zone) for entry in entries]))
    else:
        print("no access-log entries")
    return 0


def _row(entry: ChainedEntry, zone: Any) -> tuple[str, ...]:
    event = entry.event
    return (str(entry.seq), event.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            terminal_safe(event.username), event.role, event.call_id,
            terminal_safe(event.action), terminal_safe(event.purpose),
            terminal_safe(event.client), terminal_safe(event.note or "-"))
