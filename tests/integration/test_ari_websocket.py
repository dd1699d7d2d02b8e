"""REST over the events websocket, against the lab's real Asterisk 22.

The fake ARI imitates Asterisk's RESTResponse; this proves the real one answers the way
callrec's SocketTransport reads it: the probe, JSON bodies both ways, errors as statuses.
The app name is the test's own, so a callrec running on the lab is not disturbed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from callrec.ari.client import AriClient
from callrec.ari.events import EventStream
from callrec.ari.telephony import EVENTS_USED
from callrec.ari.transport import HttpTransport, SocketTransport
from callrec.errors import AriNotFound
from callrec.lab.asterisk import AsteriskLab

APP = "callrec-socket-test"


@contextlib.asynccontextmanager
async def over_the_socket(lab: AsteriskLab) -> AsyncIterator[AriClient]:
    async with aiohttp.ClientSession() as session:
        transport = SocketTransport(HttpTransport(session, lab.ari_url, lab.ari_username,
                                                  lab.ari_password))
        client = AriClient(transport)

        async def resync() -> None:
            await client.set_event_filter(APP, list(EVENTS_USED))

        task = asyncio.create_task(
            EventStream(session, transport, APP, lambda _: None, resync).run())
        try:
            async with asyncio.timeout(10):
                while not transport.over_socket:
                    await asyncio.sleep(0.02)
            yield client
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_real_asterisk_answers_requests_on_the_events_socket(lab: AsteriskLab) -> None:
    async with over_the_socket(lab) as client:
        info = await client.asterisk_info()
        assert info["system"]["entity_id"] and info["system"]["version"].startswith("22.")
        assert await client.get_channel("callrec-no-such-channel") is None
        with pytest.raises(AriNotFound):
            await client.set_variable("callrec-no-such-channel", "X", "a|b c&d=e")
        # A JSON body out, a JSON body back: the filter as Asterisk now holds it.
        reply = await client.request(
            "PUT", f"/applications/{APP}/eventFilter",
            payload={"allowed": [{"type": kind} for kind in EVENTS_USED]})
        assert {entry["type"] for entry in reply["events_allowed"]} == set(EVENTS_USED)
