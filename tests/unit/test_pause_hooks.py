"""The pause triggers of ``callrec serve``: the FastAGI scripts (the agent's feature code on
the agent's channel, the dialplan's automatic hook on the caller's), the hooks that turn
them into PauseService calls on the live call, and the auto-resume loop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from callrec.calls.agi import AgiServer
from callrec.calls.pausing import PauseHooks, end_due_forever
from callrec.domain.call import Call, LiveCalls
from callrec.domain.history import CallRecord, NewCall
from callrec.pause.model import PauseMethod
from callrec.pause.service import PauseService
from tests.unit.test_agi import talk
from tests.unit.test_pause_service import CALL, T0, Audit, Clock, MemoryPauses, Muter

CHANNEL = CALL.channel_id   # the caller's channel, as MemoryPauses.due reports it


async def start_server() -> tuple[AgiServer, list[tuple[str, str, bool]]]:
    reports: list[tuple[str, str, bool]] = []

    async def on_pause(script: str, channel_id: str, by_agent: bool) -> None:
        reports.append((script, channel_id, by_agent))

    async def no_agent(channel_id: str, agent: str, interface: str) -> None:
        raise AssertionError("not an agent report")

    server = AgiServer("127.0.0.1", 0, no_agent, lambda channel_id: None, on_pause)
    await server.start()
    return server, reports


def env(script: str, uniqueid: str) -> bytes:
    return (f"agi_network: yes\nagi_request: agi://127.0.0.1/{script}\n"
            f"agi_uniqueid: {uniqueid}\n\n").encode()


async def test_feature_code_names_the_caller_from_the_agents_channel() -> None:
    server, reports = await start_server()
    asked = await talk(server.port, env("pause", "agent.7"), [b"200 result=1 (caller.1)\n"])
    await server.close()
    assert asked == b"GET VARIABLE CALLREC_CALLER\n"
    assert reports == [("pause", "caller.1", True)]


async def test_feature_code_on_a_channel_without_a_caller_does_nothing() -> None:
    server, reports = await start_server()
    await talk(server.port, env("resume", "agent.7"), [b"200 result=0\n"])
    await server.close()
    assert reports == []


async def test_dialplan_hook_is_the_callers_own_channel_and_asks_nothing() -> None:
    server, reports = await start_server()
    asked = await talk(server.port, env("auto-pause", "caller.1"), [])
    await server.close()
    assert asked == b""
    assert reports == [("auto-pause", "caller.1", False)]


async def test_pause_scripts_without_ami_are_dropped() -> None:
    async def no_agent(channel_id: str, agent: str, interface: str) -> None:
        raise AssertionError

    server = AgiServer("127.0.0.1", 0, no_agent, lambda channel_id: None)
    await server.start()
    asked = await talk(server.port, env("pause", "agent.7"), [])
    await server.close()
    assert asked == b""


def live_call(agent: str | None) -> Call:
    new = NewCall(id="c1", asterisk_id="ast", channel_id=CHANNEL, linkedid=CHANNEL,
                  caller_number_raw="0401234567", caller_number="+358401234567",
                  caller_withheld=False, caller_name_raw=None, service_number="0201234500",
                  service="servicedesk", service_number_known=True, queue="servicedesk",
                  language="fi", started_at=T0 - timedelta(seconds=40))
    call = Call("c1", CHANNEL, asyncio.get_running_loop().create_future(), in_stasis=False,
                record=CallRecord.opened(new), handed_over=True, notice_completed=True,
                recording_path="2026/12/04/c1.wav", agent=agent)
    call.recording_started_at = T0 - timedelta(seconds=30)
    return call


def world(agent: str | None) -> tuple[PauseHooks, MemoryPauses, Muter, Audit]:
    journal: list[str] = []
    store, muter, audit = MemoryPauses(journal), Muter(journal), Audit(journal)
    calls = LiveCalls()
    calls.add(live_call(agent))
    service = PauseService(store, muter, audit, Clock())
    return PauseHooks(service, calls), store, muter, audit


async def test_agent_feature_codes_pause_and_resume_as_that_calls_agent() -> None:
    hooks, store, muter, audit = world("anna")
    await hooks.report("pause", CHANNEL, by_agent=True)
    assert muter.muted == {CHANNEL}
    (pause,) = store.rows.values()
    assert (pause.paused_by, pause.method, pause.start_offset_ms) == ("anna", PauseMethod.DTMF,
                                                                      30_000)
    await hooks.report("resume", CHANNEL, by_agent=True)
    assert muter.muted == set()
    assert [(e.username, e.action, e.purpose) for e in audit.events] == [
        ("anna", "pause", "dtmf"), ("anna", "resume", "dtmf")]


async def test_feature_code_before_any_agent_answered_is_refused() -> None:
    hooks, store, muter, _ = world(None)
    await hooks.report("pause", CHANNEL, by_agent=True)
    assert store.rows == {} and muter.muted == set()


async def test_dialplan_hook_pauses_before_the_agent_answers() -> None:
    hooks, store, muter, audit = world(None)
    await hooks.report("auto-pause", CHANNEL, by_agent=False)
    assert muter.muted == {CHANNEL}
    assert [p.method for p in store.rows.values()] == [PauseMethod.AUTOMATIC]
    await hooks.report("auto-resume", CHANNEL, by_agent=False)
    last = audit.events[-1]
    assert muter.muted == set()
    assert (last.username, last.action, last.purpose) == ("dialplan", "resume", "automatic")


async def test_unknown_call_is_only_logged() -> None:
    hooks, store, muter, _ = world("anna")
    await hooks.report("pause", "someone.else", by_agent=True)
    assert store.rows == {} and muter.muted == set()


async def test_auto_resume_loop_unmutes_a_pause_past_its_maximum() -> None:
    journal: list[str] = []
    store, muter, clock = MemoryPauses(journal), Muter(journal), Clock()
    service = PauseService(store, muter, Audit(journal), clock, timedelta(seconds=5))
    calls = LiveCalls()
    calls.add(live_call("anna"))
    hooks = PauseHooks(service, calls)
    await hooks.report("pause", CHANNEL, by_agent=True)
    loop = asyncio.create_task(end_due_forever(service, seconds=0.01))
    await asyncio.sleep(0.05)
    assert muter.muted == {CHANNEL}       # not due yet
    clock.advance(6)
    for _ in range(100):
        if not muter.muted:
            break
        await asyncio.sleep(0.01)
    loop.cancel()
    (pause,) = store.rows.values()
    assert muter.muted == set() and pause.auto_resumed and pause.end_offset_ms == 36_000
