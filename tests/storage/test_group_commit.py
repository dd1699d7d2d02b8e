"""Group commit on a real database (SQLite and PostgreSQL): several call-path writes of
the database thread share one transaction, and an error never loses the others."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import replace
from datetime import timedelta

import pytest

from callrec.calls.database_thread import DatabaseThread, ThreadedHistory
from callrec.domain.history import CallEnd, Outcome
from callrec.errors import StorageError
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.prepared import commit_group
from tests.conftest import BASE_TIME, NewCallFactory

END = CallEnd(ended_at=BASE_TIME + timedelta(minutes=30), outcome=Outcome.ABANDONED,
              recording=None)


def test_writes_in_a_group_are_seen_by_others_only_once_it_commits(
        database: Database, make_call: NewCallFactory) -> None:
    pinned = SqlContactHistory(database, pinned=True)
    reader = SqlContactHistory(database)
    first, second = make_call(), make_call()
    try:
        with commit_group(database):
            pinned.open_call(first)
            pinned.open_call(second)
            pinned.finish_call(first.id, END)
            assert reader.get(first.id) is None, "not committed yet: one transaction"
        assert reader.get(first.id).outcome is Outcome.ABANDONED  # type: ignore[union-attr]
        assert reader.get(second.id) is not None
    finally:
        database.release_pinned()


def test_an_error_in_a_group_rolls_back_every_write_of_it(
        database: Database, make_call: NewCallFactory) -> None:
    pinned = SqlContactHistory(database, pinned=True)
    kept, first = make_call(), make_call()
    try:
        pinned.open_call(kept)
        with pytest.raises(StorageError), commit_group(database):
            pinned.open_call(first)
            pinned.finish_call(kept.id, END)
            pinned.open_call(replace(make_call(), id=kept.id))  # the id is taken
        assert pinned.get(first.id) is None
        assert pinned.get(kept.id).ended_at is None  # type: ignore[union-attr]
        pinned.open_call(make_call())  # the connection is usable again afterwards
    finally:
        database.release_pinned()


async def test_the_service_thread_writes_a_group_and_a_refused_write_fails_alone(
        database: Database, make_call: NewCallFactory) -> None:
    thread = DatabaseThread(on_close=database.release_pinned,
                            group=functools.partial(commit_group, database), window=30.0)
    history = ThreadedHistory(SqlContactHistory(database, pinned=True), thread)
    answered, abandoned = make_call(), make_call()
    try:
        await history.open_call(answered)
        await history.open_call(abandoned)
        agent = asyncio.ensure_future(history.agent_connected(
            answered.id, "Anna", "PJSIP/anna", BASE_TIME + timedelta(minutes=2)))
        end = asyncio.ensure_future(history.finish_call(abandoned.id, END))
        await asyncio.sleep(0.1)
        assert not agent.done() and not end.done(), "deferred: waiting for company"
        with pytest.raises(StorageError):  # urgent: takes both along, and is refused
            await asyncio.wait_for(history.open_call(replace(make_call(), id=answered.id)),
                                   10.0)
        assert await asyncio.wait_for(agent, 10.0) is True
        await asyncio.wait_for(end, 10.0)
    finally:
        await asyncio.get_running_loop().run_in_executor(None, thread.close)
    reader = SqlContactHistory(database)
    assert reader.get(answered.id).agent == "Anna"  # type: ignore[union-attr]
    assert reader.get(abandoned.id).outcome is Outcome.ABANDONED  # type: ignore[union-attr]
