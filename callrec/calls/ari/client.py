"""A thin asyncio client for Asterisk's REST interface (ARI), on aiohttp.

Only what callrec needs, each call a method with the path spelled out once. Every failure
surfaces as an :class:`~callrec.errors.AriError`; a 404 (the channel is gone, usually because
the caller hung up) as :class:`~callrec.errors.AriNotFound` so callers can tell it apart.

The transport is passed in (callrec.calls.ari.transport): HTTP, or the events websocket when
Asterisk answers there. Tests point either at a fake ARI server on loopback.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from callrec.calls.ari.transport import JsonObject, Params, Transport
from callrec.errors import AriNotFound

__all__ = ["AriClient", "JsonObject"]


class AriClient:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def request(self, method: str, path: str, params: Params | None = None,
                      payload: JsonObject | None = None, *, reply: bool = True) -> Any:
        """Send one request; return the decoded JSON body, or None for an empty one.

        ``reply=False``: the body is not decoded (None is returned). Some replies grow
        with the load, e.g. a subscription's lists every channel the app watches.
        """
        return await self._transport.send(method, path, params, payload, reply)

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
                                   priority: int = 1, label: str | None = None) -> None:
        """Leave Stasis for the dialplan: at ``label`` when given, else at ``priority``."""
        where: dict[str, str | int] = {"context": context, "extension": extension}
        where.update({"label": label} if label else {"priority": priority})
        await self.request("POST", f"/channels/{_seg(channel_id)}/continue", where,
                           reply=False)

    # --- applications -------------------------------------------------------------------

    async def set_event_filter(self, app: str, allowed_types: list[str]) -> None:
        """Ask Asterisk to send the app only these event types."""
        await self.request("PUT", f"/applications/{_seg(app)}/eventFilter",
                           payload={"allowed": [{"type": kind} for kind in allowed_types]},
                           reply=False)


def _seg(value: str) -> str:
    """Quote one path segment: ids come from Asterisk, but never trust them to be tidy."""
    return quote(value, safe="")
