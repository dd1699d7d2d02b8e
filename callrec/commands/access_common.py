"""What the ``users``, ``web`` and ``audit`` commands share: the database, and tables."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from callrec.commands.calls import display_width
from callrec.config import load_config
from callrec.storage.db import Database
from callrec.storage.migrate import require_current


@contextmanager
def opened(args: argparse.Namespace) -> Iterator[Database]:
    """The configured database, at the schema this callrec needs."""
    database = Database.open(load_config(args.config).database_url)
    try:
        require_current(database)
        yield database
    finally:
        database.dispose()


def format_rows(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns; cells must already be terminal-safe."""
    table = [tuple(headers), *(tuple(row) for row in rows)]
    widths = [max(display_width(row[i]) for row in table) for i in range(len(headers))]
    return "\n".join("  ".join(cell + " " * (width - display_width(cell))
                               for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in table)
