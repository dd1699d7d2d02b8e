"""``callrec keys``: init, status, rotate [--due], retire, as an admin and the nightly
callrec-keys.service run them (SQLite and PostgreSQL for the audit log)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callrec.config import load_config
from callrec.storage.audit_dao import SqlAuditLog
from callrec.storage.db import Database
from tests.support.rights import Cli, cli, recordings
from tests.support.vaults import encrypted_config

__all__ = ["cli", "recordings"]


@pytest.fixture
def config_path(tmp_path: Path, database_url: str, recordings: Path,
                database: Database) -> Path:
    return encrypted_config(tmp_path, database_url, recordings)


def status(cli: Cli) -> dict[str, object]:
    code, out, err = cli("keys", "status", "--json")
    assert code == 0, err
    summary: dict[str, object] = json.loads(out)
    return summary


def states(cli: Cli) -> list[tuple[str, str]]:
    masters = status(cli)["masters"]
    assert isinstance(masters, list)
    return [(master["id"], master["state"]) for master in masters]


def test_init_is_idempotent_and_status_shows_one_current_master(cli: Cli) -> None:
    code, out, _ = cli("keys", "init")
    assert (code, "already initialised" in out) == (0, True)
    [(_, state)] = states(cli)
    assert state == "current"
    assert status(cli)["keystore_backup_days"] == 30


def test_rotate_due_waits_for_rotation_days_then_rotates(cli: Cli, database: Database) -> None:
    [(first, _)] = states(cli)
    soon = (datetime.now(UTC) + timedelta(days=29)).isoformat()
    code, out, _ = cli("keys", "rotate", "--due", "--now", soon)
    assert (code, "not due" in out, len(states(cli))) == (0, True, 1)
    later = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    assert cli("keys", "rotate", "--due", "--now", later)[0] == 0
    [(old, old_state), (new, new_state)] = states(cli)
    assert (old, old_state, new_state) == (first, "superseded", "current") and new != first
    [entry] = SqlAuditLog(database).entries(action="keys.rotate")
    assert entry.details == {"old": first, "new": new, "subject_keys": 0}


def test_retire_waits_for_the_backup_window(cli: Cli, config_path: Path,
                                            database: Database) -> None:
    now = datetime.now(UTC)
    assert cli("keys", "rotate", "--now", now.isoformat())[0] == 0
    [(old, _), _] = states(cli)
    within = (now + timedelta(days=29)).isoformat()
    code, out, _ = cli("keys", "retire", "--now", within)
    assert (code, "nothing to destroy" in out) == (0, True)
    assert [state for _, state in states(cli)] == ["superseded", "current"]
    after = (now + timedelta(days=31)).isoformat()
    code, out, _ = cli("keys", "retire", "--now", after)
    assert (code, old in out) == (0, True)
    assert [state for _, state in states(cli)] == ["retired", "current"]
    master_file = load_config(config_path).encryption.master_key_file
    assert master_file is not None and old not in master_file.read_text()
    assert len(SqlAuditLog(database).entries(action="keys.retire")) == 1


def test_without_encryption_keys_says_what_to_do(cli: Cli, tmp_path: Path, database_url: str,
                                                 recordings: Path) -> None:
    plain = encrypted_config(tmp_path, database_url, recordings, enabled=False)
    code, out, err = cli("keys", "status", config=plain)
    assert (code, out) == (2, "")
    assert "encryption.enabled" in err


def test_a_key_file_others_can_read_is_refused(cli: Cli, config_path: Path) -> None:
    master_file = load_config(config_path).encryption.master_key_file
    assert master_file is not None
    master_file.chmod(0o644)
    code, _, err = cli("keys", "rotate")
    assert code == 1 and "0644" in err and str(master_file) in err
