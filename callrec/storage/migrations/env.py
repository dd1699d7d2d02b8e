"""Alembic environment; run through :mod:`callrec.storage.migrate`, which supplies the
connection (``config.attributes["connection"]``), so nothing here reads a URL or a file."""

from __future__ import annotations

from alembic import context

from callrec.errors import StorageError
from callrec.storage.tables import Base


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise StorageError("migrations run through callrec: `callrec db upgrade`")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise StorageError("offline (SQL script) migrations are not supported")
run_migrations_online()
