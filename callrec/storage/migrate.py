"""Schema migrations, run from code: no alembic.ini is needed at run time.

The migration scripts ship inside the package (``callrec/storage/migrations``). To write
a new one during development::

    python -m callrec.storage.migrate revision "what changes" sqlite:////tmp/dev.db
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from callrec.errors import StorageError
from callrec.storage.db import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database: Database | None = None) -> Config:
    """Alembic's configuration, built in code; ``database`` is handed to env.py."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database is not None:
        config.attributes["database"] = database
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StorageError(f"no migration scripts found in {MIGRATIONS_DIR}")
    return head


def upgrade(url: str | Database, revision: str = "head") -> str:
    """Bring the schema to ``revision``; returns the revision the database is then at."""
    with _opened(url) as database:
        with database.connection() as connection:
            config = alembic_config(database)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        reached = _current(database)
    if reached is None:
        raise StorageError(f"database {database.url}: no schema revision after upgrade")
    return reached


def current_revision(url: str | Database) -> str | None:
    """The database's schema revision; None for a database callrec never migrated."""
    with _opened(url) as database:
        return _current(database)


def require_current(url: str | Database) -> None:
    """Refuse to work on a schema this callrec was not written for."""
    current = current_revision(url)
    needed = head_revision()
    if current != needed:
        raise StorageError(f"database schema is at {current or 'nothing (empty database)'}, "
                           f"this callrec needs {needed}: run `callrec db upgrade`")


def _current(database: Database) -> str | None:
    with database.connection() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _opened(target: str | Database) -> Iterator[Database]:
    """Use a given Database as is; open (and afterwards dispose) one for a URL."""
    if isinstance(target, Database):
        yield target
        return
    database = Database.open(target)
    try:
        yield database
    finally:
        database.dispose()


def _make_revision(message: str, url: str) -> None:
    """Autogenerate a new migration against a database at head (development only)."""
    upgrade(url)
    with _opened(url) as database, database.connection() as connection:
        config = alembic_config(database)
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "revision":
        sys.exit("usage: python -m callrec.storage.migrate revision MESSAGE DATABASE_URL")
    _make_revision(sys.argv[2], sys.argv[3])
