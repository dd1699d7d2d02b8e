"""The ``callrec`` command: parses arguments and hands over to one command module.

Each module in :mod:`callrec.commands` exposes ``register(subparsers)``, which adds its
sub-command and sets ``handler`` (a function taking the parsed namespace and returning an
exit status). Errors from the :mod:`callrec.errors` tree become one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from callrec import __version__
from callrec.commands import audit, calls, db, demo, lab, purge, rights, serve, users, web
from callrec.errors import CallrecError

COMMAND_MODULES = (serve, calls, db, lab, demo, rights, purge, web, users, audit)


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
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    return status
