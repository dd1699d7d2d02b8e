"""The call flow's Telephony port, carried out over ARI.

This adapter keeps no state of its own about calls: each call's state is one
:class:`~callrec.domain.call.Call` in the call flow. ARI events are translated here into
the domain's events (:meth:`AriTelephony.event_of`), and the port's steps into requests.

Recording uses MixMonitor in the dialplan after ``continue``, not an ARI recording:
ARI's channel recording hears one direction only and stops when the channel leaves
Stasis, while MixMonitor mixes both directions and keeps going through the queue wait
and the agent conversation whether or not callrec is connected at that moment.

After ``continue`` ARI says no more about the channel (we do not subscribe to it: a
subscribed channel costs Asterisk some ten more ARI messages per call). Its end comes
from the hangup handler [callrec-incoming] pushes, over FastAGI (:meth:`call_ended`).
A report that never comes (callrec was away, the connection failed, an older dialplan)
is made up for by :meth:`sweep`, which finds handed-over channels Asterisk no longer has.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from callrec.calls.ari.client import AriClient, JsonObject
from callrec.calls.ari.transport import RESPONSE_EVENT
from callrec.config import AgiConfig
from callrec.domain.ports import (
    CallArrived,
    ChannelGone,
    HangupRequested,
    IncomingCall,
    LeftStasis,
    LiveChannel,
    PlaybackFinished,
    RecordingTarget,
    Snapshot,
    TelephonyEvent,
)
from callrec.errors import AriHttpError, AriNotFound, CallerGone

# StasisStart of a channel callrec itself put into the app (e.g. a snoop or a test
# originate) carries this first argument; such channels are not callers.
INTERNAL_ARG = "callrec-internal"
# [callrec-incoming] passes the call's linkedid as ``Stasis(callrec,linkedid=...)``: it
# spares a GET of CHANNEL(linkedid) per call. Without it (an older dialplan) we ask.
LINKEDID_ARG = "linkedid="
_LINKEDID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# The one channel variable the hand-over sets, read by [callrec-queue] and [callrec-ended]
# with CUT(): queue, language, FastAGI URL for the agent, recording path (empty: do not
# record) and FastAGI URL for the end of the call, in that order.
HANDOVER_VARIABLE = "CALLREC_CALL"
HANDOVER_SEPARATOR = "|"
_GONE_STATUSES = (404, 409, 422)  # gone, or no longer in Stasis: the caller left
# The only events the call flow reads; Asterisk does not send the others (it still builds
# them: the filter is applied last). The filter applies to RESTResponse too: without it,
# requests over the socket go unanswered. ChannelDestroyed only matters for a channel some
# other client subscribed us to.
EVENTS_USED = ("StasisStart", "StasisEnd", "PlaybackFinished", "ChannelHangupRequest",
               "ChannelDestroyed", "ApplicationReplaced", RESPONSE_EVENT)
# Where a failing call goes: back to the extension it dialled in the context it came from,
# at this label ([callrec-incoming]'s fail-open path).
FAILOPEN_LABEL = "failopen"
INCOMING_CONTEXT = "callrec-incoming"
T = TypeVar("T")


class AriTelephony:
    """The Telephony port over ARI. It keeps no per-call state: events become the
    domain's :data:`~callrec.domain.ports.TelephonyEvent` values for the call flow."""

    def __init__(self, client: AriClient, app: str, queue_context: str, agi: AgiConfig,
                 clock: Callable[[], datetime]) -> None:
        self._client = client
        self._app = app
        self._queue_context = queue_context
        self._agent_url, self._ended_url = agi.agent_connected_url, agi.call_ended_url
        self._clock = clock

    # --- events -------------------------------------------------------------------------

    def event_of(self, event: dict[str, Any]) -> TelephonyEvent | None:
        """One ARI event in the call flow's words; None for what the flow does not need."""
        kind = event.get("type")
        channel = event.get("channel") if isinstance(event.get("channel"), dict) else None
        channel_id = str(channel.get("id", "")) if channel else ""
        if kind == "PlaybackFinished":
            return _playback_finished(event)
        if channel is None or not channel_id:
            return None
        if kind == "StasisStart":
            args = event.get("args") or []
            if args and args[0] == INTERNAL_ARG:
                return None
            return CallArrived(_incoming(channel, str(event.get("asterisk_id", "")),
                                         _linkedid_arg(args)))
        if kind == "StasisEnd":
            return LeftStasis(channel_id, _event_time(event, self._clock))
        if kind == "ChannelHangupRequest":
            return HangupRequested(channel_id)
        if kind == "ChannelDestroyed":
            return ChannelGone(channel_id, _event_time(event, self._clock))
        return None

    # --- the Telephony port ---------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        """Re-apply the event filter, then list what Asterisk has (after a reconnect)."""
        await self._client.set_event_filter(self._app, list(EVENTS_USED))
        info = await self._client.asterisk_info()
        asterisk_id = str(info.get("system", {}).get("entity_id", ""))
        live: dict[str, LiveChannel] = {}
        for channel in await self._client.list_channels():
            dialplan = channel.get("dialplan") or {}
            in_ours = (dialplan.get("app_name") == "Stasis"
                       and str(dialplan.get("app_data", "")).split(",")[0] == self._app)
            call = _incoming(channel, asterisk_id)
            live[call.channel_id] = LiveChannel(call, in_our_stasis=in_ours)
        return Snapshot(asterisk_id, live)

    async def linkedid(self, channel_id: str) -> str:
        return await _gone_is_caller_gone(
            self._client.get_variable(channel_id, "CHANNEL(linkedid)")) or channel_id

    async def answer(self, channel_id: str) -> None:
        await _gone_is_caller_gone(self._client.answer(channel_id))

    async def play(self, channel_id: str, sound: str, language: str, playback_id: str) -> None:
        await _gone_is_caller_gone(
            self._client.play(channel_id, f"sound:{sound}", language, playback_id))

    async def playback_exists(self, playback_id: str) -> bool:
        try:
            await self._client.request("GET", f"/playbacks/{playback_id}")
        except AriNotFound:
            return False
        return True

    async def set_handover(self, channel_id: str, queue: str,
                           recording: RecordingTarget | None, language: str) -> None:
        # One variable, not five: every ARI request costs both Asterisk and us. Once it is
        # set, the hangup handler reports this channel's end to us. An empty recording
        # path makes [callrec-queue] skip MixMonitor.
        handover = HANDOVER_SEPARATOR.join(
            (queue, language, self._agent_url, recording.asterisk_path if recording else "",
             self._ended_url))
        await _gone_is_caller_gone(
            self._client.set_variable(channel_id, HANDOVER_VARIABLE, handover))

    async def continue_to_queue(self, channel_id: str) -> None:
        await _gone_is_caller_gone(
            self._client.continue_in_dialplan(channel_id, self._queue_context, "s", 1))

    async def fail_open(self, channel_id: str, call: IncomingCall) -> None:
        """Back to the extension the caller dialled, at its ``failopen`` label: the path
        [callrec-incoming] takes when Stasis() fails because callrec is down."""
        await _gone_is_caller_gone(self._client.continue_in_dialplan(
            channel_id, call.context or INCOMING_CONTEXT, call.dialled, label=FAILOPEN_LABEL))

    async def channel_exists(self, channel_id: str) -> bool:
        return await self._client.get_channel(channel_id) is not None

    async def channel_ids(self) -> set[str]:
        return {str(channel.get("id", "")) for channel in await self._client.list_channels()}

    async def current_agent(self, channel_id: str) -> tuple[str, str] | None:
        interface = await self._client.get_variable(channel_id, "MEMBERINTERFACE")
        if not interface:
            return None
        name = await self._client.get_variable(channel_id, "MEMBERNAME")
        return (name or interface, interface)


async def _gone_is_caller_gone(step: Awaitable[T]) -> T:
    try:
        return await step
    except AriHttpError as exc:
        if exc.status in _GONE_STATUSES:
            raise CallerGone(str(exc)) from exc
        raise


def _playback_finished(event: dict[str, Any]) -> PlaybackFinished | None:
    playback = event.get("playback")
    if not isinstance(playback, dict) or playback.get("id") is None:
        return None
    target = str(playback.get("target_uri", ""))
    channel_id = target.removeprefix("channel:") if target.startswith("channel:") else None
    return PlaybackFinished(channel_id, str(playback["id"]))


def _incoming(channel: JsonObject, asterisk_id: str,
              linkedid: str | None = None) -> IncomingCall:
    caller = channel.get("caller") or {}
    dialplan = channel.get("dialplan") or {}
    return IncomingCall(
        channel_id=str(channel.get("id", "")),
        asterisk_id=asterisk_id,
        caller_number=caller.get("number") if isinstance(caller.get("number"), str) else None,
        caller_name=caller.get("name") if isinstance(caller.get("name"), str) else None,
        dialled=str(dialplan.get("exten", "")),
        linkedid=linkedid,
        context=str(dialplan.get("context", "")),
    )


def _linkedid_arg(args: list[Any]) -> str | None:
    for arg in args:
        if isinstance(arg, str) and arg.startswith(LINKEDID_ARG):
            value = arg.removeprefix(LINKEDID_ARG)
            return value if _LINKEDID.match(value) else None
    return None


def _event_time(event: dict[str, Any], clock: Callable[[], datetime]) -> datetime:
    stamp = event.get("timestamp")
    if isinstance(stamp, str):
        # Asterisk writes e.g. 2026-11-24T22:10:01.123+0000 (fromisoformat: a fiftieth of
        # strptime's cost, on every hangup).
        try:
            at = datetime.fromisoformat(stamp)
        except ValueError:
            return clock()
        if at.tzinfo is not None and at.utcoffset() is not None:
            return at.astimezone(UTC)
    return clock()
