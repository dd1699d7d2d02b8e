"""callrec serve against a fault-injecting fake ARI: one call's failure is that call's alone.

An Asterisk answering 500 (or something that is not JSON) at any step before the hand-over
sends that caller back to the dialplan's fail-open path at once, and the row is finalised
with an estimated end and a logged reason, while other calls go on untouched. The same with
a real Asterisk and a stopped database: tests/integration/test_failover.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from callrec.domain.history import Outcome
from tests.support.fake_ari import FakeAri
from tests.unit.test_service_fake_ari import (
    ari,
    eventually,
    handover,
    make_config,
    rows,
    running,
    settled,
    write_recording,
)

__all__ = ["ari"]  # the fixture, shared with test_service_fake_ari
FAILOPEN = ("callrec-incoming", "0295504000", "failopen")


@pytest.mark.parametrize("fault", [
    ("POST", "/answer"),
    ("POST", "/variable"),    # the hand-over variable
    ("POST", "/continue"),    # the hand-over itself (the fail-open continue goes through)
])
async def test_ari_answering_500_sends_that_caller_to_fail_open_and_spares_the_other(
        tmp_path: Path, ari: FakeAri, fault: tuple[str, str]) -> None:
    config = make_config(tmp_path, ari)
    async with running(config):
        await settled(ari)
        good = await ari.new_caller("1800.1", "0401234567", "0201234500",
                                    args=["linkedid=1800.1"])
        await eventually(lambda: good.continued_to is not None)
        ari.fail(*fault)
        with capture_logs() as logs:
            bad = await ari.new_caller("1800.2", "0407654321", "0295504000",
                                       args=["linkedid=1800.2"])
            await eventually(lambda: bad.continued_to is not None)
            await eventually(lambda: any(r.outcome for r in rows(config)))
        assert bad.continued_to == FAILOPEN
        write_recording(config, good)
        await ari.hang_up("1800.1")
        await eventually(lambda: all(r.ended_at for r in rows(config)))
    by_channel = {row.channel_id: row for row in rows(config)}
    failed = by_channel["1800.2"]
    assert failed.outcome is Outcome.FAILED_OVER and failed.end_estimated
    assert failed.recording_path is None and failed.ended_at is not None
    assert good.continued_to == ("callrec-queue", "s", 1)
    assert by_channel["1800.1"].outcome is Outcome.ABANDONED
    assert not by_channel["1800.1"].end_estimated
    (entry,) = [e for e in logs if e["event"] == "call_failed"]
    assert "500" in entry["reason"] and entry["caller"] == "sent to the fail-open path"
    assert not call_tasks(), "a call's task outlived the service"


async def test_stopping_mid_call_leaves_no_call_task_behind(
        tmp_path: Path, ari: FakeAri) -> None:
    config = make_config(tmp_path, ari)
    async with running(config) as serving:
        await settled(ari)
        caller = await ari.new_caller("1800.5", "0401234567", "0201234500",
                                      args=["linkedid=1800.5"])
        await eventually(lambda: caller.continued_to is not None)
        assert len(call_tasks()) == 1
    assert serving.done() and serving.result() == 0
    assert not call_tasks()
    (row,) = rows(config)
    assert row.ended_at is None  # still in the queue: finalised by the next callrec


def call_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks()
            if task.get_name().startswith("call:") and not task.done()]


async def test_a_reply_that_is_not_json_is_an_ari_error_and_fails_the_call_over(
        tmp_path: Path, ari: FakeAri) -> None:
    config = make_config(tmp_path, ari)
    async with running(config):
        await settled(ari)
        # No linkedid argument: callrec asks for it, before the row is written.
        ari.non_json.add(("GET", "/ari/channels/1800.3/variable"))
        with capture_logs() as logs:
            caller = await ari.new_caller("1800.3", "0401234567", "0295504000")
            await eventually(lambda: caller.continued_to is not None)
            await eventually(lambda: any(e["event"] == "call_failed" for e in logs))
    assert caller.continued_to == FAILOPEN
    (entry,) = [e for e in logs if e["event"] == "call_failed"]
    assert "not JSON" in entry["reason"]
    assert rows(config) == []  # the row is kept by the journal (another issue's work)


async def test_a_hand_over_that_worked_is_not_undone_by_a_later_failure(
        tmp_path: Path, ari: FakeAri) -> None:
    # After the hand-over the caller is Asterisk's: a failing end (here: ARI gone for the
    # sweep) must never send them anywhere.
    config = make_config(tmp_path, ari)
    async with running(config):
        await settled(ari)
        caller = await ari.new_caller("1800.4", "0401234567", "0201234500",
                                      args=["linkedid=1800.4"])
        await eventually(lambda: caller.continued_to is not None)
        assert handover(caller)[0] == "servicedesk"
        ari.fail("POST", "/continue", times=5)
        write_recording(config, caller)
        await ari.hang_up("1800.4")
        await eventually(lambda: rows(config)[0].ended_at is not None)
    (row,) = rows(config)
    assert caller.continued_to == ("callrec-queue", "s", 1)
    assert row.outcome is Outcome.ABANDONED and not row.end_estimated
