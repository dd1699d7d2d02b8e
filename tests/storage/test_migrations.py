from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from callrec.domain.history import Outcome
from callrec.errors import StorageError
from callrec.storage import migrate
from callrec.storage.db import Database
from callrec.storage.tables import Base

REPO = Path(__file__).resolve().parents[2]
TABLES = {"calls", "rights_requests", "erasure_tombstones", "audit_log", "purge_runs",
          "rights_corrections", "rights_objections", "rights_erasure_jobs",
          "rights_erasure_items",
          "users", "web_sessions", "api_tokens", "access_log", "access_reviews",
          "login_attempts", "recording_pauses"}


def schema_differences(database: Database) -> list[object]:
    with database.connection() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, Base.metadata))


def test_empty_database_is_refused_until_upgraded(database_url: str) -> None:
    assert migrate.current_revision(database_url) is None
    with pytest.raises(StorageError) as caught:
        migrate.require_current(database_url)
    assert str(caught.value) == (
        "database schema is at nothing (empty database), this callrec needs "
        f"{migrate.head_revision()}: run `callrec db upgrade`")
    head = migrate.head_revision()
    assert migrate.upgrade(database_url) == head
    assert migrate.current_revision(database_url) == head
    migrate.require_current(database_url)


def test_upgrade_twice_changes_nothing(database_url: str) -> None:
    migrate.upgrade(database_url)
    assert migrate.upgrade(database_url) == migrate.head_revision()


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    database = Database.open(database_url)
    try:
        # Proves the comparison sees something: an empty database lacks every table.
        missing = schema_differences(database)
        added = {diff[1].name for diff in missing
                 if isinstance(diff, tuple) and diff[0] == "add_table"}
        assert added == TABLES
        migrate.upgrade(database)
        assert schema_differences(database) == []
        names = set(inspect(database.engine).get_table_names())
        assert names == {*TABLES, "alembic_version"}
    finally:
        database.dispose()


def test_indexes(database: Database) -> None:
    indexes = {index["name"]: index["column_names"]
               for index in inspect(database.engine).get_indexes("calls")}
    assert indexes == {
        "ix_calls_caller_number_started_at": ["caller_number", "started_at"],
        "ix_calls_started_at": ["started_at"],
        "ix_calls_channel_id": ["channel_id"],
        "ix_calls_unfinished": ["asterisk_id"],
        "ix_calls_service_started_at_id": ["service", "started_at", "id"],
        "ix_calls_recording_live": ["service", "started_at", "id"],
        "ix_calls_purge_pending": ["recording_purge_started_at"],
    }


def test_outcome_is_constrained(database: Database) -> None:
    insert = text(
        "INSERT INTO calls (id, asterisk_id, channel_id, linkedid, caller_withheld, "
        "service_number, service, service_number_known, queue, language, started_at, "
        "outcome) VALUES ('x', 'a', 'c', 'l', false, '1', 's', true, 'q', 'fi', "
        "'2026-11-24 10:00:00', :outcome)")
    with database.connection() as connection:
        connection.execute(insert, {"outcome": "answered"})
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        connection.execute(insert.bindparams(outcome="exploded"))


def test_downgrade_to_base_and_back(database: Database) -> None:
    with database.connection() as connection:
        config = migrate.alembic_config(database)
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
    assert migrate.current_revision(database) is None
    assert migrate.upgrade(database) == migrate.head_revision()


def test_unknown_revision_is_refused(database: Database) -> None:
    with database.connection() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    needed = migrate.head_revision()
    with pytest.raises(StorageError, match=rf"^database schema is at 9999, this callrec "
                                           rf"needs {needed}: run `callrec db upgrade`$"):
        migrate.require_current(database)


def test_migration_scripts_are_package_data() -> None:
    """Every file migrations need at run time is covered by pyproject's package-data."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["callrec"]
    package = REPO / "callrec"
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    needed = {path for path in migrate.MIGRATIONS_DIR.rglob("*")
              if path.is_file() and "__pycache__" not in path.parts}
    assert needed, "no migration files found"
    assert needed <= shipped, sorted(str(path) for path in needed - shipped)


def test_every_outcome_of_the_domain_is_accepted(database: Database) -> None:
    insert = text(
        "INSERT INTO calls (id, asterisk_id, channel_id, linkedid, caller_withheld, "
        "service_number, service, service_number_known, queue, language, started_at, "
        "outcome) VALUES (:id, 'a', 'c', 'l', false, '1', 's', true, 'q', 'fi', "
        "'2026-11-24 10:00:00', :outcome)")
    with database.connection() as connection:
        for outcome in Outcome:  # failed_over came with migration 0006
            connection.execute(insert, {"id": outcome.value, "outcome": outcome.value})
        stored = connection.execute(text("SELECT outcome FROM calls")).scalars().all()
    assert sorted(stored) == sorted(outcome.value for outcome in Outcome)
