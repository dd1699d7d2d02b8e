"""ARI events into the call flow: what the adapter makes of each event, hangup times, the
hand-over's effect on StasisEnd, FastAGI end reports, and the sweep that makes up for an
end nobody reported."""

from __future__ import annotations

import asyncio
import itertools
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from callrec.calls.ari.telephony import AriTelephony
from callrec.config import AgiConfig, parse_config
from callrec.domain.call import Call
from callrec.domain.callflow import CallFlow, CallFlowSettings
from callrec.domain.ports import (
    CallArrived,
    ChannelGone,
    Hangup,
    HangupRequested,
    LeftStasis,
    PlaybackFinished,
)
from tests.unit.fakes import MemoryHistory, MemoryObjections, MemoryRecordings, ScriptedTelephony

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def ari_telephony() -> AriTelephony:
    return AriTelephony(client=None, app="callrec", queue_context="callrec-queue",  # type: ignore[arg-type]
                        agi=AgiConfig(), clock=lambda: NOW)


def channel(channel_id: str = "1764.7") -> dict[str, Any]:
    return {"id": channel_id, "caller": {"number": "0401234567", "name": "x"},
            "dialplan": {"exten": "0201234500", "context": "callrec-incoming"}}


def flow_with(telephony: ScriptedTelephony) -> CallFlow:
    config = parse_config(tomllib.loads((ROOT / "callrec.example.toml").read_text()), ROOT)
    ids = (f"{n:032x}" for n in itertools.count(1))
    flow = CallFlow(CallFlowSettings(config.service_for_number, config.default_region),
                    telephony, MemoryHistory(), MemoryRecordings(), MemoryObjections(),
                    lambda: NOW, new_id=lambda: next(ids))
    telephony.flow = flow
    return flow


def arrive(flow: CallFlow, channel_id: str, handed_over: bool = False) -> Call:
    start = ari_telephony().event_of({"type": "StasisStart", "args": [], "asterisk_id": "n",
                                      "channel": channel(channel_id)})
    assert isinstance(start, CallArrived)
    call = flow.arrived(start.call)
    assert call is not None
    if handed_over:
        call.handed_over = True  # what the hand-over does once its variable is set
        flow.apply(LeftStasis(channel_id, NOW))
    return call


def test_each_event_the_flow_needs_becomes_a_domain_event() -> None:
    events = ari_telephony().event_of
    start = events({"type": "StasisStart", "args": ["linkedid=1764.7"],
                    "channel": channel(), "asterisk_id": "node"})
    assert isinstance(start, CallArrived)
    assert (start.call.linkedid, start.call.dialled, start.call.context) == (
        "1764.7", "0201234500", "callrec-incoming")
    assert events({"type": "ChannelHangupRequest", "channel": channel()}) == HangupRequested(
        "1764.7")
    assert events({"type": "ChannelDestroyed", "channel": channel()}) == ChannelGone(
        "1764.7", NOW)
    assert events({"type": "PlaybackFinished", "playback": {
        "id": "p1", "target_uri": "channel:1764.7"}}) == PlaybackFinished("1764.7", "p1")
    assert events({"type": "PlaybackFinished", "playback": {"id": "p1"}}) == PlaybackFinished(
        None, "p1")


@pytest.mark.parametrize("event", [
    {"type": "StasisStart", "args": ["callrec-internal"], "channel": channel()},
    {"type": "StasisStart", "args": [], "channel": {"id": ""}},
    {"type": "StasisEnd"},
    {"type": "StasisEnd", "channel": "not an object"},
    {"type": "PlaybackFinished", "playback": "p1"},
    {"type": "ChannelVarset", "channel": channel()},
    {},
])
def test_events_the_flow_does_not_need_or_cannot_read_become_nothing(
        event: dict[str, Any]) -> None:
    assert ari_telephony().event_of(event) is None


@pytest.mark.parametrize(("stamp", "expected"), [
    ("2026-11-24T22:10:01.123+0000", datetime(2026, 11, 24, 22, 10, 1, 123000, tzinfo=UTC)),
    ("2026-11-25T00:10:01.500+0200", datetime(2026, 11, 24, 22, 10, 1, 500000, tzinfo=UTC)),
    ("2026-11-24T22:10:01.123", NOW),   # no zone: not trusted, our clock instead
    ("2026-11-24", NOW),
    ("yesterday", NOW),
    (None, NOW),
])
async def test_hangup_time_is_asterisks_stamp_when_it_is_a_full_one(
        stamp: str | None, expected: datetime) -> None:
    flow = flow_with(ScriptedTelephony())
    call = arrive(flow, "1764.7")
    end: dict[str, Any] = {"type": "StasisEnd", "channel": channel()}
    if stamp is not None:
        end["timestamp"] = stamp
    event = ari_telephony().event_of(end)
    assert event is not None
    flow.apply(event)
    assert (await asyncio.wait_for(call.hangup, 1)).at == expected


async def test_after_the_hand_over_stasis_end_is_not_the_end_but_the_report_is() -> None:
    flow = flow_with(ScriptedTelephony())
    call = arrive(flow, "1764.7", handed_over=True)
    assert not call.ended and not call.in_stasis
    flow.call_ended("1764.7")
    assert await asyncio.wait_for(call.hangup, 1) == Hangup(NOW)
    flow.call_ended("1764.7")  # a second report changes nothing
    flow.call_ended("no-such-channel")  # nor one for a call we do not run
    assert call.hangup.result() == Hangup(NOW)


async def test_a_hangup_request_interrupts_only_that_callers_notice() -> None:
    flow = flow_with(ScriptedTelephony())
    first, second = arrive(flow, "a.1"), arrive(flow, "b.1")
    playing = first.new_playback("p1"), second.new_playback("p2")
    flow.apply(HangupRequested("a.1"))
    assert playing[0].result() is False and not playing[1].done()
    flow.apply(PlaybackFinished(None, "p2"))  # no channel named: found by its id
    assert playing[1].result() is True


async def test_the_sweep_ends_only_handed_over_calls_asterisk_no_longer_has() -> None:
    telephony = ScriptedTelephony()
    telephony.present = {"still-queued"}
    flow = flow_with(telephony)
    gone, queued = (arrive(flow, name, handed_over=True) for name in ("gone", "still-queued"))
    assert await flow.sweep(grace=0) == 1
    assert gone.hangup.result() == Hangup(NOW, estimated=True)
    assert not queued.ended


async def test_a_report_arriving_within_the_grace_wins_over_the_sweep() -> None:
    flow = flow_with(ScriptedTelephony())
    call = arrive(flow, "1764.7", handed_over=True)
    sweeping = asyncio.ensure_future(flow.sweep(grace=0.2))
    await asyncio.sleep(0.05)
    flow.call_ended("1764.7")
    assert await asyncio.wait_for(sweeping, 1) == 0
    assert call.hangup.result() == Hangup(NOW)


async def test_the_sweep_asks_asterisk_nothing_when_no_call_waits_for_its_end() -> None:
    class CountingListings(ScriptedTelephony):
        listings = 0

        async def channel_ids(self) -> set[str]:
            self.listings += 1
            return set()

    telephony = CountingListings()
    flow = flow_with(telephony)
    arrive(flow, "1764.7")  # still hearing the notice: its end comes over ARI
    assert await flow.sweep(grace=0) == 0
    assert telephony.listings == 0
