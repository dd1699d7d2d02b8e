"""callrec's ARI client wired to an events socket, as ``callrec serve`` wires it.

For the transport's tests against the fake ARI and against the lab's real Asterisk: an
EventStream whose resync sets the app's event filter, then the socket's probe.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from callrec.calls.ari.client import AriClient
from callrec.calls.ari.events import EventStream
from callrec.calls.ari.telephony import EVENTS_USED
from callrec.calls.ari.transport import HttpTransport, SocketTransport


@dataclass
class SocketClient:
    transport: SocketTransport
    client: AriClient
    events: list[dict[str, Any]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def socket_client(url: str, username: str, password: str, app: str, *,
                        allowed: Sequence[str] = EVENTS_USED, request_seconds: float = 10.0,
                        probe_seconds: float = 3.0,
                        until_over_socket: bool = True) -> AsyncIterator[SocketClient]:
    """Connected; with ``until_over_socket``, also past a successful probe."""
    async with aiohttp.ClientSession() as session:
        transport = SocketTransport(HttpTransport(session, url, username, password),
                                    timeout=request_seconds, probe_timeout=probe_seconds)
        wired = SocketClient(transport, AriClient(transport))

        async def resync() -> None:
            await wired.client.set_event_filter(app, list(allowed))

        task = asyncio.create_task(
            EventStream(session, transport, app, wired.events.append, resync).run())
        try:
            if until_over_socket:
                async with asyncio.timeout(10):
                    while not transport.over_socket:
                        await asyncio.sleep(0.01)
            yield wired
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
