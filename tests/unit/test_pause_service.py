"""PauseService with fakes: the rules, the record, the audit before the mute, renewals, the
automatic end at the maximum and at hang-up, and what a failing AMI leaves behind."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from callrec.access.chain import AccessAction, AccessEvent
from callrec.errors import AccessDenied, AmiActionFailed, AmiConnectionError, PauseRefused
from callrec.pause.model import (
    DuePause,
    PausableCall,
    Pause,
    PauseEnd,
    PauseMethod,
    PauseStart,
)
from callrec.pause.rules import Actor, ActorKind
from callrec.pause.service import PauseService

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
LIMIT = timedelta(minutes=3)
CALL = PausableCall(call_id="c1", channel_id="1764.1", queue="servicedesk", agent="anna",
                    recording_started_at=T0 - timedelta(seconds=30), live=True,
                    recorded=True)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class MemoryPauses:
    """The PauseStore port in memory, with the same one-open-pause-per-call rule."""

    def __init__(self, journal: list[str]) -> None:
        self.rows: dict[int, Pause] = {}
        self.ended_calls: dict[str, datetime] = {}
        self._journal = journal

    async def open_or_renew(self, start: PauseStart) -> Pause:
        self._journal.append("store.open")
        current = await self.current(start.call_id)
        if current is not None:
            renewed = dataclasses.replace(current, expires_at=start.expires_at)
        else:
            renewed = Pause(len(self.rows) + 1, start.call_id, start.at, None, start.offset_ms,
                            None, start.by, start.method, None, None, False, start.expires_at)
        self.rows[renewed.id] = renewed
        return renewed

    async def close(self, pause_id: int, end: PauseEnd) -> Pause | None:
        self._journal.append("store.close")
        pause = self.rows[pause_id]
        if not pause.is_open:
            return None
        closed = dataclasses.replace(pause, ended_at=end.at, end_offset_ms=end.offset_ms,
                                     resumed_by=end.by, resume_method=end.method,
                                     auto_resumed=end.auto_resumed)
        self.rows[pause_id] = closed
        return closed

    async def current(self, call_id: str) -> Pause | None:
        return next((p for p in self.rows.values() if p.call_id == call_id and p.is_open),
                    None)

    async def due(self, now: datetime) -> list[DuePause]:
        return [DuePause(p, CALL.channel_id, self.ended_calls.get(p.call_id),
                         CALL.recording_started_at)
                for p in self.rows.values()
                if p.is_open and (p.expires_at <= now or p.call_id in self.ended_calls)]

    async def of_calls(self, call_ids: Iterable[str]) -> dict[str, list[Pause]]:
        wanted = set(call_ids)
        found: dict[str, list[Pause]] = {}
        for pause in self.rows.values():
            if pause.call_id in wanted:
                found.setdefault(pause.call_id, []).append(pause)
        return found


class Muter:
    def __init__(self, journal: list[str]) -> None:
        self.muted: set[str] = set()
        self.fail: Exception | None = None
        self._journal = journal

    async def mute(self, channel_id: str) -> None:
        self._journal.append("mute")
        if self.fail is not None:
            raise self.fail
        self.muted.add(channel_id)

    async def unmute(self, channel_id: str) -> None:
        self._journal.append("unmute")
        if self.fail is not None:
            raise self.fail
        self.muted.discard(channel_id)


class Audit:
    def __init__(self, journal: list[str]) -> None:
        self.events: list[AccessEvent] = []
        self.fail = False
        self._journal = journal

    async def append(self, event: AccessEvent) -> None:
        self._journal.append("audit")
        if self.fail:
            raise AmiConnectionError("the log is away")   # any error: nothing may follow
        self.events.append(event)


@dataclasses.dataclass
class World:
    service: PauseService
    store: MemoryPauses
    muter: Muter
    audit: Audit
    clock: Clock
    journal: list[str]


@pytest.fixture
def world() -> World:
    journal: list[str] = []
    store, muter, audit, clock = MemoryPauses(journal), Muter(journal), Audit(journal), Clock()
    return World(PauseService(store, muter, audit, clock, LIMIT), store, muter, audit, clock,
                 journal)


ANNA = Actor.agent("anna")


async def test_pause_records_audits_then_mutes(world: World) -> None:
    pause = await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    assert world.journal == ["audit", "store.open", "mute"]
    assert world.muter.muted == {CALL.channel_id}
    assert (pause.start_offset_ms, pause.paused_by, pause.method, pause.expires_at) == (
        30_000, "anna", PauseMethod.DTMF, T0 + LIMIT)
    [event] = world.audit.events
    assert (event.username, event.role, event.call_id, event.action, event.purpose,
            event.client) == ("anna", "agent", "c1", AccessAction.PAUSE, "dtmf", "asterisk")


async def test_resume_unmutes_then_stores_the_end(world: World) -> None:
    await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    world.clock.advance(12.5)
    world.journal.clear()
    pause = await world.service.resume(CALL, ANNA, PauseMethod.WEB, client="127.0.0.1")
    assert world.journal == ["audit", "unmute", "store.close"]
    assert world.muter.muted == set()
    assert (pause.end_offset_ms, pause.resumed_by, pause.resume_method, pause.auto_resumed) == (
        42_500, "anna", PauseMethod.WEB, False)
    assert world.audit.events[-1].action == AccessAction.RESUME
    assert world.audit.events[-1].client == "127.0.0.1"


async def test_pausing_a_paused_call_renews_its_expiry(world: World) -> None:
    first = await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    world.clock.advance(100)
    again = await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    assert again.id == first.id and again.started_at == T0
    assert again.expires_at == T0 + timedelta(seconds=100) + LIMIT
    assert "renewed" in (world.audit.events[-1].note or "")
    world.clock.advance(LIMIT.total_seconds() - 1)   # past the first expiry, not the new one
    assert await world.service.end_due() == 0
    assert world.muter.muted == {CALL.channel_id}


async def test_resume_of_a_call_that_is_not_paused_is_refused(world: World) -> None:
    with pytest.raises(PauseRefused, match="is not paused"):
        await world.service.resume(CALL, ANNA, PauseMethod.DTMF)
    assert world.journal == []


@pytest.mark.parametrize(("call", "problem"), [
    (dataclasses.replace(CALL, live=False), "has ended"),
    (dataclasses.replace(CALL, recorded=False), "is not recorded"),
    (dataclasses.replace(CALL, recording_started_at=None), "has not started"),
])
async def test_only_a_live_recording_call_can_be_paused(world: World, call: PausableCall,
                                                        problem: str) -> None:
    with pytest.raises(PauseRefused, match=problem):
        await world.service.pause(call, ANNA, PauseMethod.DTMF)
    assert world.journal == []


async def test_another_agent_cannot_pause_or_resume(world: World) -> None:
    with pytest.raises(AccessDenied):
        await world.service.pause(CALL, Actor.agent("bob"), PauseMethod.DTMF)
    await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    with pytest.raises(AccessDenied):
        await world.service.resume(CALL, Actor.agent("bob"), PauseMethod.WEB)
    assert world.muter.muted == {CALL.channel_id}


async def test_a_supervisor_of_the_queue_may_resume_but_not_pause(world: World) -> None:
    supervisor = Actor("sue", ActorKind.SUPERVISOR, queues=("servicedesk",), role="supervisor")
    with pytest.raises(AccessDenied):
        await world.service.pause(CALL, supervisor, PauseMethod.WEB)
    await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    pause = await world.service.resume(CALL, supervisor, PauseMethod.WEB)
    assert pause.resumed_by == "sue"
    elsewhere = dataclasses.replace(supervisor, queues=("sales",))
    await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    with pytest.raises(AccessDenied):
        await world.service.resume(CALL, elsewhere, PauseMethod.WEB)


async def test_the_dialplan_pauses_any_recorded_call(world: World) -> None:
    unanswered = dataclasses.replace(CALL, agent=None)
    pause = await world.service.pause(unanswered, Actor.dialplan(), PauseMethod.AUTOMATIC)
    assert (pause.paused_by, world.audit.events[0].role) == ("dialplan", "dialplan")
    resumed = await world.service.resume(unanswered, Actor.dialplan(), PauseMethod.AUTOMATIC)
    assert resumed.resumed_by == "dialplan"


async def test_no_audit_entry_no_mute(world: World) -> None:
    world.audit.fail = True
    with pytest.raises(AmiConnectionError):
        await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    assert world.journal == ["audit"]
    assert world.muter.muted == set() and world.store.rows == {}


async def test_a_failed_mute_leaves_no_open_pause(world: World) -> None:
    world.muter.fail = AmiConnectionError("no AMI")
    with pytest.raises(AmiConnectionError):
        await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    [pause] = world.store.rows.values()
    assert not pause.is_open and pause.end_offset_ms == pause.start_offset_ms


async def test_a_failed_unmute_keeps_the_pause_open(world: World) -> None:
    await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    world.muter.fail = AmiConnectionError("no AMI")
    with pytest.raises(AmiConnectionError):
        await world.service.resume(CALL, ANNA, PauseMethod.DTMF)
    assert await world.store.current(CALL.call_id) is not None
    # The automatic end tries again, and ends it once AMI is back.
    world.clock.advance(LIMIT.total_seconds())
    assert await world.service.end_due() == 0
    world.muter.fail = None
    assert await world.service.end_due() == 1
    assert world.muter.muted == set()


async def test_a_pause_ends_by_itself_at_the_maximum(world: World) -> None:
    await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    world.clock.advance(LIMIT.total_seconds() - 0.001)
    assert await world.service.end_due() == 0
    world.clock.advance(0.5)
    world.journal.clear()
    assert await world.service.end_due() == 1
    assert world.journal == ["audit", "unmute", "store.close"]
    [pause] = world.store.rows.values()
    assert pause.auto_resumed and pause.resumed_by is None and pause.resume_method is None
    assert pause.end_offset_ms == 30_000 + 180_499
    event = world.audit.events[-1]
    assert (event.username, event.action, event.purpose) == (
        "callrec", AccessAction.AUTO_RESUME, "limit")


async def test_a_pause_open_at_hang_up_ends_with_the_call(world: World) -> None:
    await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    world.store.ended_calls[CALL.call_id] = T0 + timedelta(seconds=20)
    world.clock.advance(25)
    world.journal.clear()
    assert await world.service.end_due() == 1
    assert world.journal == ["audit", "store.close"]   # nothing to unmute on a gone call
    [pause] = world.store.rows.values()
    assert (pause.ended_at, pause.end_offset_ms, pause.auto_resumed) == (
        T0 + timedelta(seconds=20), 50_000, False)
    assert world.audit.events[-1].purpose == "hangup"


async def test_an_auto_resume_of_a_gone_channel_still_closes(world: World) -> None:
    await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    world.clock.advance(LIMIT.total_seconds())
    world.muter.fail = AmiActionFailed("MixMonitorMute", "No such channel")
    assert await world.service.end_due() == 1
    assert await world.store.current(CALL.call_id) is None


async def test_resume_of_an_ended_call_sends_nothing_to_asterisk(world: World) -> None:
    await world.service.pause(CALL, ANNA, PauseMethod.DTMF)
    world.journal.clear()
    await world.service.resume(dataclasses.replace(CALL, live=False), ANNA, PauseMethod.WEB)
    assert world.journal == ["audit", "store.close"]
