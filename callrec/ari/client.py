"""A thin asyncio client for Asterisk's REST interface (ARI), on aiohttp.

Only what callrec needs, each call a method with the path spelled out once. Every failure
surfaces as an :class:`~callrec.errors.AriError`; a 404 (the channel is gone, usually because
the caller hung up) as :class:`~callrec.errors.AriNotFound` so callers can tell it apart.

The aiohttp session is passed in: tests point the client at a fake ARI server on loopback,
production at Asterisk, with no other seam needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from callrec.errors import AriConnectionError, AriHttpError, AriNotFound

JsonObject = dict[str, Any]
Params = Mapping[str, str | int]


class AriClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, username: str,
                 password: str, *, timeout: float = 10.0) -> None:
        self._session = session
        self._base = base_url.rstrip("/") + "/ari"
        self._auth_header = {"Authorization": aiohttp.encode_basic_auth(username, password)}
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @property
    def base_url(self) -> str:
        return self._base

    @property
    def auth_header(self) -> dict[str, str]:
        return self._auth_header

    async def request(self, method: str, path: str, params: Params | None = None,
                      payload: JsonObject | None = None, *, reply: bool = True) -> Any:
        """Send one request; return the decoded JSON body, or None for an empty one.

        ``reply=False``: the body is not decoded (None is returned). Some replies grow
        with the load, e.g. a subscription's lists every channel the app watches.
        """
        url = self._base + path
        try:
            async with self._session.request(method, url, params=params, json=payload,
                                             headers=self._auth_header,
                                             timeout=self._timeout) as response:
                if response.status >= 400:
                    body = await response.text()
                    error = AriNotFound if response.status == 404 else AriHttpError
                    raise error(method, path, response.status, body)
                if not reply or response.content_type != "application/json":
                    return None
                data = await response.read()
                return json.loads(data) if data else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AriConnectionError(f"ARI {method} {path}: {exc or type(exc).__name__}") from exc

    # --- asterisk -----------------------------------------------------------------------

    async def asterisk_info(self) -> JsonObject:
        info: JsonObject = await self.request("GET", "/asterisk/info")
        return info

    # --- channels -----------------------------------------------------------------------

    async def list_channels(self) -> list[JsonObject]:
        channels: list[JsonObject] = await self.request("GET", "/channels")
        return channels

    async def get_channel(self, channel_id: str) -> JsonObject | None:
        try:
            channel: JsonObject = await self.request("GET", f"/channels/{_seg(channel_id)}")
        except AriNotFound:
            return None
        return channel

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_seg(channel_id)}/answer", reply=False)

    async def play(self, channel_id: str, media: str, lang: str, playback_id: str) -> None:
        await self.request("POST", f"/channels/{_seg(channel_id)}/play/{_seg(playback_id)}",
                           {"media": media, "lang": lang}, reply=False)

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.request("POST", f"/channels/{_seg(channel_id)}/variable",
                           {"variable": name, "value": value}, reply=False)

    async def get_variable(self, channel_id: str, name: str) -> str | None:
        """A channel variable's value, or None when it is unset."""
        try:
            reply = await self.request("GET", f"/channels/{_seg(channel_id)}/variable",
                                       {"variable": name})
        except AriNotFound:
            return None
        value = reply.get("value") if isinstance(reply, dict) else None
        return value if isinstance(value, str) else None

    async def continue_in_dialplan(self, channel_id: str, context: str, extension: str,
                                   priority: int) -> None:
        await self.request("POST", f"/channels/{_seg(channel_id)}/continue",
                           {"context": context, "extension": extension, "priority": priority},
                           reply=False)

    # --- applications -------------------------------------------------------------------

    async def subscribe(self, app: str, event_source: str) -> None:
        await self.request("POST", f"/applications/{_seg(app)}/subscription",
                           {"eventSource": event_source}, reply=False)

    async def set_event_filter(self, app: str, allowed_types: list[str]) -> None:
        """Ask Asterisk to send the app only these event types."""
        await self.request("PUT", f"/applications/{_seg(app)}/eventFilter",
                           payload={"allowed": [{"type": kind} for kind in allowed_types]},
                           reply=False)


def _seg(value: str) -> str:
    """Quote one path segment: ids come from Asterisk, but never trust them to be tidy."""
    return quote(value, safe="")
