"""ARI events and FastAGI end reports into the Telephony port: hangup times, and the
sweep that makes up for an end nobody reported."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from callrec.calls.ari.telephony import AriTelephony
from callrec.config import AgiConfig
from callrec.domain.ports import Hangup

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class ListingClient:
    """The one ARI request the sweep makes, answered with the channels Asterisk has."""

    def __init__(self, present: list[str]) -> None:
        self.present = present
        self.listings = 0

    async def list_channels(self) -> list[dict[str, Any]]:
        self.listings += 1
        return [{"id": channel_id} for channel_id in self.present]


def telephony_with(client: object = None) -> AriTelephony:
    return AriTelephony(client=client, app="callrec", queue_context="callrec-queue",  # type: ignore[arg-type]
                        agi=AgiConfig(), clock=lambda: NOW)


def channel() -> dict[str, Any]:
    return {"id": "1764.7", "caller": {"number": "0401234567", "name": "x"},
            "dialplan": {"exten": "0201234500"}}


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
    telephony = telephony_with()
    call = telephony.handle_event({"type": "StasisStart", "args": ["linkedid=1764.7"],
                                   "channel": channel(), "asterisk_id": "node"})
    assert call is not None and call.linkedid == "1764.7"
    end: dict[str, Any] = {"type": "StasisEnd", "channel": channel()}
    if stamp is not None:
        end["timestamp"] = stamp
    telephony.handle_event(end)
    assert (await asyncio.wait_for(telephony.wait_for_hangup("1764.7"), 1)).at == expected


def mark_handed_over(telephony: AriTelephony, channel_id: str) -> None:
    start = {"type": "StasisStart", "args": [], "asterisk_id": "node",
             "channel": {**channel(), "id": channel_id}}
    assert telephony.handle_event(start) is not None
    telephony._watches[channel_id].handed_over = True  # what send_to_queue does
    telephony.handle_event({"type": "StasisEnd", "channel": {**channel(), "id": channel_id}})


async def test_after_the_hand_over_stasis_end_is_not_the_end_but_the_report_is() -> None:
    telephony = telephony_with()
    mark_handed_over(telephony, "1764.7")
    waiting = asyncio.ensure_future(telephony.wait_for_hangup("1764.7"))
    await asyncio.sleep(0)
    assert not waiting.done()
    telephony.call_ended("1764.7")
    assert await asyncio.wait_for(waiting, 1) == Hangup(NOW)
    telephony.call_ended("1764.7")  # a second report changes nothing
    telephony.call_ended("no-such-channel")  # nor one for a call we do not run
    assert await asyncio.wait_for(telephony.wait_for_hangup("1764.7"), 1) == Hangup(NOW)


async def test_the_sweep_ends_only_handed_over_calls_asterisk_no_longer_has() -> None:
    client = ListingClient(present=["still-queued"])
    telephony = telephony_with(client)
    for channel_id in ("gone", "still-queued"):
        mark_handed_over(telephony, channel_id)
    assert await telephony.sweep(grace=0) == 1
    assert await asyncio.wait_for(telephony.wait_for_hangup("gone"), 1) == Hangup(
        NOW, estimated=True)
    assert not telephony._watches["still-queued"].hangup.done()


async def test_a_report_arriving_within_the_grace_wins_over_the_sweep() -> None:
    telephony = telephony_with(ListingClient(present=[]))
    mark_handed_over(telephony, "1764.7")
    sweeping = asyncio.ensure_future(telephony.sweep(grace=0.2))
    await asyncio.sleep(0.05)
    telephony.call_ended("1764.7")
    assert await asyncio.wait_for(sweeping, 1) == 0
    assert await asyncio.wait_for(telephony.wait_for_hangup("1764.7"), 1) == Hangup(NOW)


async def test_the_sweep_asks_asterisk_nothing_when_no_call_waits_for_its_end() -> None:
    client = ListingClient(present=[])
    telephony = telephony_with(client)
    # A caller still hearing the notice: in Stasis, its end comes over ARI.
    assert telephony.handle_event({"type": "StasisStart", "args": [], "channel": channel(),
                                   "asterisk_id": "node"}) is not None
    assert await telephony.sweep(grace=0) == 0
    assert client.listings == 0
