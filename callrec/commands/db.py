"""``callrec db upgrade`` and ``callrec db current``: the database schema's revision."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from callrec.config import load_config
from callrec.storage import migrate


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "db", help="database schema: upgrade, current",
        description="Manage the database schema of the configured database.")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    actions.add_parser(
        "upgrade", help="migrate the database to the schema this callrec needs",
        description="Migrate the configured database to the newest schema (creates it "
                    "when empty). Safe to run again.",
    )
    actions.add_parser(
        "current", help="print the schema revision of the database",
        description="Print the database's schema revision ('none' when never migrated); "
                    "exit status 1 when it is not the one this callrec needs.",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    actions = {"upgrade": run_upgrade, "current": run_current}
    return actions[args.db_action](args)


def run_upgrade(args: argparse.Namespace) -> int:
    url = load_config(args.config).database_url
    before = migrate.current_revision(url)
    after = migrate.upgrade(url)
    if before == after:
        print(f"database schema already at {after}")
    else:
        print(f"database schema upgraded from {before or 'nothing'} to {after}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    url = load_config(args.config).database_url
    current = migrate.current_revision(url)
    needed = migrate.head_revision()
    print(current or "none")
    if current != needed:
        print(f"callrec: this callrec needs schema {needed}: run `callrec db upgrade`",
              file=sys.stderr)
        return 1
    return 0
