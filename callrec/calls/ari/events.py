"""The ARI events websocket, kept open forever.

Asterisk never reconnects an inbound ``/ari/events`` socket, and while it is away the
channels already in Stasis stay there with their events dropped. So this loop reconnects
with jittered exponential backoff and, after every (re)connection, runs ``on_connected``
before handing over any event: that is where the app resynchronises with what Asterisk
did meanwhile.

Events are handed to ``on_event`` one at a time, in order, synchronously: the handler
must not block (it resolves futures or starts tasks), which keeps event order intact.
Answers to REST requests sent over this socket (``RESTResponse``) go to the transport
instead.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from callrec.calls.ari.transport import RESPONSE_EVENT, SocketTransport
from callrec.errors import ApplicationReplaced, AriCredentialsRejected, AriError

EventHandler = Callable[[dict[str, Any]], None]
ConnectHook = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff: a random wait in [0, min(cap, base * 2**attempt)]."""

    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2 ** min(attempt, 30)))


class EventStream:
    def __init__(self, session: aiohttp.ClientSession, transport: SocketTransport,
                 app: str, on_event: EventHandler, on_connected: ConnectHook, *,
                 backoff: Backoff | None = None, rng: random.Random | None = None) -> None:
        self._session = session
        self._transport = transport
        self._app = app
        self._on_event = on_event
        self._on_connected = on_connected
        self._backoff = backoff or Backoff()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._log = structlog.get_logger("callrec.calls.ari.events")
        self.connections = 0

    async def run(self) -> None:
        """Connect, resync, dispatch; on any break reconnect. Returns only by cancellation,
        or raises ApplicationReplaced."""
        attempt = 0
        while True:
            try:
                await self._run_once()
                attempt = 0  # the socket closed after a good session: retry promptly
            except ApplicationReplaced:
                raise
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status in (401, 403):
                    # Retrying cannot fix a wrong password: say so and stop.
                    raise AriCredentialsRejected(
                        f"ARI at {self._transport.events_url} rejected the credentials "
                        f"(HTTP {exc.status}): "
                        "check [ari] username/password against ari.conf") from exc
                self._log.warning("ari_events_refused", status=exc.status, attempt=attempt)
            except (aiohttp.ClientError, TimeoutError, AriError, OSError) as exc:
                self._log.warning("ari_events_disconnected", error=str(exc) or type(exc).__name__,
                                  attempt=attempt)
            await asyncio.sleep(self._backoff.delay(attempt, self._rng))
            attempt += 1

    async def _run_once(self) -> None:
        # No permessage-deflate: Asterisk does not offer it, and on loopback or a LAN
        # compressing every small JSON message would only cost CPU.
        params = {"app": self._app, "subscribeAll": "false"}
        async with self._session.ws_connect(self._transport.events_url, params=params,
                                            headers=self._transport.auth_header,
                                            heartbeat=20.0, compress=0) as socket:
            self.connections += 1
            self._log.info("ari_events_connected", app=self._app, connections=self.connections)
            # The resync runs over HTTP while events wait in the socket, unread; the
            # reader then answers the transport's probe and requests too.
            await self._on_connected()
            reader = asyncio.create_task(self._read(socket), name="ari-events-reader")
            try:
                await self._transport.confirm(socket)
                await reader
            finally:
                self._transport.detach()
                reader.cancel()
                (outcome,) = await asyncio.gather(reader, return_exceptions=True)
                if isinstance(outcome, ApplicationReplaced):
                    raise outcome
        self._log.warning("ari_events_closed", app=self._app)

    async def _read(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        async for message in socket:
            if message.type is aiohttp.WSMsgType.TEXT:
                self._dispatch(message.data)
            elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                break

    def _dispatch(self, text: str) -> None:
        try:
            event = json.loads(text)
        except ValueError:
            self._log.error("ari_event_unreadable", size=len(text))
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if kind == "ApplicationReplaced":
            raise ApplicationReplaced(f"another process took over the ARI application "
                                      f"{self._app!r}; this one stops")
        if kind == RESPONSE_EVENT:
            self._transport.on_response(event)
            return
        try:
            self._on_event(event)
        except Exception:  # noqa: BLE001 - one bad event must not cost us the socket
            self._log.exception("ari_event_handler_failed", event_type=event.get("type"))
