"""A failure inside callrec never costs the caller their call (in-memory ports).

Whatever step fails for one call, a caller still waiting for callrec is sent at once to the
dialplan's fail-open path, the row is finalised with an estimated end and the reason is
logged; other calls are untouched. The same over real ARI requests: test_service_faults.py;
on the real Asterisk: tests/integration/test_failover.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from callrec.calls.service import CallService
from callrec.config import Config
from callrec.domain.history import CallEnd, CallRecord, NewCall, Outcome
from callrec.domain.ports import IncomingCall, LiveChannel, Snapshot
from callrec.errors import StorageError
from tests.unit.fakes import MemoryHistory, MemoryRecordings, ScriptedTelephony
from tests.unit.test_callflow import T0, Clock, config, handle_new, incoming, make_flow

__all__ = ["config"]  # the fixture, shared with test_callflow


class RefusingHistory(MemoryHistory):
    """A database that refuses one kind of write (a PostgreSQL restart, a full disk)."""

    def __init__(self, refuses: str) -> None:
        super().__init__()
        self.refuses = refuses

    async def open_call(self, call: NewCall) -> None:
        if self.refuses == "open":
            raise StorageError("database unreachable: connection refused")
        await super().open_call(call)

    async def finish_call(self, call_id: str, end: CallEnd) -> None:
        if self.refuses == "finish":
            raise StorageError("database unreachable: connection refused")
        await super().finish_call(call_id, end)


def failures(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == "call_failed"]


async def test_a_database_refusing_the_first_write_sends_the_caller_to_fail_open(
        config: Config) -> None:
    telephony, history = ScriptedTelephony(), RefusingHistory("open")
    flow = make_flow(config, telephony, history, MemoryRecordings(), Clock())
    with capture_logs() as logs:
        await asyncio.wait_for(handle_new(flow, incoming()), 1)
    assert telephony.steps == [("fail_open", "1700000000.1", "0295504000")]
    assert history.rows == {}  # keeping the row is the journal's work, not this one's
    (failed,) = failures(logs)
    assert failed["caller"] == "sent to the fail-open path"
    assert "database unreachable" in failed["reason"]
    assert len(flow.calls) == 0


@pytest.mark.parametrize(("step", "steps"), [
    ("answer", ["answer", "fail_open"]),
    ("play", ["answer", "play", "fail_open"]),
    ("queue", ["answer", "play", "queue", "fail_open"]),  # setting the hand-over variable
    ("continue", ["answer", "play", "queue", "fail_open"]),  # variable set, continue fails
])
async def test_ari_failing_at_any_step_before_the_hand_over_fails_the_caller_over(
        config: Config, step: str, steps: list[str]) -> None:
    telephony, history, clock = ScriptedTelephony(fail=step), MemoryHistory(), Clock()
    flow = make_flow(config, telephony, history, MemoryRecordings(), clock)
    clock.now = T0 + timedelta(seconds=3)
    with capture_logs() as logs:
        await asyncio.wait_for(handle_new(flow, incoming()), 1)
    assert [done[0] for done in telephony.steps] == steps
    assert telephony.steps[-1] == ("fail_open", "1700000000.1", "0295504000")
    (row,) = history.rows.values()
    assert row.outcome is Outcome.FAILED_OVER and row.end_estimated
    assert row.ended_at == T0 + timedelta(seconds=3)
    assert row.recording_bytes is None
    (failed,) = failures(logs)
    assert "500" in failed["reason"] and failed["caller"] == "sent to the fail-open path"


async def test_a_fail_open_that_fails_too_is_logged_as_a_stranded_caller(
        config: Config) -> None:
    telephony = ScriptedTelephony(fail="answer", fail_open_fails=True)
    history = MemoryHistory()
    flow = make_flow(config, telephony, history, MemoryRecordings(), Clock())
    with capture_logs() as logs:
        await asyncio.wait_for(handle_new(flow, incoming()), 1)
    (failed,) = failures(logs)
    assert failed["caller"] == "stranded" and failed["log_level"] == "critical"
    assert "connection refused" in failed["fail_open_error"]
    (row,) = history.rows.values()
    assert row.ended_at is not None and row.end_estimated
    assert row.outcome is not Outcome.FAILED_OVER


@pytest.mark.parametrize(("still_there", "caller", "level"), [
    (True, "stranded", "critical"),   # the dialplan lacks the failopen label
    (False, "gone", "error"),         # the caller hung up meanwhile
])
async def test_a_404_to_the_fail_open_tells_a_missing_label_from_a_gone_caller(
        config: Config, still_there: bool, caller: str, level: str) -> None:
    telephony = ScriptedTelephony(fail="play", fail_open_label_missing=True,
                                  gone_after_failure=not still_there)
    flow = make_flow(config, telephony, MemoryHistory(), MemoryRecordings(), Clock())
    with capture_logs() as logs:
        await asyncio.wait_for(handle_new(flow, incoming()), 1)
    (failed,) = failures(logs)
    assert (failed["caller"], failed["log_level"]) == (caller, level)
    assert ("failopen label" in failed.get("fail_open_error", "")) is still_there


async def test_a_caller_who_already_left_is_not_failed_over(config: Config) -> None:
    telephony, history = ScriptedTelephony(), RefusingHistory("finish")
    flow = make_flow(config, telephony, history, MemoryRecordings(), Clock())
    task = asyncio.create_task(handle_new(flow, incoming()))
    await asyncio.sleep(0.01)
    with capture_logs() as logs:
        telephony.hang_up("1700000000.1", T0 + timedelta(seconds=30))
        await asyncio.wait_for(task, 1)
    assert all(step[0] != "fail_open" for step in telephony.steps)
    assert [e["event"] for e in logs if e["log_level"] == "error"] == [
        "call_failed", "call_row_left_open"]
    assert len(flow.calls) == 0


async def test_one_failing_call_leaves_the_others_untouched(config: Config) -> None:
    class FailsForOne(ScriptedTelephony):
        async def answer(self, channel_id: str) -> None:
            self.fail = "answer" if channel_id == "bad.1" else None
            await super().answer(channel_id)

    telephony, history, clock = FailsForOne(), MemoryHistory(), Clock()
    flow = make_flow(config, telephony, history, MemoryRecordings(), clock)
    good = IncomingCall("good.1", "node-a", "0401234567", None, "0201234500")
    bad = IncomingCall("bad.1", "node-a", "0407654321", None, "0295504000")
    tasks = [asyncio.create_task(handle_new(flow, call)) for call in (good, bad)]
    await asyncio.wait_for(tasks[1], 1)
    assert "good.1" in flow.calls and "bad.1" not in flow.calls
    await flow.agent_connected("good.1", "agent1", "PJSIP/agent1")
    telephony.hang_up("good.1", T0 + timedelta(seconds=50))
    await asyncio.wait_for(tasks[0], 1)
    rows = {row.channel_id: row for row in history.rows.values()}
    assert rows["bad.1"].outcome is Outcome.FAILED_OVER
    assert rows["good.1"].outcome is Outcome.ANSWERED and not rows["good.1"].end_estimated
    assert rows["good.1"].ended_at == T0 + timedelta(seconds=50)


async def test_a_defect_that_is_no_callrec_error_is_failed_over_and_named(
        config: Config) -> None:
    class Buggy(ScriptedTelephony):
        async def play(self, channel_id: str, sound: str, language: str,
                       playback_id: str) -> None:
            raise KeyError("playbacks")

    telephony, history = Buggy(), MemoryHistory()
    flow = make_flow(config, telephony, history, MemoryRecordings(), Clock())
    with capture_logs() as logs:
        await asyncio.wait_for(handle_new(flow, incoming()), 1)
    (failed,) = failures(logs)
    assert failed["reason"].startswith("KeyError")
    assert telephony.steps[-1][0] == "fail_open"



async def test_a_resync_while_the_database_is_away_keeps_serving_callers(
        config: Config) -> None:
    class NoHistory(MemoryHistory):
        async def unfinished_calls(self, asterisk_id: str) -> list[CallRecord]:
            raise StorageError("database unreachable: connection refused")

        async def open_call(self, call: NewCall) -> None:
            raise StorageError("database unreachable: connection refused")

    class OneWaiting(ScriptedTelephony):
        async def snapshot(self) -> Snapshot:
            waiting = incoming()
            return Snapshot("node-a", {waiting.channel_id: LiveChannel(waiting, True)})

    telephony, history = OneWaiting(), NoHistory()
    flow = make_flow(config, telephony, history, MemoryRecordings(), Clock())
    service = CallService(flow, telephony, history)
    with capture_logs() as logs:
        async with service.running():
            await asyncio.wait_for(service.on_connected(), 1)
    assert "resync_without_history" in [entry["event"] for entry in logs]
    assert telephony.steps == [("fail_open", "1700000000.1", "0295504000")]
