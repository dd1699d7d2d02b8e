"""Recording pauses in SQL (SQLite and PostgreSQL): one open pause per call, renewals,
closing once, what is due, and pauses going with their call (erasure, purge)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from callrec.domain.history import CallEnd, NewCall, Outcome
from callrec.errors import StorageError
from callrec.pause.model import PauseEnd, PauseMethod, PauseStart
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.pauses_dao import AsyncPauses, SqlPauses, ToThread
from callrec.storage.purge_dao import SqlPurgeStore
from callrec.storage.tables import RecordingPauseRow
from tests.conftest import BASE_TIME, NewCallFactory
from tests.support.rights import SUBJECT, Cli, Seeder, cli, config_path, recordings, seeder

__all__ = ["cli", "config_path", "recordings", "seeder"]
LIMIT = timedelta(minutes=3)


@pytest.fixture
def pauses(database: Database) -> SqlPauses:
    return SqlPauses(database)


def live_call(history: SqlContactHistory, make_call: NewCallFactory) -> NewCall:
    call = make_call()
    history.open_call(call)
    return call


def start(call_id: str, at: datetime, offset_ms: int = 1000, by: str = "anna",
          method: PauseMethod = PauseMethod.DTMF) -> PauseStart:
    return PauseStart(call_id, at, offset_ms, by, method, at + LIMIT)


def count(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(RecordingPauseRow)) or 0)


def test_open_then_renew_keeps_one_open_pause(pauses: SqlPauses, history: SqlContactHistory,
                                              make_call: NewCallFactory) -> None:
    call = live_call(history, make_call)
    first = pauses.open_or_renew(start(call.id, BASE_TIME))
    assert (first.call_id, first.started_at, first.start_offset_ms) == (call.id, BASE_TIME, 1000)
    assert (first.paused_by, first.method, first.expires_at) == ("anna", PauseMethod.DTMF,
                                                                 BASE_TIME + LIMIT)
    assert first.is_open and first.end_offset_ms is None and not first.auto_resumed
    later = BASE_TIME + timedelta(seconds=90)
    renewed = pauses.open_or_renew(start(call.id, later, 91_000, "bob", PauseMethod.WEB))
    # Same pause, same start and opener; only the expiry moved.
    assert renewed.id == first.id
    assert (renewed.started_at, renewed.start_offset_ms, renewed.paused_by,
            renewed.method) == (BASE_TIME, 1000, "anna", PauseMethod.DTMF)
    assert renewed.expires_at == later + LIMIT
    assert pauses.current(call.id) == renewed


def test_close_ends_a_pause_once(pauses: SqlPauses, history: SqlContactHistory,
                                 make_call: NewCallFactory) -> None:
    call = live_call(history, make_call)
    opened = pauses.open_or_renew(start(call.id, BASE_TIME))
    end = PauseEnd(BASE_TIME + timedelta(seconds=20), 21_000, "anna", PauseMethod.DTMF, False)
    closed = pauses.close(opened.id, end)
    assert closed is not None
    assert (closed.ended_at, closed.end_offset_ms, closed.resumed_by, closed.resume_method,
            closed.auto_resumed) == (end.at, 21_000, "anna", PauseMethod.DTMF, False)
    assert pauses.current(call.id) is None
    again = PauseEnd(BASE_TIME + timedelta(seconds=30), 31_000, None, None, True)
    assert pauses.close(opened.id, again) is None     # closed already: unchanged
    assert pauses.of_calls([call.id]) == {call.id: [closed]}
    # After a close, a new pause is a new span.
    second = pauses.open_or_renew(start(call.id, BASE_TIME + timedelta(seconds=40), 41_000))
    assert second.id != opened.id
    assert [p.id for p in pauses.of_calls([call.id])[call.id]] == [opened.id, second.id]


def test_callrec_ending_a_pause_names_nobody(pauses: SqlPauses, history: SqlContactHistory,
                                             make_call: NewCallFactory) -> None:
    call = live_call(history, make_call)
    opened = pauses.open_or_renew(start(call.id, BASE_TIME))
    closed = pauses.close(opened.id, PauseEnd(BASE_TIME + LIMIT, 181_000, None, None, True))
    assert closed is not None
    assert (closed.resumed_by, closed.resume_method, closed.auto_resumed) == (None, None, True)


def test_the_database_allows_one_open_pause_per_call(database: Database, pauses: SqlPauses,
                                                     history: SqlContactHistory,
                                                     make_call: NewCallFactory) -> None:
    """Two processes (service, web) opening at once: the second insert is refused."""
    call = live_call(history, make_call)
    pauses.open_or_renew(start(call.id, BASE_TIME))
    with pytest.raises(StorageError), database.session() as session:
        session.add(RecordingPauseRow(call_id=call.id, started_at=BASE_TIME, start_offset_ms=0,
                                      paused_by="x", method="web", auto_resumed=False,
                                      expires_at=BASE_TIME + LIMIT))
    assert count(database) == 1


def test_method_is_constrained(database: Database, history: SqlContactHistory,
                               make_call: NewCallFactory) -> None:
    call = live_call(history, make_call)
    insert = text("INSERT INTO recording_pauses (call_id, started_at, start_offset_ms, "
                  "paused_by, method, auto_resumed, expires_at) VALUES (:call, "
                  "'2026-11-24 10:00:00', 0, 'x', :method, false, '2026-11-24 10:03:00')")
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        connection.execute(insert, {"call": call.id, "method": "telepathy"})
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        connection.execute(insert, {"call": "no-such-call", "method": "dtmf"})
    for method in PauseMethod:
        with database.engine.begin() as connection:
            connection.execute(insert, {"call": call.id, "method": method.value})
            connection.execute(text("UPDATE recording_pauses SET ended_at = started_at"))
    assert count(database) == len(PauseMethod)


def test_due_finds_expired_pauses_and_those_of_ended_calls(
        pauses: SqlPauses, history: SqlContactHistory, make_call: NewCallFactory) -> None:
    expiring, ended, fresh, closed = (live_call(history, make_call) for _ in range(4))
    history.agent_connected(expiring.id, "anna", "PJSIP/anna", BASE_TIME,
                            recording_started_at=BASE_TIME - timedelta(seconds=5))
    pauses.open_or_renew(start(expiring.id, BASE_TIME))
    pauses.open_or_renew(start(ended.id, BASE_TIME + timedelta(seconds=100)))
    pauses.open_or_renew(start(fresh.id, BASE_TIME + timedelta(seconds=100)))
    done = pauses.open_or_renew(start(closed.id, BASE_TIME))
    pauses.close(done.id, PauseEnd(BASE_TIME + timedelta(seconds=1), 2000, "a", None, False))
    call_end = BASE_TIME + timedelta(seconds=150)
    history.finish_call(ended.id, CallEnd(call_end, Outcome.ANSWERED, None))
    now = BASE_TIME + LIMIT   # the first pause's expiry, exactly
    due = {item.pause.call_id: item for item in pauses.due(now)}
    assert set(due) == {expiring.id, ended.id}
    assert (due[expiring.id].channel_id, due[expiring.id].call_ended_at,
            due[expiring.id].recording_started_at) == (
        expiring.channel_id, None, BASE_TIME - timedelta(seconds=5))
    assert due[ended.id].call_ended_at == call_end
    assert pauses.due(now - timedelta(microseconds=1))[0].pause.call_id == ended.id


def test_of_calls_groups_by_call_in_batches(pauses: SqlPauses, history: SqlContactHistory,
                                            make_call: NewCallFactory) -> None:
    calls = [live_call(history, make_call) for _ in range(3)]
    for index, call in enumerate(calls[:2]):
        for span in range(index + 1):
            at = BASE_TIME + timedelta(minutes=span)
            opened = pauses.open_or_renew(start(call.id, at, span * 60_000))
            pauses.close(opened.id, PauseEnd(at + timedelta(seconds=5), span * 60_000 + 5000,
                                             "anna", PauseMethod.DTMF, False))
    found = pauses.of_calls([call.id for call in calls] + [f"x{i}" for i in range(1200)])
    assert {key: [p.start_offset_ms for p in value] for key, value in found.items()} == {
        calls[0].id: [0], calls[1].id: [0, 60_000]}
    assert pauses.of_calls([]) == {}


async def test_async_adapter_runs_the_same_store(pauses: SqlPauses, history: SqlContactHistory,
                                                 make_call: NewCallFactory) -> None:
    call = live_call(history, make_call)
    store = AsyncPauses(pauses, ToThread())
    opened = await store.open_or_renew(start(call.id, BASE_TIME))
    assert await store.current(call.id) == opened
    assert [d.pause for d in await store.due(BASE_TIME + LIMIT)] == [opened]
    closed = await store.close(opened.id, PauseEnd(BASE_TIME, 1000, None, None, True))
    assert await store.of_calls(iter([call.id])) == {call.id: [closed]}


def test_erasure_removes_the_subjects_pauses(cli: Cli, seeder: Seeder, database: Database,
                                             recordings: Path) -> None:
    pauses = SqlPauses(database)
    mine = seeder.call()
    other = seeder.call("+358501112222")
    for call in (mine, other):
        pauses.open_or_renew(start(call.id, call.started_at))
    status, _, err = cli("rights", "erase", "--number", SUBJECT, "--request", "ER-P")
    assert (status, err) == (0, "")
    assert set(pauses.of_calls([mine.id, other.id])) == {other.id}
    assert count(database) == 1


def test_purging_a_call_row_removes_its_pauses(database: Database, pauses: SqlPauses,
                                               history: SqlContactHistory,
                                               make_call: NewCallFactory) -> None:
    gone, kept = live_call(history, make_call), live_call(history, make_call)
    for call in (gone, kept):
        pauses.open_or_renew(start(call.id, BASE_TIME))
    assert SqlPurgeStore(database).delete_rows([gone.id]) == 1
    assert set(pauses.of_calls([gone.id, kept.id])) == {kept.id}
