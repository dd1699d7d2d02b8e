from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from callrec.errors import StorageError
from callrec.storage.db import Database, normalise_url
from tests.conftest import PG_DEFAULT_URL, PG_URL_ENV


def test_postgresql_urls_use_psycopg_3() -> None:
    for url in ("postgresql://u:pw@h:5432/d", "postgres://u:pw@h:5432/d"):
        assert normalise_url(url).drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://h/d").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:////x/y.db").drivername == "sqlite"


@pytest.mark.parametrize("url", ["not a url", "mysql://u:topsecret@h/d", "://topsecret"])
def test_bad_urls_are_refused_without_the_password(url: str) -> None:
    with pytest.raises(StorageError) as caught:
        Database.open(url)
    assert "topsecret" not in str(caught.value)


def test_sqlite_file_and_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "sub" / "callrec.db"
    database = Database.open(f"sqlite:///{path}")
    try:
        with database.session() as session:
            mode = session.execute(text("PRAGMA journal_mode")).scalar()
            foreign_keys = session.execute(text("PRAGMA foreign_keys")).scalar()
            busy = session.execute(text("PRAGMA busy_timeout")).scalar()
            session.execute(text("CREATE TABLE scratch (x INTEGER)"))  # makes the -wal file
        assert (mode, foreign_keys, busy) == ("wal", 1, 5000)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600
    finally:
        database.dispose()


def test_existing_sqlite_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    Database.open(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_sqlite_in_unwritable_place_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="cannot create database file"):
        Database.open(f"sqlite:///{blocker / 'callrec.db'}")


def test_unreachable_postgres_is_a_storage_error_without_the_password() -> None:
    database = Database.open("postgresql://callrec:topsecret@127.0.0.1:1/callrec")
    try:
        with pytest.raises(StorageError) as caught, database.session() as session:
            session.execute(text("SELECT 1"))
    finally:
        database.dispose()
    message = str(caught.value)
    assert message.startswith("database postgresql+psycopg://callrec:***@127.0.0.1:1/callrec: ")
    assert "topsecret" not in message
    assert "refused" in message.lower() or "failed" in message.lower()


@pytest.mark.postgres
def test_postgres_refusal_hides_the_password() -> None:
    server = make_url(os.environ.get(PG_URL_ENV, PG_DEFAULT_URL))
    url = server.set(password="topsecret", database="callrec_no_such_database")
    database = Database.open(url.render_as_string(hide_password=False))
    try:
        with pytest.raises(StorageError) as caught, database.session() as session:
            session.execute(text("SELECT 1"))
    finally:
        database.dispose()
    message = str(caught.value)
    assert ":***@" in message and "topsecret" not in message
    assert 'database "callrec_no_such_database" does not exist' in message
