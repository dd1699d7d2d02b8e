"""Shared fixtures: a database on each backend, a migrated contact history, NewCall values.

PostgreSQL is never skipped quietly: when it cannot be reached the postgres-parametrised
tests fail and say so. Deselect them deliberately with ``-m "not postgres"``.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from callrec.domain.history import NewCall
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.migrate import upgrade

PG_URL_ENV = "CALLREC_TEST_PG_URL"
PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BASE_TIME = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)

NewCallFactory = Callable[..., NewCall]
# What a trunk may put in a caller id or name; all of it must survive storage unchanged.
HOSTILE_CALLER_IDS = (
    '"0401234567"',
    "040'1234567",
    "0401234567;reboot",
    "$(reboot)",
    "`id`",
    "'; DROP TABLE calls; --",
    "\\x00 %s %(id)s {0} ?",
    "9" * 300,
    "Пётр 李 محمد",
    "😀📞 0401234567",
    "\x1b[31mred\x1b[0m\x1b]0;title\x07",
    "line\nbreak\r\tand\x7f\u202eevil",
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database of its own: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'callrec.db'}"
    else:
        yield from _fresh_postgres_database()


def _fresh_postgres_database() -> Iterator[str]:
    admin_url = make_url(os.environ.get(PG_URL_ENV, PG_DEFAULT_URL))
    if admin_url.drivername == "postgresql":
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    name = f"callrec_t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT",
                          connect_args={"connect_timeout": 5})
    try:
        _admin_execute(admin_url, admin, f'CREATE DATABASE "{name}"')
        yield admin_url.set(database=name).render_as_string(hide_password=False)
        _admin_execute(admin_url, admin,
                       "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
        _admin_execute(admin_url, admin, f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        admin.dispose()


def _admin_execute(admin_url: URL, admin: Engine, statement: str) -> None:
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
        return
    except OperationalError as exc:
        problem = str(exc.orig).strip()
    # Outside the except block, so the report is this one message, not a traceback chain.
    pytest.fail(
        f"PostgreSQL at {admin_url.render_as_string(hide_password=True)} is unreachable "
        f"({problem}). Start it, point ${PG_URL_ENV} at one, or deselect these tests "
        "explicitly with -m 'not postgres'.",
        pytrace=False,
    )


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A database migrated to head."""
    upgrade(database_url)
    opened = Database.open(database_url)
    yield opened
    opened.dispose()


@pytest.fixture
def history(database: Database) -> SqlContactHistory:
    return SqlContactHistory(database)


@pytest.fixture
def hostile_caller_ids() -> tuple[str, ...]:
    return HOSTILE_CALLER_IDS


@pytest.fixture
def make_call() -> NewCallFactory:
    """Builds NewCall values: unique ids, each call a minute after the previous one."""
    counter = iter(range(1, 1_000_000))

    def factory(**overrides: Any) -> NewCall:
        serial = next(counter)
        call = NewCall(
            id=uuid.uuid4().hex,
            asterisk_id="00:11:22:33:44:55",
            channel_id=f"1764000000.{serial}",
            linkedid=f"1764000000.{serial}",
            caller_number_raw="0401234567",
            caller_number="+358401234567",
            caller_withheld=False,
            caller_name_raw="Matti Meikäläinen",
            service_number="0201234500",
            service="servicedesk",
            service_number_known=True,
            queue="servicedesk",
            language="fi",
            started_at=BASE_TIME + timedelta(minutes=serial),
        )
        return replace(call, **overrides)

    return factory


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Commands configure logging process-wide; no test may inherit another's set-up."""
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if type(h).__name__ == "_StderrHandler"]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
