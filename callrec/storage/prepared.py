"""Statements compiled once and run straight on the DBAPI cursor, for the call path's writes.

SQLAlchemy still writes the SQL (for the dialect in use) and still converts the values
(its column types' bind processors: UtcDateTime, booleans); only its per-statement
execution machinery is skipped. On the call path that machinery cost more CPU than the
database's own work: measured on the database thread, a call's three writes took about
1 ms through ``Connection.execute`` and 0.5 ms this way (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.sql.expression import Executable

from callrec.errors import StorageError
from callrec.storage.db import Database

Run = Callable[["Prepared", Mapping[str, Any]], int]


@dataclass(frozen=True)
class Prepared:
    """One statement as the driver takes it: SQL text, parameter order, value converters."""

    sql: str
    positions: tuple[str, ...] | None      # parameter names in order (qmark), else None
    converters: Mapping[str, Callable[[Any], Any]]

    @classmethod
    def of(cls, statement: Executable, dialect: Dialect) -> Prepared:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        converters = {}
        for name, bind in compiled.binds.items():
            # dialect_impl: the dialect's own type (e.g. SQLite's DATETIME string format).
            converter = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if converter is not None:
                converters[name] = converter
        positions = compiled.positiontup
        return cls(str(compiled), tuple(positions) if positions is not None else None,
                   converters)

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        converted = dict(values)
        for name, converter in self.converters.items():
            if name in converted:
                try:
                    converted[name] = converter(converted[name])
                except (ValueError, TypeError) as exc:
                    raise StorageError(f"{name}: {exc}") from exc
        if self.positions is None:
            return converted
        return [converted[name] for name in self.positions]


@contextmanager
def cursor_transaction(database: Database, pinned: bool) -> Iterator[Run]:
    """One transaction, committed on the driver's connection; yields
    ``run(prepared, values) -> rowcount``.

    Driver errors become a :class:`StorageError`; a lost connection is invalidated so
    that the next transaction gets a new one.
    """
    with database.driver_connection(pinned) as connection:
        driver = connection.connection.dbapi_connection
        if driver is None:
            raise StorageError(f"database {database.url}: connection closed")
        cursor = driver.cursor()

        def run(prepared: Prepared, values: Mapping[str, Any]) -> int:
            cursor.execute(prepared.sql, prepared.parameters(values))
            return int(cursor.rowcount)

        dialect = database.engine.dialect
        try:
            yield run
            driver.commit()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                driver.rollback()
            if not isinstance(exc, dialect.loaded_dbapi.Error):
                raise
            if dialect.is_disconnect(exc, driver, cursor):
                connection.invalidate(exc)
            raise database.error(exc) from exc
        finally:
            with contextlib.suppress(Exception):
                cursor.close()
