"""Opening the database: one engine per :class:`Database`, sessions, readable errors."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from callrec.errors import StorageError

SQLITE_BUSY_TIMEOUT_MS = 5000
PG_CONNECT_TIMEOUT_S = 10
_SQLITE_MEMORY = ("", ":memory:")


def normalise_url(url: str) -> URL:
    """Parse a database URL; plain ``postgresql://`` means psycopg 3, callrec's driver."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # The text may hold a password: name only the problem.
        raise StorageError("database URL is not readable: expected e.g. "
                           "sqlite:////var/lib/callrec/callrec.db or "
                           "postgresql://callrec@127.0.0.1:5432/callrec") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StorageError(f"database URL {safe_url(parsed)}: only sqlite and postgresql "
                           "are supported")
    return parsed


def safe_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


class Database:
    """An engine and its session factory; create with :meth:`open`, end with :meth:`dispose`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._pinned = threading.local()

    @classmethod
    def open(cls, url: str) -> Database:
        parsed = normalise_url(url)
        if parsed.get_backend_name() == "sqlite":
            return cls(_sqlite_engine(parsed))
        return cls(create_engine(parsed, pool_pre_ping=True,
                                 connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S}))

    @property
    def url(self) -> str:
        """The URL without its password, for messages."""
        return safe_url(self.engine.url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        try:
            with self._sessions.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            raise self.error(exc) from exc

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A raw SQLAlchemy connection in a transaction (for migrations)."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise self.error(exc) from exc

    @contextmanager
    def driver_connection(self, pinned: bool) -> Iterator[Connection]:
        """A connection whose driver connection the caller runs statements on.

        ``pinned``: the calling thread's own long-lived connection. For one busy thread
        only (the service's database thread): it spares the pool's checkout, reset and
        check-in around every transaction on the call path. A lost one is replaced on the
        next use once invalidated. Otherwise a pooled connection, returned afterwards.
        """
        if pinned:
            connection: Connection | None = getattr(self._pinned, "connection", None)
            if connection is None or connection.closed:
                connection = self._pinned.connection = self._connect()
            yield connection
            return
        with self._connect() as connection:
            yield connection

    def _connect(self) -> Connection:
        try:
            return self.engine.connect()
        except SQLAlchemyError as exc:
            raise self.error(exc) from exc

    @contextmanager
    def pinned_group(self) -> Iterator[Connection]:
        """The pinned connection, marked so that cursor transactions opened on it inside
        the block join one transaction instead of committing each (see
        :func:`callrec.storage.prepared.commit_group`)."""
        with self.driver_connection(pinned=True) as connection:
            self._pinned.grouped = True
            try:
                yield connection
            finally:
                self._pinned.grouped = False

    def in_pinned_group(self) -> bool:
        return bool(getattr(self._pinned, "grouped", False))

    def release_pinned(self) -> None:
        """Close the calling thread's pinned connection, if it has one."""
        connection: Connection | None = getattr(self._pinned, "connection", None)
        if connection is not None:
            self._pinned.connection = None
            connection.close()

    def error(self, exc: BaseException) -> StorageError:
        """A StorageError saying what the database (or its driver) refused, without any
        password."""
        return StorageError(f"database {self.url}: {describe(exc, self.engine.url.password)}")

    def dispose(self) -> None:
        self.engine.dispose()


def describe(exc: BaseException, password: str | None) -> str:
    """The driver's own first line, which is what an admin can act on."""
    cause: BaseException = exc.orig if isinstance(exc, StatementError) and exc.orig else exc
    if isinstance(cause, SQLAlchemyError):
        # SQLAlchemy's own text ends in a link to its docs and may hold the statement.
        text = str(cause.args[0]) if cause.args else type(cause).__name__
    else:
        text = str(cause) or type(cause).__name__
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    message = "; ".join(lines[:2]) or type(cause).__name__
    if password:
        message = message.replace(password, "***")
    return message


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database not in _SQLITE_MEMORY and not database.startswith("file:"):
        _prepare_sqlite_file(Path(database))
    # Each pooled connection may serve another thread; sessions themselves are not shared.
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _prepare_sqlite_file(path: Path) -> None:
    """Create the directory (0700) and file (0600) first: the file holds personal data."""
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True)
        # O_EXCL: leave an existing file's ownership and mode to its admin.
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StorageError(f"cannot create database file {path}: {exc.strerror}") from None
    os.close(descriptor)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: the CLI can read while the service writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()
