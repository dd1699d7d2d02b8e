"""How an ARI request reaches Asterisk: over HTTP, or over the events websocket.

Asterisk 20.14, 21.9, 22.4 and later take REST requests on the ``/ari/events`` socket
itself and answer with a ``RESTResponse`` event. That spares both sides an HTTP request per
ARI call (headers, Basic auth, a response to build and parse), which is most of what an ARI
request costs. :class:`SocketTransport` uses the socket once it has answered a probe on
this connection and sends everything over HTTP otherwise: before the probe, between
reconnections, when ``[ari] requests = "http"``, or when an older Asterisk stays silent.

Both transports raise the same errors (callrec.errors): a 404 as AriNotFound, any other
error status as AriHttpError, a lost connection or no answer in time as
AriConnectionError. A request in flight when the socket drops fails with
AriConnectionError, as an HTTP request does when its connection breaks: Asterisk may or
may not have carried it out, and the next resync tells.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
import structlog

from callrec.errors import AriConnectionError, AriError, AriHttpError, AriNotFound, AriProtocolError

JsonObject = dict[str, Any]
Params = Mapping[str, str | int]
RESPONSE_EVENT = "RESTResponse"


class Transport(Protocol):
    async def send(self, method: str, path: str, params: Params | None,
                   payload: JsonObject | None, reply: bool) -> Any:
        """Send one request; the decoded JSON body (None when empty or ``reply`` is False)."""


class HttpTransport:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, username: str,
                 password: str, *, timeout: float = 10.0) -> None:
        self._session = session
        self._base = base_url.rstrip("/") + "/ari"
        self._auth_header = {"Authorization": aiohttp.encode_basic_auth(username, password)}
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @property
    def events_url(self) -> str:
        return self._base + "/events"

    @property
    def auth_header(self) -> dict[str, str]:
        return self._auth_header

    async def send(self, method: str, path: str, params: Params | None,
                   payload: JsonObject | None, reply: bool) -> Any:
        url = self._base + path
        try:
            async with self._session.request(method, url, params=params, json=payload,
                                             headers=self._auth_header,
                                             timeout=self._timeout) as response:
                if response.status >= 400:
                    raise _status_error(method, path, response.status, await response.text())
                if not reply or response.content_type != "application/json":
                    return None
                return _decoded(method, path, await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AriConnectionError(f"ARI {method} {path}: {exc or type(exc).__name__}") from exc


class SocketTransport:
    """ARI requests over the events websocket once Asterisk has shown it answers there."""

    def __init__(self, http: HttpTransport, *, enabled: bool = True, timeout: float = 10.0,
                 probe_timeout: float = 3.0) -> None:
        self._http = http
        self._enabled = enabled
        self._timeout = timeout
        self._probe_timeout = probe_timeout
        # Set once Asterisk has answered the probe on it; None: requests go over HTTP.
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._pending: dict[str, asyncio.Future[JsonObject]] = {}
        self._request_ids = itertools.count(1)
        self._log = structlog.get_logger("callrec.calls.ari.transport")

    @property
    def events_url(self) -> str:
        return self._http.events_url

    @property
    def auth_header(self) -> dict[str, str]:
        return self._http.auth_header

    @property
    def over_socket(self) -> bool:
        return self._socket is not None

    async def send(self, method: str, path: str, params: Params | None,
                   payload: JsonObject | None, reply: bool) -> Any:
        socket = self._socket
        if socket is None or socket.closed:
            # A closed socket not yet noticed by its reader: HTTP may still get through.
            return await self._http.send(method, path, params, payload, reply)
        return await self._over_socket(socket, method, path, params, payload, reply,
                                       self._timeout)

    async def confirm(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        """Probe the freshly connected socket; use it for requests if Asterisk answers.

        The app's event filter must let RESTResponse through, or the probe goes unanswered.
        """
        if not self._enabled:
            return
        try:
            await self._over_socket(socket, "GET", "/asterisk/info", None, None, False,
                                    self._probe_timeout)
        except AriError as exc:
            self._log.warning("ari_requests_over_http", reason=str(exc),
                              hint="REST over the events websocket needs Asterisk 20.14, "
                                   "21.9, 22.4 or later")
            return
        self._socket = socket
        self._log.info("ari_requests_over_websocket")

    def detach(self) -> None:
        """The socket is gone: requests go over HTTP again, those in flight fail."""
        self._socket = None
        pending, self._pending = self._pending, {}
        for answer in pending.values():
            if not answer.done():
                answer.set_exception(AriConnectionError("ARI events socket closed "
                                                        "before Asterisk answered"))

    def on_response(self, event: JsonObject) -> None:
        answer = self._pending.pop(str(event.get("request_id", "")), None)
        if answer is not None and not answer.done():
            answer.set_result(event)

    async def _over_socket(self, socket: aiohttp.ClientWebSocketResponse, method: str,
                           path: str, params: Params | None, payload: JsonObject | None,
                           reply: bool, answer_within: float) -> Any:
        request_id = str(next(self._request_ids))
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[JsonObject] = loop.create_future()
        self._pending[request_id] = answer
        timer = loop.call_later(
            answer_within, _give_up, answer,
            f"ARI {method} {path}: no answer in {answer_within:g} s")
        try:
            await socket.send_str(_request_text(request_id, method, path, params, payload))
            response = await answer
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise AriConnectionError(f"ARI {method} {path}: {exc or type(exc).__name__}") from exc
        finally:
            timer.cancel()
            self._pending.pop(request_id, None)
        return _response_body(method, path, response, reply)


def _request_text(request_id: str, method: str, path: str, params: Params | None,
                  payload: JsonObject | None) -> str:
    uri = path.removeprefix("/")
    if params:
        uri += "?" + urlencode(params)
    message: JsonObject = {"type": "RESTRequest", "request_id": request_id, "method": method,
                           "uri": uri}
    if payload is not None:
        message["content_type"] = "application/json"
        message["message_body"] = json.dumps(payload)
    return json.dumps(message)


def _response_body(method: str, path: str, response: JsonObject, reply: bool) -> Any:
    status = response.get("status_code")
    body = response.get("message_body")
    if not isinstance(status, int):
        raise AriConnectionError(f"ARI {method} {path}: a RESTResponse without a status")
    if status >= 400:
        raise _status_error(method, path, status,
                            body if isinstance(body, str) else str(response.get("reason_phrase")))
    if not reply or not isinstance(body, str) or not body:
        return None
    return _decoded(method, path, body)


def _decoded(method: str, path: str, body: str | bytes) -> Any:
    """A reply's JSON; a reply that is not JSON is Asterisk's error, raised in our tree."""
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError of bad bytes
        raise AriProtocolError(f"ARI {method} {path}: the reply is not JSON ({exc})") from exc


def _status_error(method: str, path: str, status: int, body: str) -> AriHttpError:
    error = AriNotFound if status == 404 else AriHttpError
    return error(method, path, status, body)


def _give_up(answer: asyncio.Future[JsonObject], reason: str) -> None:
    if not answer.done():
        answer.set_exception(AriConnectionError(reason))
