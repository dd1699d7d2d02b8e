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

from sqlalchemy import Connection, Dialect
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

    Inside :func:`commit_group` on the same thread (pinned), it joins the group's
    transaction instead: the group commits, or rolls back, all of them at once.
    Driver errors become a :class:`StorageError`; a lost connection is invalidated so
    that the next transaction gets a new one.
    """
    with database.driver_connection(pinned) as connection:
        driver = _driver_of(database, connection)
        joined = pinned and database.in_pinned_group()
        cursor = driver.cursor()

        def run(prepared: Prepared, values: Mapping[str, Any]) -> int:
            cursor.execute(prepared.sql, prepared.parameters(values))
            return int(cursor.rowcount)

        try:
            yield run
            if not joined:
                driver.commit()
        except BaseException as exc:
            if not joined:  # a group rolls back for all of its members
                _roll_back(driver)
            error = _storage_error(database, connection, driver, exc, cursor)
            if error is exc:
                raise
            raise error from exc
        finally:
            with contextlib.suppress(Exception):
                cursor.close()


@contextmanager
def commit_group(database: Database) -> Iterator[None]:
    """Several cursor transactions of this thread as one, with one commit at the end.

    Group commit: on SQLite each commit is an fsync of the WAL, the largest CPU cost of
    a history write. A write is still only reported done once its group has committed,
    so nothing reported done is less durable; an error anywhere rolls back the lot and
    the caller decides what to retry alone (:class:`callrec.calls.database_thread.DatabaseThread`).
    """
    with database.pinned_group() as connection:
        driver = _driver_of(database, connection)
        try:
            yield
            driver.commit()
        except BaseException as exc:
            _roll_back(driver)
            error = _storage_error(database, connection, driver, exc, None)
            if error is exc:
                raise
            raise error from exc


def _driver_of(database: Database, connection: Connection) -> Any:
    driver = connection.connection.dbapi_connection
    if driver is None:
        raise StorageError(f"database {database.url}: connection closed")
    return driver


def _roll_back(driver: Any) -> None:
    with contextlib.suppress(Exception):
        driver.rollback()


def _storage_error(database: Database, connection: Connection, driver: Any,
                   exc: BaseException, cursor: Any) -> BaseException:
    """The error to raise for ``exc``: a driver error as a StorageError, else itself."""
    dialect = database.engine.dialect
    if not isinstance(exc, dialect.loaded_dbapi.Error):
        return exc
    if dialect.is_disconnect(exc, driver, cursor):
        connection.invalidate(exc)
    return database.error(exc)
