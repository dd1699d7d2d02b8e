"""``callrec rights ...``: the data-protection officer's commands (GDPR art. 15-21).

Exit status: 0 done; 1 the database or a recording file failed; 2 bad input or a
precondition not met (malformed number, unknown call, missing request reference, a call
still in progress...) and nothing was changed; 3 not allowed (restricted data, not an
officer). Guide: docs/rights.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callrec.commands import rights_output as output
from callrec.commands.actor import current_actor
from callrec.commands.options import parse_instant
from callrec.config import Config, load_config
from callrec.domain.numbers import parse_subject_number
from callrec.errors import InputError
from callrec.recordings.configured import recording_files
from callrec.rights import erasure
from callrec.rights.bundle import ZipBundle
from callrec.rights.files import LocalRecordingArchive
from callrec.rights.model import RequestKind
from callrec.rights.ports import RecordingArchive
from callrec.rights.service import Actor, RightsService
from callrec.storage.db import Database
from callrec.storage.migrate import require_current
from callrec.storage.rights_dao import SqlRights

Handler = Callable[[argparse.Namespace, Config, RightsService], int]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rights", help="data-subject requests: find, export, rectify, erase, restrict...",
        description="Answer data-subject requests (GDPR art. 15-21). Every action names the "
                    "request it answers (--request REF) and is written to the audit log.")
    actions = parser.add_subparsers(dest="rights_action", metavar="ACTION", required=True)
    _add(actions, "find", run_find, "every call and recording of a caller",
         number=True, request=False, json=True)
    export = _add(actions, "export", run_export, "art. 15/20: a machine-readable zip bundle",
                  number=True)
    export.add_argument("--out", metavar="FILE.zip", required=True)
    export.add_argument("--kind", choices=("access", "portability"), default="access",
                        help="kind of a request registered now (default access)")
    export.add_argument("--force", action="store_true", help="overwrite --out")
    rectify = _add(actions, "rectify", run_rectify, "art. 16: correct a field of a call")
    rectify.add_argument("--call", metavar="ID", required=True)
    rectify.add_argument("--field", metavar="F", required=True,
                         help="caller_name, agent, outcome or language")
    rectify.add_argument("--value", metavar="V", required=True,
                         help="the correct value ('' = not known, for names)")
    rectify.add_argument("--reason", metavar="TEXT", required=True)
    erase = _add(actions, "erase", run_erase, "art. 17: erase a caller's calls and "
                 "recordings, or refuse with a justification", number=True)
    erase.add_argument("--call", metavar="ID", help="only this call of the caller")
    erase.add_argument("--refuse", action="store_true", help="record a refusal instead")
    erase.add_argument("--justification", metavar="TEXT", help="why (with --refuse)")
    _add(actions, "restrict", run_restrict, "art. 18: only store the caller's calls",
         number=True)
    _add(actions, "unrestrict", run_unrestrict, "lift a restriction", number=True)
    _add(actions, "object", run_object, "art. 21: exclude the caller from sampling, "
         "training and analytics", number=True)
    receive = _add(actions, "receive", run_receive, "register a request as it arrives",
                   number=True)
    receive.add_argument("--kind", choices=[kind.value for kind in RequestKind],
                         required=True)
    receive.add_argument("--received", metavar="ISO",
                         help="when it arrived (default now; no offset: local time)")
    close = _add(actions, "close", run_close, "answer a request no action answers")
    close.add_argument("--outcome", metavar="TEXT", required=True)
    close.add_argument("--refused", action="store_true", help="the request was refused")
    requests = _add(actions, "requests", run_requests, "the request register, by due date",
                    request=False, json=True)
    requests.add_argument("--overdue", action="store_true", help="only open, past due")
    parser.set_defaults(handler=run)


def _add(actions: Any, name: str, handler: Handler, help_text: str, *, number: bool = False,
         request: bool = True, json: bool = False) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text,
                                                         description=help_text)
    if number:
        parser.add_argument("--number", metavar="N", required=True,
                            help="the caller's number, e.g. +358 40 123 4567 or 0401234567")
    # Not required= for argparse: a missing reference gets the same one-line error as a
    # malformed one.
    parser.add_argument("--request", metavar="REF",
                        help="the request this answers" if request else "the request, if any")
    if json:
        parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(rights_handler=handler)
    return parser


# Builds the recordings adapter from the configuration. A parameter of run() so that the
# crash tests can pass one whose deletions kill the process (tests/support/sigkill_after.py).
ArchiveFactory = Callable[[Config], RecordingArchive]


def local_archive(config: Config) -> RecordingArchive:
    # With [encryption] on, the archive decrypts for exports and destroys keys on erasure.
    return LocalRecordingArchive(recording_files(config))


def run(args: argparse.Namespace, make_archive: ArchiveFactory = local_archive) -> int:
    config = load_config(args.config)
    handler: Handler = args.rights_handler
    with _service(config, make_archive) as service:
        return handler(args, config, service)


@contextmanager
def _service(config: Config, make_archive: ArchiveFactory) -> Iterator[RightsService]:
    database = Database.open(config.database_url)
    try:
        require_current(database)
        yield RightsService(SqlRights(database), make_archive(config),
                            Actor(current_actor(), config.rights_officers), config.timezone)
    finally:
        database.dispose()


def _number(args: argparse.Namespace, config: Config) -> str:
    return parse_subject_number(args.number, config.default_region)


def run_find(args: argparse.Namespace, config: Config, service: RightsService) -> int:
    found = service.find(_number(args, config), args.request)
    print(output.findings_json(found) if args.json else output.findings_text(found, config))
    return 0


def run_export(args: argparse.Namespace, config: Config, service: RightsService) -> int:
    number = _number(args, config)
    out = Path(args.out)
    result = service.export(number, args.request, ZipBundle(out, overwrite=args.force),
                            RequestKind(args.kind))
    print(output.export_text(out, result))
    return 0


def run_rectify(args: argparse.Namespace, config: Config, service: RightsService) -> int:
    correction = service.rectify(args.call, args.field, args.value, args.reason,
                                 args.request)
    print(f"call {correction.call_id}: {correction.field} corrected "
          f"(the old value is kept in the correction record)")
    return 0


def run_erase(args: argparse.Namespace, config: Config, service: RightsService) -> int:
    number = _number(args, config)
    if args.refuse:
        kept = erasure.refuse(service, number, args.request, args.justification, args.call)
        print(f"erasure refused and justified; {kept} calls kept")
        return 0
    if args.justification is not None:
        raise InputError("--justification goes with --refuse")
    tombstone, now = erasure.erase(service, number, args.request, args.call)
    state = "erased" if now else "already erased"
    print(f"{state}: {tombstone.calls_erased} calls, {tombstone.recordings_erased} "
          f"recordings (request {tombstone.request_reference})")
    return 0


def run_restrict(args: argparse.Namespace, config: Config, service: RightsService) -> int:
    count = service.restrict(_number(args, config), args.request)
    print(f"restricted: {count} calls (only stored; no purge, no playback, no export but "
          "by a data-protection officer)")
    return 0


def run_unrestrict(args: argparse.Namespace, config: Config, service: RightsService) -> int:
    count = service.restrict(_number(args, config), args.request, lift=True)
    print(f"restriction lifted: {count} calls")
    return 0


def run_object(args: argparse.Namespace, config: Config, service: RightsService) -> int:
    new = service.object(_number(args, config), args.request)
    print("objection recorded" if new else "this number had already objected")
    return 0


def run_receive(args: argparse.Namespace, config: Config, service: RightsService) -> int:
    received = None if args.received is None else parse_received(args.received, config)
    request = service.receive(args.request, RequestKind(args.kind), _number(args, config),
                              received)
    print(f"request {request.reference} registered, due "
          f"{output.local_date(request.due_at, config.timezone)}")
    return 0


def run_close(args: argparse.Namespace, config: Config, service: RightsService) -> int:
    request = service.close(args.request, args.outcome, args.refused)
    print(f"request {request.reference} {request.status.value}")
    return 0


def run_requests(args: argparse.Namespace, config: Config, service: RightsService) -> int:
    listed = service.requests(overdue_only=args.overdue)
    now = datetime.now(UTC)
    print(output.requests_json(listed, now) if args.json
          else output.requests_text(listed, config.timezone, now))
    return 0


def parse_received(text: str, config: Config) -> datetime:
    # A date typed by the DPO is a local date, like the letter's postmark.
    return parse_instant("--received", text, config.timezone, "2026-11-24 or 2026-11-24T09:30")
