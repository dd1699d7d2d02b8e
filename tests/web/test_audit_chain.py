"""The access log's hash chain: verify passes on an honest log and names the first entry
after any change; the database refuses updates and deletes; the CLI reports both."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from callrec.access.chain import GENESIS, AccessAction, AccessEvent, seal, verify
from callrec.cli import main
from callrec.errors import StorageError
from callrec.storage.access_log_dao import SqlAccessLog
from callrec.storage.db import Database
from tests.conftest import BASE_TIME
from tests.web.world import write_config_file

CALL = "0123456789abcdef0123456789abcdef"


def event(n: int, **changes: object) -> AccessEvent:
    base = AccessEvent(at=BASE_TIME + timedelta(seconds=n), username=f"user{n % 3}",
                       role="agent", call_id=CALL, action=AccessAction.PLAY,
                       purpose="quality", note=None, client="127.0.0.1")
    return replace(base, **changes)  # type: ignore[arg-type]


def chain_of(count: int) -> list:
    entries, prev = [], GENESIS
    for n in range(1, count + 1):
        entry = seal(n, event(n), prev)
        entries.append(entry)
        prev = entry.hash
    return entries


def test_an_honest_chain_verifies_and_reports_its_head() -> None:
    entries = chain_of(5)
    report = verify(entries)
    assert report.intact
    assert (report.entries, report.head_seq, report.head_hash) == (5, 5, entries[-1].hash)
    assert verify([]).intact and verify([]).head_hash == GENESIS


@pytest.mark.parametrize("field", ["username", "role", "call_id", "action", "purpose", "note",
                                   "client", "at"])
def test_changing_any_field_breaks_the_chain_at_that_entry(field: str) -> None:
    entries = chain_of(5)
    value: object = BASE_TIME - timedelta(days=1) if field == "at" else "tampered"
    entries[2] = replace(entries[2], event=replace(entries[2].event, **{field: value}))
    report = verify(entries)
    assert (report.intact, report.broken_at, report.entries) == (False, 3, 2)
    assert "altered" in (report.problem or "")


def test_removing_reordering_or_resealing_an_entry_is_seen() -> None:
    entries = chain_of(5)
    assert verify(entries[:2] + entries[3:]).broken_at == 4          # removed from the middle
    assert verify([entries[1], entries[0], *entries[2:]]).broken_at == 2
    forged = seal(3, event(3, username="someone else"), entries[1].hash)
    assert verify([*entries[:2], forged, *entries[3:]]).broken_at == 4  # resealed: next fails
    assert verify(entries[1:]).broken_at == 2                          # head cut off


def test_appends_chain_in_the_database(database: Database) -> None:
    log = SqlAccessLog(database)
    sealed = [log.append(event(n, note="Пётр 😀" if n == 2 else None)) for n in range(1, 4)]
    assert [entry.seq for entry in sealed] == [1, 2, 3]
    assert sealed[0].prev_hash == GENESIS and sealed[1].prev_hash == sealed[0].hash
    stored = list(log.chain())
    assert stored == sealed
    assert verify(stored).intact
    assert [entry.seq for entry in log.entries(limit=2)] == [3, 2]


def test_the_database_refuses_updates_and_deletes(database: Database) -> None:
    log = SqlAccessLog(database)
    log.append(event(1))
    for statement in ("UPDATE access_log SET username = 'x'", "DELETE FROM access_log"):
        with pytest.raises(SQLAlchemyError, match="append-only"), \
                database.engine.begin() as connection:
            connection.execute(text(statement))
    assert verify(log.chain()).intact


def drop_guards(database: Database) -> None:
    """What an attacker with rights over the schema could do before editing rows."""
    with database.engine.begin() as connection:
        if database.dialect == "sqlite":
            connection.execute(text("DROP TRIGGER access_log_no_update"))
            connection.execute(text("DROP TRIGGER access_log_no_delete"))
        else:
            connection.execute(text("DROP TRIGGER access_log_append_only ON access_log"))


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), "audit", *args])


def test_cli_verify_passes_then_fails_after_a_row_is_altered(
        database: Database, database_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config_file(tmp_path, database_url)
    log = SqlAccessLog(database)
    entries = [log.append(event(n)) for n in range(1, 5)]
    assert cli(config, "verify") == 0
    out = capsys.readouterr().out
    assert f"intact: 4 entries; head 4 {entries[-1].hash}" in out
    assert cli(config, "verify", "--head", entries[-1].hash) == 0
    assert cli(config, "verify", "--head", entries[-2].hash) == 1
    capsys.readouterr()
    drop_guards(database)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE access_log SET purpose = 'training' WHERE seq = 2"))
    assert cli(config, "verify") == 1
    assert capsys.readouterr().out.startswith("access log BROKEN at entry 2: its contents")


def test_cli_verify_sees_a_deleted_row(database: Database, database_url: str,
                                       tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config_file(tmp_path, database_url)
    log = SqlAccessLog(database)
    for n in range(1, 4):
        log.append(event(n))
    drop_guards(database)
    with database.engine.begin() as connection:
        connection.execute(text("DELETE FROM access_log WHERE seq = 2"))
    assert cli(config, "verify") == 1
    assert "BROKEN at entry 3: expected entry 2" in capsys.readouterr().out


def test_cli_list_shows_entries_escaped(database: Database, database_url: str,
                                        tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config_file(tmp_path, database_url)
    log = SqlAccessLog(database)
    log.append(event(1, note="\x1b[31mred"))
    log.append(event(2, username="dpo", action=AccessAction.DOWNLOAD, purpose="complaint"))
    assert cli(config, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "time", "user", "role", "call", "action", "purpose",
                                "client", "note"]
    assert lines[1].split()[0] == "2" and "download" in lines[1] and "complaint" in lines[1]
    assert "\x1b" not in lines[2] and "\\x1b[31mred" in lines[2]
    assert cli(config, "list", "--user", "dpo", "--json") == 0
    assert '"username": "dpo"' in capsys.readouterr().out


@pytest.mark.parametrize("args", [["list", "--call", "../../etc/passwd"],
                                  ["list", "--limit", "0"]])
def test_cli_list_refuses_bad_input_with_status_2(database: Database, database_url: str,
                                                  tmp_path: Path, args: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config_file(tmp_path, database_url)
    assert cli(config, *args) == 2
    assert capsys.readouterr().err.startswith("callrec: ")


def test_concurrent_appends_from_two_logs_keep_one_chain(database: Database) -> None:
    """Two writers (as two processes would have) race; the loser retries on the new head."""
    logs = [SqlAccessLog(database), SqlAccessLog(database)]
    failures: list[BaseException] = []

    def write(log: SqlAccessLog, base: int) -> None:
        try:
            for n in range(10):
                log.append(event(base + n))
        except (StorageError, AssertionError) as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(log, 100 * i)) for i, log in
               enumerate(logs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    report = verify(SqlAccessLog(database).chain())
    assert report.intact and report.entries == 20
