from __future__ import annotations

from datetime import timedelta

import pytest

from callrec.commands.actor import current_actor
from callrec.storage.audit_dao import SqlAuditLog
from callrec.storage.db import Database
from tests.conftest import BASE_TIME


def test_entries_come_back_newest_first_with_their_details(database: Database) -> None:
    audit = SqlAuditLog(database)
    audit.record(BASE_TIME, "dpo", "rights.erase", request_reference="REQ-1",
                 details={"calls": 3, "note": "Пётр"})
    audit.record(BASE_TIME + timedelta(seconds=1), "root (systemd)", "purge.run",
                 details={"recordings": 10})
    newest, oldest = audit.entries()
    assert (newest.action, newest.details) == ("purge.run", {"recordings": 10})
    assert (oldest.actor, oldest.request_reference, oldest.details["note"]) == (
        "dpo", "REQ-1", "Пётр")
    assert [e.action for e in audit.entries(action="rights.erase")] == ["rights.erase"]


def test_an_entry_in_a_rolled_back_session_is_not_kept(database: Database) -> None:
    audit = SqlAuditLog(database)
    with pytest.raises(RuntimeError), database.session() as session:
        audit.record(BASE_TIME, "dpo", "rights.erase", session=session)
        raise RuntimeError("crash before commit")
    assert audit.entries() == []


def test_sudo_user_is_the_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_USER", "leea")
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    assert current_actor() == "leea"
    monkeypatch.setenv("INVOCATION_ID", "abc")
    assert current_actor() == "leea (systemd)"
