"""The ``callrec`` command: parses arguments and hands over to one command module.

Each module in :mod:`callrec.commands` exposes ``register(subparsers)``, which adds its
sub-command and sets ``handler`` (a function taking the parsed namespace and returning an
exit status). Errors from the :mod:`callrec.errors` tree become one line on stderr and
the exit status of :data:`EXIT_STATUS`: the one place where an error gets its status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from callrec import __version__
from callrec.commands import (
    audit,
    calls,
    db,
    demo,
    keys,
    lab,
    purge,
    recordings,
    rights,
    serve,
    users,
    web,
)
from callrec.errors import (
    AccessDenied,
    CallrecError,
    ConfigError,
    InputError,
    StatusTable,
    status_in,
)

COMMAND_MODULES = (serve, calls, db, lab, demo, rights, purge, recordings, keys, web, users,
                   audit)

# Scripts and cron jobs branch on these, so they stay as they are. Walked in order, the
# first class the error is an instance of wins: put a subclass before its base.
EXIT_STATUS: StatusTable = (
    (ConfigError, 2),   # fix the configuration file, then run again
    (InputError, 2),    # fix the command line, then run again
    (AccessDenied, 3),  # another user (e.g. a data-protection officer) must do it
)
# Everything else in the tree: the database, a file, Asterisk or the lab failed.
OTHER_ERROR_STATUS = 1
INTERRUPTED_STATUS = 130  # 128 + SIGINT, as a shell reports it


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callrec",
        description="GDPR-minded call recording for Asterisk contact centres.",
    )
    parser.add_argument("--version", action="version", version=f"callrec {__version__}")
    parser.add_argument("--config", metavar="FILE",
                        help="configuration file (default: $CALLREC_CONFIG)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except CallrecError as exc:
        print(f"callrec: {exc}", file=sys.stderr)
        return exit_status_for(exc)
    except KeyboardInterrupt:
        return INTERRUPTED_STATUS
    return status


def exit_status_for(error: CallrecError) -> int:
    return status_in(EXIT_STATUS, error, OTHER_ERROR_STATUS)
