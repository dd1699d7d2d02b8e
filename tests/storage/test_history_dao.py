from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, text

from callrec.domain.history import (
    CallEnd,
    CallRecord,
    ContactHistory,
    NewCall,
    Outcome,
    RecordingFacts,
)
from callrec.errors import InputError, StorageError
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.migrate import upgrade
from tests.conftest import BASE_TIME, NewCallFactory, _fresh_postgres_database

RECORDING = RecordingFacts(path="2026/11/24/abc.wav", bytes=1_234_567, seconds=61.25,
                           sha256="a" * 64)
END = CallEnd(ended_at=BASE_TIME + timedelta(hours=1), outcome=Outcome.ANSWERED,
              recording=RECORDING)


def test_implements_every_method_of_the_port_with_the_same_signature() -> None:
    port_methods = {name for name, _ in inspect.getmembers(ContactHistory, inspect.isfunction)
                    if not name.startswith("_")}
    assert port_methods == {"open_call", "notice_completed", "queued_unrecorded",
                            "agent_connected", "finish_call",
                            "get", "find_by_channel", "unfinished_calls", "search"}
    for name in port_methods:
        assert (inspect.signature(getattr(SqlContactHistory, name))
                == inspect.signature(getattr(ContactHistory, name))), name


def test_new_call_round_trips_with_defaults(history: SqlContactHistory,
                                            make_call: NewCallFactory) -> None:
    call = make_call(started_at=datetime(2026, 11, 24, 22, 8, 14, 123456, tzinfo=UTC))
    history.open_call(call)
    record = history.get(call.id)
    assert record is not None
    for field in fields(NewCall):
        assert getattr(record, field.name) == getattr(call, field.name), field.name
    assert record.started_at.tzinfo is UTC
    assert record.started_at.microsecond == 123456
    assert (record.notice_completed, record.end_estimated, record.legal_hold) == (
        False, False, False)
    assert record.ended_at is record.outcome is record.agent is record.recording_path is None
    assert record.recording_deleted_at is record.restricted_at is None


def test_times_in_any_zone_come_back_as_the_same_instant_in_utc(
        history: SqlContactHistory, make_call: NewCallFactory) -> None:
    helsinki = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Helsinki"))
    call = make_call(started_at=helsinki)
    history.open_call(call)
    record = history.get(call.id)
    assert record is not None
    assert record.started_at == helsinki
    assert record.started_at.utcoffset() == timedelta(0)
    assert record.started_at.hour == 9


def test_naive_times_are_refused(history: SqlContactHistory,
                                 make_call: NewCallFactory) -> None:
    call = make_call(started_at=datetime(2026, 11, 24, 12, 0))
    with pytest.raises(StorageError, match="naive datetime"):
        history.open_call(call)
    assert history.get(call.id) is None


def test_duplicate_id_is_a_storage_error(history: SqlContactHistory,
                                         make_call: NewCallFactory) -> None:
    call = make_call()
    history.open_call(call)
    original = history.get(call.id)
    with pytest.raises(StorageError, match="database"):
        history.open_call(make_call(id=call.id, caller_name_raw="Impostor"))
    assert history.search() == [original]


def test_hostile_caller_ids_round_trip_intact(history: SqlContactHistory,
                                              make_call: NewCallFactory,
                                              hostile_caller_ids: tuple[str, ...]) -> None:
    calls = [make_call(caller_number_raw=text, caller_number=None, caller_name_raw=text,
                       channel_id=text) for text in hostile_caller_ids]
    for call in calls:
        history.open_call(call)
        history.agent_connected(call.id, call.channel_id, call.channel_id, call.started_at)
    for call in calls:
        record = history.get(call.id)
        assert record is not None
        assert record.caller_number_raw == call.caller_number_raw
        assert record.caller_name_raw == call.caller_name_raw
        assert record.agent == record.agent_interface == call.channel_id
        assert history.find_by_channel(call.channel_id) == record
    assert len(history.search(limit=1000)) == len(hostile_caller_ids)


def test_withheld_caller(history: SqlContactHistory, make_call: NewCallFactory) -> None:
    call = make_call(caller_number_raw=None, caller_number=None, caller_withheld=True,
                     caller_name_raw=None)
    history.open_call(call)
    record = history.get(call.id)
    assert record is not None
    assert (record.caller_number_raw, record.caller_number, record.caller_withheld) == (
        None, None, True)


def test_notice_completed(history: SqlContactHistory, make_call: NewCallFactory) -> None:
    call = make_call()
    history.open_call(call)
    history.notice_completed(call.id, "2026/11/24/x.wav")
    record = history.get(call.id)
    assert record is not None
    assert (record.notice_completed, record.recording_path) == (True, "2026/11/24/x.wav")
    history.notice_completed("0" * 32, "elsewhere.wav")
    assert history.get("0" * 32) is None


def test_queued_unrecorded_keeps_the_reason_and_no_recording(
        history: SqlContactHistory, make_call: NewCallFactory) -> None:
    call = make_call()
    history.open_call(call)
    history.queued_unrecorded(call.id, "objection")
    record = history.get(call.id)
    assert record is not None
    assert (record.recording_skipped_reason, record.recording_path,
            record.notice_completed) == ("objection", None, False)


def test_first_agent_wins(history: SqlContactHistory, make_call: NewCallFactory) -> None:
    call = make_call()
    history.open_call(call)
    first_at = BASE_TIME + timedelta(minutes=5)
    assert history.agent_connected(call.id, "Anna", "PJSIP/anna", first_at) is True
    assert history.agent_connected(call.id, "Bertil", "PJSIP/bertil",
                                   first_at + timedelta(seconds=9)) is True
    record = history.get(call.id)
    assert record is not None
    assert (record.agent, record.agent_interface, record.answered_at) == (
        "Anna", "PJSIP/anna", first_at)


def test_agent_for_unknown_call(history: SqlContactHistory) -> None:
    assert history.agent_connected("f" * 32, "Anna", "PJSIP/anna", BASE_TIME) is False
    assert history.get("f" * 32) is None


def test_finish_call_stores_end_and_recording(history: SqlContactHistory,
                                              make_call: NewCallFactory) -> None:
    call = make_call()
    history.open_call(call)
    history.finish_call(call.id, END)
    record = history.get(call.id)
    assert record is not None
    assert (record.ended_at, record.outcome, record.end_estimated) == (
        END.ended_at, Outcome.ANSWERED, False)
    assert (record.recording_path, record.recording_bytes, record.recording_seconds,
            record.recording_sha256) == ("2026/11/24/abc.wav", 1_234_567, 61.25, "a" * 64)


def test_finish_without_recording_keeps_the_notice_path(history: SqlContactHistory,
                                                        make_call: NewCallFactory) -> None:
    call = make_call()
    history.open_call(call)
    history.notice_completed(call.id, "2026/11/24/n.wav")
    history.finish_call(call.id, CallEnd(ended_at=BASE_TIME + timedelta(hours=1),
                                         outcome=Outcome.ABANDONED, recording=None,
                                         end_estimated=True))
    record = history.get(call.id)
    assert record is not None
    assert (record.outcome, record.end_estimated, record.recording_path) == (
        Outcome.ABANDONED, True, "2026/11/24/n.wav")
    assert record.recording_bytes is record.recording_sha256 is None


def test_agent_write_can_carry_the_hand_over(history: SqlContactHistory,
                                             make_call: NewCallFactory) -> None:
    call = make_call()
    history.open_call(call)
    assert history.agent_connected(call.id, "Anna", "PJSIP/anna", BASE_TIME,
                                   recording_path="2026/11/24/h.wav") is True
    record = history.get(call.id)
    assert record is not None
    assert (record.agent, record.notice_completed, record.recording_path) == (
        "Anna", True, "2026/11/24/h.wav")


def test_finish_can_carry_the_hand_over(history: SqlContactHistory,
                                        make_call: NewCallFactory) -> None:
    call = make_call()
    history.open_call(call)
    history.finish_call(call.id, CallEnd(ended_at=BASE_TIME + timedelta(hours=1),
                                         outcome=Outcome.ABANDONED, recording=None,
                                         notice_completed=True,
                                         recording_path="2026/11/24/f.wav"))
    record = history.get(call.id)
    assert record is not None
    assert (record.outcome, record.notice_completed, record.recording_path) == (
        Outcome.ABANDONED, True, "2026/11/24/f.wav")


def test_a_finished_row_never_changes(history: SqlContactHistory,
                                      make_call: NewCallFactory) -> None:
    call = make_call()
    history.open_call(call)
    history.finish_call(call.id, CallEnd(ended_at=BASE_TIME + timedelta(minutes=30),
                                         outcome=Outcome.NOTICE_HANGUP, recording=None))
    finished = history.get(call.id)
    history.finish_call(call.id, END)
    history.notice_completed(call.id, "late.wav")
    assert history.agent_connected(call.id, "Anna", "PJSIP/anna", BASE_TIME,
                                   recording_path="late.wav") is True
    assert history.get(call.id) == finished


def test_finish_unknown_call_creates_nothing(history: SqlContactHistory) -> None:
    history.finish_call("e" * 32, END)
    assert history.get("e" * 32) is None
    assert history.search() == []


def test_find_by_channel_prefers_the_newest(history: SqlContactHistory,
                                            make_call: NewCallFactory) -> None:
    older = make_call(channel_id="1764000000.7")
    newer = make_call(channel_id="1764000000.7", asterisk_id="other-node")
    history.open_call(newer)
    history.open_call(older)
    found = history.find_by_channel("1764000000.7")
    assert found is not None and found.id == newer.id
    assert history.find_by_channel("no-such-channel") is None


def test_unfinished_calls_per_node_oldest_first(history: SqlContactHistory,
                                                make_call: NewCallFactory) -> None:
    first, done, second = make_call(), make_call(), make_call()
    elsewhere = make_call(asterisk_id="other-node")
    for call in (second, done, first, elsewhere):
        history.open_call(call)
    history.finish_call(done.id, END)
    assert [record.id for record in history.unfinished_calls(first.asterisk_id)] == [
        first.id, second.id]
    assert [record.id for record in history.unfinished_calls("other-node")] == [elsewhere.id]
    assert history.unfinished_calls("unknown-node") == []


def test_search_newest_first_with_filters(history: SqlContactHistory,
                                          make_call: NewCallFactory) -> None:
    mine = [make_call() for _ in range(3)]
    other = make_call(caller_number_raw="0501112222", caller_number="+358501112222")
    for call in (mine[1], other, mine[0], mine[2]):
        history.open_call(call)
    by_time = sorted([*mine, other], key=lambda call: call.started_at, reverse=True)
    assert _ids(history.search()) == [call.id for call in by_time]
    assert _ids(history.search(number="+358401234567")) == [c.id for c in reversed(mine)]
    assert _ids(history.search(number="+358401234567", limit=2)) == [mine[2].id, mine[1].id]
    assert _ids(history.search(since=mine[1].started_at)) == [
        call.id for call in by_time if call.started_at >= mine[1].started_at]
    assert history.search(number="+358409999999") == []
    assert history.search(since=by_time[0].started_at + timedelta(microseconds=1)) == []


def test_search_since_in_another_zone(history: SqlContactHistory,
                                      make_call: NewCallFactory) -> None:
    call = make_call(started_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    history.open_call(call)
    helsinki = ZoneInfo("Europe/Helsinki")
    assert _ids(history.search(since=datetime(2026, 11, 24, 12, 0, tzinfo=helsinki))) == [
        call.id]
    assert history.search(since=datetime(2026, 11, 24, 12, 0, 1, tzinfo=helsinki)) == []


@pytest.mark.parametrize("limit", [0, -1, 100_001])
def test_search_limit_range(history: SqlContactHistory, limit: int) -> None:
    with pytest.raises(InputError, match=str(limit)):
        history.search(limit=limit)


def test_concurrent_writers(history: SqlContactHistory, make_call: NewCallFactory) -> None:
    calls = [make_call() for _ in range(40)]
    errors: list[BaseException] = []

    def work(chunk: list[NewCall]) -> None:
        try:
            for call in chunk:
                history.open_call(call)
                history.agent_connected(call.id, "Anna", "PJSIP/anna", call.started_at)
                history.finish_call(call.id, END)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(calls[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    records = history.search(limit=1000)
    assert sorted(_ids(records)) == sorted(call.id for call in calls)
    assert all(record.agent == "Anna" and record.outcome is Outcome.ANSWERED
               for record in records)


def _ids(records: list[CallRecord]) -> list[str]:
    return [record.id for record in records]


def test_pinned_writes_keep_one_connection(database: Database,
                                           make_call: NewCallFactory) -> None:
    checkouts: list[object] = []
    event.listen(database.engine, "checkout", lambda *args: checkouts.append(args[0]))
    pinned = SqlContactHistory(database, pinned=True)
    calls = [make_call() for _ in range(5)]
    for call in calls:
        pinned.open_call(call)
        pinned.finish_call(call.id, END)
    assert len(checkouts) == 1, "the pinned connection is taken from the pool once"
    database.release_pinned()
    assert [pinned.get(call.id).outcome for call in calls] == [Outcome.ANSWERED] * 5  # type: ignore[union-attr]
    unpinned = SqlContactHistory(database)
    checkouts.clear()
    unpinned.open_call(make_call())
    assert len(checkouts) == 1


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _fresh_postgres_database()


@pytest.mark.postgres
def test_pinned_connection_lost_is_replaced(postgres_url: str,
                                            make_call: NewCallFactory) -> None:
    upgrade(postgres_url)
    database = Database.open(postgres_url)
    try:
        pinned = SqlContactHistory(database, pinned=True)
        pinned.open_call(make_call())
        with database.driver_connection(pinned=True) as connection:
            backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            connection.rollback()
        with database.connection() as other:  # PostgreSQL restarted, say
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        with contextlib.suppress(StorageError):  # the write on the dead connection may fail
            pinned.open_call(make_call())
        after = make_call()
        pinned.open_call(after)                  # ...but the next one reconnects
        assert pinned.get(after.id) is not None
        database.release_pinned()
    finally:
        database.dispose()
