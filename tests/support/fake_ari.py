"""A fake Asterisk REST interface on loopback, for unit tests and fault injection.

It keeps just enough state (channels, variables, playbacks, subscriptions) to drive
callrec's ARI edge through a call, plays the dialplan's [callrec-ended] hangup handler
(a FastAGI call to the URL the hand-over set), and lets a test drop the events socket,
hang a caller up while callrec is away, or replace the application. The real-Asterisk tier
(tests/integration) is the proof; this is for what Asterisk will not do on demand.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientSession, WSCloseCode, WSMsgType, web

ASTERISK_ID = "fa:ke:00:00:00:01"
# Marks the requests the fake sends itself to carry out those that came on the socket.
LOOPBACK_HEADER = "X-Fake-Ari-Loopback"


@dataclass
class FakeChannel:
    id: str
    number: str
    name: str
    dialled: str
    in_stasis: bool = True
    answered: bool = False
    variables: dict[str, str] = field(default_factory=dict)
    subscribed: bool = False
    continued_to: tuple[str, str, int | str] | None = None   # priority, or label

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": f"PJSIP/trunk-{self.id}", "state": "Up" if self.answered
            else "Ring", "caller": {"name": self.name, "number": self.number},
            "connected": {"name": "", "number": ""}, "accountcode": "",
            "dialplan": {"context": "callrec-incoming", "exten": self.dialled, "priority": 2,
                         "app_name": "Stasis" if self.in_stasis else "Queue",
                         "app_data": "callrec" if self.in_stasis else "servicedesk"},
            "creationtime": _now(), "language": "en",
        }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


class FakeAri:
    def __init__(self, username: str = "callrec", password: str = "secret",
                 notice_seconds: float = 0.05, rest_over_websocket: bool = True) -> None:
        self.username, self.password = username, password
        self.notice_seconds = notice_seconds
        self.channels: dict[str, FakeChannel] = {}
        self.playbacks: dict[str, str] = {}          # playback id -> channel id
        self.requests: list[tuple[str, str]] = []  # every request, whichever way it came
        self.http_requests: list[tuple[str, str]] = []  # over HTTP: method, path and query
        self.queries: list[tuple[str, str, frozenset[str]]] = []  # method, path, query keys
        self.sockets: list[web.WebSocketResponse] = []
        # False plays an Asterisk older than 22.4: requests on the socket go unanswered.
        self.rest_over_websocket = rest_over_websocket
        self.socket_requests: list[tuple[str, str]] = []  # method, uri as sent on the socket
        self.socket_answered: list[str] = []   # the uris whose RESTResponse went out
        # False plays a dialplan without the hangup handler (or a report that cannot
        # reach callrec): a handed-over caller's end is then never reported.
        self.hangup_handlers = True
        self.ended_reports: list[str] = []  # channel ids reported to callrec's FastAGI
        self._loopback: ClientSession | None = None
        self.connections = 0
        self.app = web.Application(middlewares=[self._auth])
        self.app.router.add_get("/ari/events", self._events)
        self.app.router.add_get("/ari/asterisk/info", self._info)
        self.app.router.add_get("/ari/channels", self._list_channels)
        self.app.router.add_route("*", "/ari/channels/{id}", self._channel)
        self.app.router.add_post("/ari/channels/{id}/answer", self._answer)
        self.app.router.add_post("/ari/channels/{id}/play/{pid}", self._play)
        self.app.router.add_route("*", "/ari/channels/{id}/variable", self._variable)
        self.app.router.add_post("/ari/channels/{id}/continue", self._continue)
        self.app.router.add_post("/ari/applications/{app}/subscription", self._subscribe)
        self.app.router.add_put("/ari/applications/{app}/eventFilter", self._event_filter)
        self.allowed_events: set[str] | None = None  # None: no filter, send everything
        self.app.router.add_get("/ari/playbacks/{pid}", self._playback)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # Fault injection: (method, path suffix) -> statuses to answer with, in turn.
        self.faults: dict[tuple[str, str], list[int]] = {}
        self.non_json: set[tuple[str, str]] = set()  # answered 200 with a body not JSON

    def fail(self, method: str, suffix: str, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` requests whose path ends with ``suffix`` with
        ``status``, as an Asterisk in trouble does."""
        self.faults.setdefault((method, suffix), []).extend([status] * times)

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._loopback = ClientSession()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.drop_sockets()
        if self._loopback:
            await self._loopback.close()
        if self._runner:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- what a test does to Asterisk ---------------------------------------------------

    async def new_caller(self, channel_id: str, number: str, dialled: str, name: str = "",
                         args: list[str] | None = None) -> FakeChannel:
        channel = FakeChannel(channel_id, number, name, dialled)
        self.channels[channel_id] = channel
        await self.send({"type": "StasisStart", "args": args or [], "channel": channel.json()})
        return channel

    async def hang_up(self, channel_id: str) -> None:
        channel = self.channels[channel_id]
        if channel.in_stasis:
            await self.send({"type": "ChannelHangupRequest", "channel": channel.json()})
            await self.send({"type": "StasisEnd", "channel": channel.json()})
        # The hangup handler runs before Asterisk forgets the channel.
        await self._run_hangup_handler(channel)
        del self.channels[channel_id]
        # As Asterisk does: once StasisEnd is out, only a subscription hears the rest.
        if channel.subscribed:
            await self.send({"type": "ChannelDestroyed", "channel": channel.json(),
                             "cause": 16})
        for pid in [p for p, c in self.playbacks.items() if c == channel_id]:
            del self.playbacks[pid]

    async def _run_hangup_handler(self, channel: FakeChannel) -> None:
        """[callrec-ended]: FastAGI to CALLREC_CALL's fifth field, if the hand-over set it."""
        fields = channel.variables.get("CALLREC_CALL", "").split("|")
        url = fields[4] if len(fields) > 4 else ""
        if not self.hangup_handlers or not url:
            return
        target = urlsplit(url)
        try:
            reader, writer = await asyncio.open_connection(target.hostname, target.port)
        except OSError:
            return  # as Asterisk: a warning in its log, and the hangup goes on
        script = target.path.strip("/")
        env = {"agi_network": "yes", "agi_network_script": script, "agi_request": url,
               "agi_channel": f"PJSIP/trunk-{channel.id}", "agi_uniqueid": channel.id,
               "agi_callerid": channel.number, "agi_context": "callrec-ended",
               "agi_extension": "s", "agi_priority": "2"}
        writer.write("".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n")
        await writer.drain()
        await asyncio.wait_for(reader.read(), 5)  # callrec hangs up on us
        writer.close()
        self.ended_reports.append(channel.id)

    async def drop_sockets(self) -> None:
        for socket in self.sockets:
            await socket.close(code=WSCloseCode.GOING_AWAY)
        self.sockets.clear()

    async def send(self, event: dict[str, Any]) -> None:
        if self.allowed_events is not None and event["type"] not in self.allowed_events:
            return
        event = {"timestamp": _now(), "asterisk_id": ASTERISK_ID, "application": "callrec",
                 **event}
        for socket in list(self.sockets):
            if not socket.closed:
                await socket.send_json(event)

    # --- handlers -----------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if LOOPBACK_HEADER not in request.headers:
            self.http_requests.append((request.method, request.path_qs))
        self.queries.append((request.method, request.path, frozenset(request.query)))
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            raise web.HTTPUnauthorized()
        for (method, suffix), statuses in self.faults.items():
            if request.method == method and request.path.endswith(suffix) and statuses:
                return web.Response(status=statuses.pop(0), text='{"message": "injected"}',
                                    content_type="application/json")
        if (request.method, request.path) in self.non_json:
            return web.Response(status=200, text="<html>proxy error</html>",
                                content_type="application/json")
        response: web.StreamResponse = await handler(request)
        return response

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        for old in self.sockets:
            await old.send_json({"type": "ApplicationReplaced", "application": "callrec"})
        self.sockets.append(socket)
        self.connections += 1
        async for message in socket:
            # One at a time, in order, as Asterisk's websocket session reads them.
            if message.type is WSMsgType.TEXT:
                await self._rest_request(socket, json.loads(message.data),
                                         request.headers["Authorization"])
        if socket in self.sockets:
            self.sockets.remove(socket)
        return socket

    async def _rest_request(self, socket: web.WebSocketResponse, message: dict[str, Any],
                            authorization: str) -> None:
        """Carry out a RESTRequest through this server's own HTTP routes."""
        assert self._loopback is not None
        uri = message["uri"]
        self.socket_requests.append((message["method"], uri))
        if not self.rest_over_websocket:
            return
        body = message.get("message_body")
        headers = {"Authorization": authorization, LOOPBACK_HEADER: "1"}
        if body is not None:
            headers["Content-Type"] = message["content_type"]
        async with self._loopback.request(message["method"], f"{self.url}/ari/{uri}",
                                          data=body, headers=headers) as reply:
            text = await reply.text()
            answer: dict[str, Any] = {
                "type": "RESTResponse", "request_id": message.get("request_id", ""),
                "status_code": reply.status, "reason_phrase": reply.reason or "",
                "uri": uri.split("?")[0]}
            if text:
                answer.update(content_type="application/json", message_body=text)
        if self.allowed_events is None or "RESTResponse" in self.allowed_events:
            await socket.send_json({"timestamp": _now(), "asterisk_id": ASTERISK_ID,
                                    "application": "callrec", **answer})
            self.socket_answered.append(uri)

    async def _info(self, _: web.Request) -> web.Response:
        return web.json_response({"system": {"entity_id": ASTERISK_ID, "version": "22-fake"}})

    async def _list_channels(self, _: web.Request) -> web.Response:
        return web.json_response([c.json() for c in self.channels.values()])

    def _find(self, request: web.Request) -> FakeChannel:
        channel = self.channels.get(request.match_info["id"])
        if channel is None:
            raise web.HTTPNotFound(text='{"message": "Channel not found"}')
        return channel

    async def _channel(self, request: web.Request) -> web.Response:
        channel = self._find(request)
        if request.method == "DELETE":
            await self.hang_up(channel.id)
            return web.Response(status=204)
        return web.json_response(channel.json())

    def _in_stasis(self, request: web.Request) -> FakeChannel:
        channel = self._find(request)
        if not channel.in_stasis:
            raise web.HTTPConflict(text='{"message": "Channel not in Stasis application"}')
        return channel

    async def _answer(self, request: web.Request) -> web.Response:
        self._in_stasis(request).answered = True
        return web.Response(status=204)

    async def _play(self, request: web.Request) -> web.Response:
        channel = self._in_stasis(request)
        pid = request.match_info["pid"]
        self.playbacks[pid] = channel.id
        task = asyncio.create_task(self._finish_playback(pid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response({"id": pid, "media_uri": request.query.get("media"),
                                  "language": request.query.get("lang"),
                                  "state": "queued"}, status=201)

    async def _finish_playback(self, pid: str) -> None:
        await asyncio.sleep(self.notice_seconds)
        channel_id = self.playbacks.pop(pid, None)
        if channel_id is not None:
            await self.send({"type": "PlaybackFinished", "playback": {
                "id": pid, "state": "done", "target_uri": f"channel:{channel_id}"}})

    async def _variable(self, request: web.Request) -> web.Response:
        channel = self._find(request)
        name = request.query["variable"]
        if request.method == "POST":
            channel.variables[name] = request.query.get("value", "")
            return web.Response(status=204)
        if name == "CHANNEL(linkedid)":
            return web.json_response({"value": channel.id})
        if name not in channel.variables:
            raise web.HTTPNotFound(text='{"message": "Provided variable was not found"}')
        return web.json_response({"value": channel.variables[name]})

    async def _continue(self, request: web.Request) -> web.Response:
        channel = self._in_stasis(request)
        channel.in_stasis = False
        where = request.query.get("label") or int(request.query["priority"])
        channel.continued_to = (request.query["context"], request.query["extension"], where)
        await self.send({"type": "StasisEnd", "channel": channel.json()})
        return web.Response(status=204)

    async def _subscribe(self, request: web.Request) -> web.Response:
        source = request.query["eventSource"]
        channel = self.channels.get(source.removeprefix("channel:"))
        if channel is None:
            raise web.HTTPUnprocessableEntity(text='{"message": "not found"}')
        channel.subscribed = True
        return web.json_response({"name": request.match_info["app"]})

    async def _event_filter(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.allowed_events = {entry["type"] for entry in body.get("allowed", [])}
        return web.json_response({"name": request.match_info["app"],
                                  "events_allowed": body.get("allowed", [])})

    async def _playback(self, request: web.Request) -> web.Response:
        if request.match_info["pid"] not in self.playbacks:
            raise web.HTTPNotFound()
        return web.json_response({"id": request.match_info["pid"], "state": "playing"})
