"""ARI requests over the events websocket: errors, odd values, a socket lost mid-request.

The fake ARI carries out a RESTRequest through its own HTTP routes, one at a time, and
answers only when the app's event filter lets RESTResponse through, as Asterisk does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from callrec.calls.ari.client import AriClient
from callrec.errors import AriConnectionError, AriHttpError, AriNotFound
from tests.support.ari_socket import SocketClient, socket_client
from tests.support.fake_ari import FakeAri
from tests.unit.test_service_fake_ari import eventually


@dataclass
class Wired:
    ari: FakeAri
    socket: SocketClient

    @property
    def client(self) -> AriClient:
        return self.socket.client


@contextlib.asynccontextmanager
async def wired(**options: Any) -> AsyncIterator[Wired]:
    ari = FakeAri()
    await ari.start()
    try:
        async with socket_client(ari.url, "callrec", "secret", "callrec", **options) as socket:
            yield Wired(ari, socket)
    finally:
        await ari.stop()


async def test_error_statuses_over_the_socket_are_the_same_errors_as_over_http() -> None:
    async with wired() as w:
        channel = await w.ari.new_caller("1900.1", "0401234567", "0201234500")
        assert await w.client.get_channel("no-such-channel") is None
        with pytest.raises(AriNotFound):
            await w.client.answer("no-such-channel")
        channel.in_stasis = False
        with pytest.raises(AriHttpError) as raised:
            await w.client.answer("1900.1")
        assert raised.value.status == 409 and "not in Stasis" in raised.value.body
        assert ("POST", "channels/1900.1/answer") in w.ari.socket_requests
        assert not any("answer" in path for _, path in w.ari.http_requests)


async def test_values_that_need_quoting_arrive_intact() -> None:
    hostile = "queue|fi|agi://h/x?a=1&b=2|/rec/ä ö;$(reboot)#%20"
    async with wired() as w:
        channel = await w.ari.new_caller("1900/2 x", "0401234567", "0201234500")
        await w.client.set_variable("1900/2 x", "CALLREC_CALL", hostile)
        assert channel.variables["CALLREC_CALL"] == hostile
        assert await w.client.get_variable("1900/2 x", "CALLREC_CALL") == hostile
        assert w.ari.http_requests.count(("PUT", "/ari/applications/callrec/eventFilter")) == 1


async def test_a_request_in_flight_when_the_socket_drops_fails_at_once_then_http_serves(
        ) -> None:
    async with wired() as w:
        await w.ari.new_caller("1900.3", "0401234567", "0201234500")
        w.ari.rest_over_websocket = False  # Asterisk takes the request but never answers
        in_flight = asyncio.create_task(w.client.answer("1900.3"))
        await eventually(lambda: ("POST", "channels/1900.3/answer") in w.ari.socket_requests)
        await w.ari.drop_sockets()
        async with asyncio.timeout(2):  # not the 10 s request timeout
            with pytest.raises(AriConnectionError, match="socket closed"):
                await in_flight
        assert not w.socket.transport.over_socket
        await w.client.answer("1900.3")  # between connections: over HTTP
        assert ("POST", "/ari/channels/1900.3/answer") in w.ari.http_requests


async def test_no_answer_on_the_socket_in_time_is_a_connection_error_naming_the_request(
        ) -> None:
    async with wired(request_seconds=0.3) as w:
        await w.ari.new_caller("1900.4", "0401234567", "0201234500")
        w.ari.rest_over_websocket = False
        with pytest.raises(AriConnectionError, match=r"POST /channels/1900.4/answer: no answer"):
            await w.client.answer("1900.4")


async def test_an_event_filter_without_rest_responses_keeps_requests_on_http() -> None:
    async with wired(allowed=["StasisStart"], probe_seconds=0.3,
                     until_over_socket=False) as w:
        await eventually(lambda: w.ari.socket_requests)
        await asyncio.sleep(0.5)  # past the probe's patience
        assert not w.socket.transport.over_socket
        await w.ari.new_caller("1900.5", "0401234567", "0201234500")
        await w.client.answer("1900.5")
        assert ("POST", "/ari/channels/1900.5/answer") in w.ari.http_requests
