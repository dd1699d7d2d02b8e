"""The call flow against in-memory ports: every outcome, resumption and hostile input."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callrec.config import Config, parse_config
from callrec.domain.callflow import CallFlow, CallFlowSettings
from callrec.domain.history import CallEnd, CallRecord, NewCall, Outcome, RecordingFacts
from callrec.domain.ports import IncomingCall, LiveChannel
from tests.unit.fakes import (
    MemoryHistory,
    MemoryObjections,
    MemoryRecordings,
    ScriptedTelephony,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def config() -> Config:
    raw = tomllib.loads((ROOT / "callrec.example.toml").read_text())
    return parse_config(raw, base_dir=ROOT)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def make_flow(config: Config, telephony: ScriptedTelephony, history: MemoryHistory,
              recordings: MemoryRecordings, clock: Clock,
              objections: MemoryObjections | None = None) -> CallFlow:
    ids = (f"{n:032x}" for n in itertools.count(1))
    flow = CallFlow(CallFlowSettings(config.service_for_number, config.default_region),
                    telephony, history, recordings, objections or MemoryObjections(), clock,
                    new_id=lambda: next(ids))
    telephony.flow = flow
    return flow


async def handle_new(flow: CallFlow, call: IncomingCall) -> None:
    """What the call service does when a caller arrives."""
    running = flow.arrived(call)
    assert running is not None
    await flow.run(running)


async def resume(flow: CallFlow, row: CallRecord, live: LiveChannel | None) -> None:
    """What the call service does with an unfinished row after a restart."""
    await flow.resume(flow.take_over(row, live), gone=live is None)


async def open_row_only(flow: CallFlow, call: IncomingCall) -> None:
    """The row of a call whose callrec died right after writing it."""
    service, known = flow._settings.route(call.dialled)
    running = flow.arrived(call)
    assert running is not None
    await flow._open_row(running, call, service, known)
    flow.calls.remove(running)


def incoming(number: str | None = "0401234567", dialled: str = "0295504000",
             name: str | None = "Matti") -> IncomingCall:
    return IncomingCall(channel_id="1700000000.1", asterisk_id="node-a",
                        caller_number=number, caller_name=name, dialled=dialled)


async def run_call(config: Config, telephony: ScriptedTelephony, call: IncomingCall,
                   recordings: MemoryRecordings | None = None,
                   agent: tuple[str, str] | None = None,
                   objections: MemoryObjections | None = None) -> MemoryHistory:
    history, clock = MemoryHistory(), Clock()
    recordings = recordings or MemoryRecordings()
    flow = make_flow(config, telephony, history, recordings, clock, objections)
    task = asyncio.create_task(handle_new(flow, call))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    if agent:
        clock.now = T0 + timedelta(seconds=12)
        await flow.agent_connected(call.channel_id, *agent)
    telephony.hang_up(call.channel_id, T0 + timedelta(seconds=40))
    await asyncio.wait_for(task, 1)
    return history


async def test_answered_call_is_noticed_queued_recorded_and_finalised(config: Config) -> None:
    telephony = ScriptedTelephony()
    recordings = MemoryRecordings()
    relative = f"2026/11/24/{1:032x}.wav"
    recordings.written[relative] = RecordingFacts(relative, 64044, 4.0, "ab" * 32)
    history = await run_call(config, telephony, incoming(), recordings,
                             agent=("agent2", "PJSIP/agent2"))

    (row,) = history.rows.values()
    assert telephony.steps == [
        ("answer", "1700000000.1"),
        ("play", "1700000000.1", "callrec/notice", "fi"),
        ("queue", "1700000000.1", "switchboard", "/spool/" + relative, "fi"),
    ]
    assert (row.caller_number, row.caller_number_raw) == ("+358401234567", "0401234567")
    assert (row.service, row.queue, row.service_number) == ("switchboard", "switchboard",
                                                             "0295504000")
    assert row.linkedid == "linked-1700000000.1"
    assert row.started_at == T0 and row.answered_at == T0 + timedelta(seconds=12)
    assert row.ended_at == T0 + timedelta(seconds=40)
    assert (row.outcome, row.agent, row.agent_interface) == (Outcome.ANSWERED, "agent2",
                                                             "PJSIP/agent2")
    assert (row.recording_path, row.recording_bytes, row.recording_sha256) == (
        relative, 64044, "ab" * 32)
    # The zero of pause offsets: the hand-over, when [callrec-queue] starts MixMonitor.
    assert row.recording_started_at is not None
    assert row.started_at <= row.recording_started_at <= row.answered_at


async def test_hangup_during_notice_keeps_a_row_and_no_recording(config: Config) -> None:
    telephony = ScriptedTelephony(notice_completes=False)
    history = await run_call(config, telephony, incoming())
    (row,) = history.rows.values()
    assert row.outcome is Outcome.NOTICE_HANGUP
    assert row.recording_path is None and row.recording_bytes is None
    assert not row.notice_completed
    assert [step[0] for step in telephony.steps] == ["answer", "play"]


async def test_hangup_before_answer_is_a_notice_hangup(config: Config) -> None:
    history = await run_call(config, ScriptedTelephony(gone_on_answer=True), incoming())
    (row,) = history.rows.values()
    assert row.outcome is Outcome.NOTICE_HANGUP and row.ended_at is not None


async def test_caller_leaving_the_queue_unanswered_is_abandoned(config: Config) -> None:
    history = await run_call(config, ScriptedTelephony(), incoming())
    (row,) = history.rows.values()
    assert row.outcome is Outcome.ABANDONED and row.agent is None
    assert row.notice_completed and row.recording_path is not None


async def test_withheld_caller_gets_a_row_with_no_number_and_a_flag(config: Config) -> None:
    history = await run_call(config, ScriptedTelephony(), incoming(number="anonymous"))
    (row,) = history.rows.values()
    assert row.caller_withheld and row.caller_number is None


async def test_unknown_dialled_number_goes_to_the_default_service(config: Config) -> None:
    history = await run_call(config, ScriptedTelephony(), incoming(dialled="0999"))
    (row,) = history.rows.values()
    assert (row.service, row.queue, row.service_number) == ("servicedesk", "servicedesk",
                                                             "0999")
    assert row.service_number_known is False


async def test_number_language_overrides_the_service_language(config: Config) -> None:
    telephony = ScriptedTelephony()
    history = await run_call(config, telephony, incoming(dialled="0295504001"))
    (row,) = history.rows.values()
    assert row.language == "sv"
    assert ("play", "1700000000.1", "callrec/notice", "sv") in telephony.steps


HOSTILE = ['"; rm -rf / #', "$(reboot)", "'; DROP TABLE calls; --", "x" * 300,
           "Пётр 李 محمد", "a;b|c&d`e`", "\x1b[31mred"]


@pytest.mark.parametrize("hostile", HOSTILE)
async def test_hostile_caller_id_is_stored_intact_and_reaches_no_argument(
        config: Config, hostile: str) -> None:
    telephony = ScriptedTelephony()
    history = await run_call(config, telephony, incoming(number=hostile, name=hostile))
    (row,) = history.rows.values()
    assert row.caller_number_raw == hostile and row.caller_name_raw == hostile
    assert row.caller_number is None
    for step in telephony.steps:
        assert all(hostile not in part for part in step)
    assert row.recording_path is not None and row.recording_path.endswith(f"{row.id}.wav")


async def test_resume_after_restart_finalises_a_call_that_ended_meanwhile(
        config: Config) -> None:
    history, clock, recordings = MemoryHistory(), Clock(), MemoryRecordings()
    telephony = ScriptedTelephony()
    flow = make_flow(config, telephony, history, recordings, clock)
    task = asyncio.create_task(handle_new(flow, incoming()))
    await asyncio.sleep(0.01)
    task.cancel()  # callrec "dies" with the caller in the queue
    (row,) = history.rows.values()
    # The hand-over is not written when it happens: the recording on disk tells of it.
    assert row.recording_path is None and not row.notice_completed
    relative = f"2026/11/24/{row.id}.wav"
    recordings.mtimes[relative] = T0 + timedelta(seconds=95)
    recordings.written[relative] = RecordingFacts(relative, 1, 1.0, "c" * 64)

    await resume(make_flow(config, telephony, history, recordings, clock), row, live=None)
    row = history.rows[row.id]
    assert row.ended_at == T0 + timedelta(seconds=95) and row.end_estimated
    assert row.outcome is Outcome.ABANDONED and row.recording_sha256 == "c" * 64
    assert row.notice_completed and row.recording_path == relative


async def test_resume_of_a_gone_caller_with_no_recording_is_a_notice_hangup(
        config: Config) -> None:
    history, clock, recordings = MemoryHistory(), Clock(), MemoryRecordings()
    flow = make_flow(config, ScriptedTelephony(), history, recordings, clock)
    await open_row_only(flow, incoming())  # callrec died during the notice
    (row,) = history.rows.values()
    await resume(make_flow(config, ScriptedTelephony(), history, recordings, clock), row, None)
    row = history.rows[row.id]
    assert row.outcome is Outcome.NOTICE_HANGUP and row.end_estimated
    assert row.recording_path is None and not row.notice_completed


async def test_resume_in_queue_adopts_the_channel_and_learns_the_agent(config: Config) -> None:
    history, clock, recordings = MemoryHistory(), Clock(), MemoryRecordings()
    first = ScriptedTelephony()
    task = asyncio.create_task(handle_new(make_flow(config, first, history, recordings, clock),
                                          incoming()))
    await asyncio.sleep(0.01)
    task.cancel()
    (row,) = history.rows.values()

    second = ScriptedTelephony(agent=("agent2", "PJSIP/agent2"))
    live = LiveChannel(incoming(), in_our_stasis=False)
    resumed = asyncio.create_task(resume(make_flow(config, second, history, recordings, clock),
                                         row, live))
    await asyncio.sleep(0.01)
    second.hang_up(row.channel_id, T0 + timedelta(seconds=60))
    await asyncio.wait_for(resumed, 1)
    row = history.rows[row.id]
    assert ("adopt", row.channel_id) in second.steps
    assert row.outcome is Outcome.ANSWERED and row.agent == "agent2"
    assert row.notice_completed and row.recording_path == f"2026/11/24/{row.id}.wav"
    assert row.ended_at == T0 + timedelta(seconds=60) and not row.end_estimated


async def test_resume_in_notice_phase_plays_the_notice_again(config: Config) -> None:
    history, clock, recordings = MemoryHistory(), Clock(), MemoryRecordings()
    first = ScriptedTelephony()
    flow = make_flow(config, first, history, recordings, clock)
    await open_row_only(flow, incoming())  # the row exists; the notice never finished
    (row,) = history.rows.values()

    second = ScriptedTelephony()
    resumed = asyncio.create_task(resume(make_flow(config, second, history, recordings, clock),
                                         row, LiveChannel(incoming(), in_our_stasis=True)))
    await asyncio.sleep(0.01)
    second.hang_up(row.channel_id, T0 + timedelta(seconds=30))
    await asyncio.wait_for(resumed, 1)
    assert [step[0] for step in second.steps] == ["answer", "play", "queue"]
    assert history.rows[row.id].outcome is Outcome.ABANDONED


async def test_agent_report_for_an_unknown_channel_changes_nothing(config: Config) -> None:
    history = MemoryHistory()
    flow = make_flow(config, ScriptedTelephony(), history, MemoryRecordings(), Clock())
    await flow.agent_connected("no-such-channel", "agent1", "PJSIP/agent1")
    assert history.rows == {}


def with_on_objection(config: Config, service: str, setting: str) -> Config:
    services = dict(config.services)
    services[service] = dataclasses.replace(services[service], on_objection=setting)
    return dataclasses.replace(config, services=services)


async def test_objector_on_a_do_not_record_service_is_queued_unrecorded(
        config: Config) -> None:
    config = with_on_objection(config, "switchboard", "do_not_record")
    telephony = ScriptedTelephony()
    history = await run_call(config, telephony, incoming(), agent=("agent2", "PJSIP/agent2"),
                             objections=MemoryObjections("+358401234567"))
    (row,) = history.rows.values()
    assert telephony.steps == [("answer", "1700000000.1"),
                               ("queue", "1700000000.1", "switchboard", "", "fi")]
    assert row.recording_skipped_reason == "objection" and row.recording_path is None
    assert not row.notice_completed and row.outcome is Outcome.ANSWERED


async def test_objector_who_gives_up_unrecorded_in_the_queue_is_abandoned(
        config: Config) -> None:
    config = with_on_objection(config, "switchboard", "do_not_record")
    history = await run_call(config, ScriptedTelephony(), incoming(),
                             objections=MemoryObjections("+358401234567"))
    (row,) = history.rows.values()
    assert row.outcome is Outcome.ABANDONED and row.recording_path is None


@pytest.mark.parametrize(("setting", "objectors"), [
    ("record", ("+358401234567",)),      # the service records objectors anyway
    ("do_not_record", ("+358409999999",)),  # somebody else objected
])
async def test_objection_changes_nothing_unless_it_applies(
        config: Config, setting: str, objectors: tuple[str, ...]) -> None:
    config = with_on_objection(config, "switchboard", setting)
    telephony = ScriptedTelephony()
    history = await run_call(config, telephony, incoming(),
                             objections=MemoryObjections(*objectors))
    (row,) = history.rows.values()
    assert [step[0] for step in telephony.steps] == ["answer", "play", "queue"]
    assert row.recording_path is not None and row.recording_skipped_reason is None


async def test_agent_report_for_a_running_call_needs_no_lookup(config: Config) -> None:
    class CountingHistory(MemoryHistory):
        lookups = 0

        async def find_by_channel(self, channel_id: str) -> CallRecord | None:
            self.lookups += 1
            return await super().find_by_channel(channel_id)

    history, telephony = CountingHistory(), ScriptedTelephony()
    flow = make_flow(config, telephony, history, MemoryRecordings(), Clock())
    task = asyncio.create_task(handle_new(flow, incoming()))
    await asyncio.sleep(0.01)
    await flow.agent_connected("1700000000.1", "agent2", "PJSIP/agent2")
    assert history.lookups == 0
    telephony.hang_up("1700000000.1", T0 + timedelta(seconds=30))
    await asyncio.wait_for(task, 1)
    await flow.agent_connected("1700000000.1", "agent1", "PJSIP/agent1")  # after the end
    assert history.lookups == 1
    (row,) = history.rows.values()
    assert row.agent == "agent2" and row.outcome is Outcome.ANSWERED


async def test_hangup_while_the_agent_is_being_written_still_counts_as_answered(
        config: Config) -> None:
    # The flow keeps the call's state in memory instead of reading the row back at the
    # end; an agent report whose write is still under way must already count.
    class SlowAgentWrite(MemoryHistory):
        def __init__(self) -> None:
            super().__init__()
            self.release = asyncio.Event()

        async def agent_connected(self, call_id: str, agent: str, agent_interface: str,
                                  at: datetime, recording_path: str | None = None,
                                  recording_started_at: datetime | None = None) -> bool:
            await self.release.wait()
            return await super().agent_connected(call_id, agent, agent_interface, at,
                                                 recording_path, recording_started_at)

    history, telephony = SlowAgentWrite(), ScriptedTelephony()
    flow = make_flow(config, telephony, history, MemoryRecordings(), Clock())
    task = asyncio.create_task(handle_new(flow, incoming()))
    await asyncio.sleep(0.01)
    report = asyncio.create_task(flow.agent_connected("1700000000.1", "agent2",
                                                      "PJSIP/agent2"))
    await asyncio.sleep(0.01)
    telephony.hang_up("1700000000.1", T0 + timedelta(seconds=30))
    await asyncio.wait_for(task, 1)
    history.release.set()
    await asyncio.wait_for(report, 1)
    (row,) = history.rows.values()
    assert row.outcome is Outcome.ANSWERED and row.agent == "agent2"



class CountingWrites(MemoryHistory):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    async def open_call(self, call: NewCall) -> None:
        self.writes.append("open")
        await super().open_call(call)

    async def queued_unrecorded(self, call_id: str, reason: str) -> None:
        self.writes.append("unrecorded")
        await super().queued_unrecorded(call_id, reason)

    async def agent_connected(self, call_id: str, agent: str, agent_interface: str,
                              at: datetime, recording_path: str | None = None,
                              recording_started_at: datetime | None = None) -> bool:
        self.writes.append("agent")
        return await super().agent_connected(call_id, agent, agent_interface, at,
                                             recording_path, recording_started_at)

    async def finish_call(self, call_id: str, end: CallEnd) -> None:
        self.writes.append("finish")
        await super().finish_call(call_id, end)


@pytest.mark.parametrize(("agent", "writes"), [
    (("agent2", "PJSIP/agent2"), ["open", "agent", "finish"]),
    (None, ["open", "finish"]),
])
async def test_a_call_costs_two_or_three_history_writes(
        config: Config, agent: tuple[str, str] | None, writes: list[str]) -> None:
    # Each write is a database transaction on the call path (docs/benchmarks.md): the
    # hand-over to the queue rides on the agent's write or on the last one.
    history, telephony, recordings = CountingWrites(), ScriptedTelephony(), MemoryRecordings()
    flow = make_flow(config, telephony, history, recordings, Clock())
    task = asyncio.create_task(handle_new(flow, incoming()))
    await asyncio.sleep(0.01)
    (row,) = history.rows.values()
    if agent:
        await flow.agent_connected(row.channel_id, *agent)
        assert history.rows[row.id].recording_path == f"2026/11/24/{row.id}.wav"
    telephony.hang_up(row.channel_id, T0 + timedelta(seconds=30))
    await asyncio.wait_for(task, 1)
    assert history.writes == writes
    row = history.rows[row.id]
    assert row.notice_completed and row.recording_path == f"2026/11/24/{row.id}.wav"
    assert row.recording_started_at is not None   # with the agent or at the end
