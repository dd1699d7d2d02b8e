"""``callrec users``: adding people, changing their access, tokens and reviews; bad input
exits 2 and changes nothing."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from callrec.access.credentials import secret_hash
from callrec.cli import main
from callrec.storage.audit_dao import SqlAuditLog
from callrec.storage.credentials_dao import SqlCredentials
from callrec.storage.db import Database
from callrec.storage.tables import UserRow
from callrec.storage.users_dao import SqlUsers
from tests.web.world import PASSWORD, write_config_file


@pytest.fixture
def users_cli(database: Database, database_url: str, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch,
              capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    config = write_config_file(tmp_path, database_url)

    def run(*args: str, stdin: str = PASSWORD + "\n") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        status = main(["--config", str(config), "users", *args])
        captured = capsys.readouterr()
        return status, captured.out, captured.err
    return run


def test_add_list_and_log_in_material(users_cli, database: Database) -> None:
    assert users_cli("add", "anna", "--role", "agent", "--agent", "agent1",
                     "--password-stdin")[0] == 0
    assert users_cli("add", "sven", "--role", "supervisor", "--queues",
                     "switchboard,servicedesk", "--password-stdin")[0] == 0
    status, out, _ = users_cli("list", "--json")
    assert status == 0
    listed = {user["user"]: user for user in json.loads(out)}
    assert listed["anna"]["agent"] == "agent1"
    assert listed["sven"]["queues"] == ["servicedesk", "switchboard"]
    found = SqlUsers(database).password_hash("anna")
    assert found is not None and found[1] is not None and found[1].startswith("$argon2id$")
    assert PASSWORD not in found[1]
    table = users_cli("list")[1].splitlines()
    assert table[0].split() == ["user", "role", "queues", "agent", "status", "reviewed"]
    actions = [entry.action for entry in SqlAuditLog(database).entries()]
    assert actions == ["users.add", "users.add"]


BAD_ADDS = [
    (["add", "Anna Smith", "--role", "agent", "--agent", "a1"], "not a user name"),
    (["add", "anna", "--role", "boss"], "not a role"),
    (["add", "anna", "--role", "agent"], "needs --agent"),
    (["add", "anna", "--role", "supervisor"], "needs --queues"),
    (["add", "anna", "--role", "supervisor", "--queues", "q;evil"], "not a queue"),
    (["add", "anna", "--role", "agent", "--agent", "../x"], "not an agent name"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ADDS)
def test_bad_input_exits_2_and_adds_no_one(users_cli, database: Database, args: list[str],
                                           message: str) -> None:
    status, out, err = users_cli(*args, "--password-stdin")
    assert (status, out) == (2, "")
    assert message in err and len(err.splitlines()) == 1
    assert SqlUsers(database).all() == []


def test_short_password_duplicate_and_unknown_users_exit_2(users_cli,
                                                           database: Database) -> None:
    assert users_cli("add", "anna", "--role", "quality",
                     "--password-stdin", stdin="short\n")[0] == 2
    assert SqlUsers(database).all() == []
    assert users_cli("add", "anna", "--role", "quality", "--password-stdin")[0] == 0
    status, _, err = users_cli("add", "anna", "--role", "dpo", "--password-stdin")
    assert status == 2 and "already exists" in err
    assert users_cli("set-role", "ghost", "dpo")[0] == 2
    assert users_cli("set-queues", "ghost", "servicedesk")[0] == 2
    assert users_cli("disable", "ghost")[0] == 2
    assert users_cli("token", "ghost")[0] == 2
    assert users_cli("token", "anna", "--days", "0")[0] == 2
    assert [(a.username, a.role.value) for a in SqlUsers(database).all()] == [
        ("anna", "quality")]


def test_set_role_revokes_and_opens_a_review(users_cli, database: Database) -> None:
    assert users_cli("add", "anna", "--role", "agent", "--agent", "agent1",
                     "--password-stdin")[0] == 0
    status, token, _ = users_cli("token", "anna", "--name", "reports")
    assert status == 0
    token = token.strip()
    credentials = SqlCredentials(database)
    now = datetime.now(UTC)
    assert credentials.token_principal(secret_hash(token), now) is not None
    credentials.open_session(secret_hash("session-secret"), SqlUsers(database).all()[0].id,
                             now, timedelta(hours=1), "127.0.0.1")
    status, _, err = users_cli("set-role", "anna", "supervisor")
    assert status == 2 and "needs --queues" in err
    status, out, _ = users_cli("set-role", "anna", "supervisor", "--queues", "switchboard")
    assert status == 0
    assert "role=agent queues=- agent=agent1 -> role=supervisor queues=switchboard" in out
    assert credentials.token_principal(secret_hash(token), now) is None
    assert credentials.session_principal(secret_hash("session-secret"), now) is None
    status, out, _ = users_cli("review")
    assert out.startswith("changed  anna")
    assert users_cli("set-queues", "anna", "switchboard")[1] == "anna: nothing changed\n"
    assert users_cli("review", "--done", "anna")[1] == (
        "anna: access reviewed; 1 open review entries closed\n")
    assert users_cli("review")[1] == "no access reviews due\n"


def test_review_lists_users_not_reviewed_for_90_days(users_cli, database: Database) -> None:
    for name in ("old", "new", "gone"):
        assert users_cli("add", name, "--role", "quality", "--password-stdin")[0] == 0
    with database.session() as session:
        session.execute(update(UserRow).where(UserRow.username.in_(["old", "gone"]))
                        .values(reviewed_at=datetime.now(UTC) - timedelta(days=91)))
    assert users_cli("disable", "gone")[0] == 0
    lines = users_cli("review")[1].splitlines()
    assert len(lines) == 1 and lines[0].startswith("stale    old  last reviewed")
    assert users_cli("review", "--done", "old")[0] == 0
    assert users_cli("review")[1] == "no access reviews due\n"


def test_password_change_ends_sessions(users_cli, database: Database) -> None:
    assert users_cli("add", "anna", "--role", "dpo", "--password-stdin")[0] == 0
    credentials = SqlCredentials(database)
    now = datetime.now(UTC)
    credentials.open_session(secret_hash("s"), SqlUsers(database).all()[0].id, now,
                             timedelta(hours=1), "127.0.0.1")
    assert users_cli("password", "anna", "--password-stdin",
                     stdin="another long password\n")[0] == 0
    assert credentials.session_principal(secret_hash("s"), now) is None


def test_no_terminal_and_no_stdin_flag_is_refused(users_cli, database: Database) -> None:
    status, _, err = users_cli("add", "anna", "--role", "dpo")
    assert status == 2 and "--password-stdin" in err
    assert SqlUsers(database).all() == []
