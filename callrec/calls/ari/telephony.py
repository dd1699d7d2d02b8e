"""The call flow's Telephony port, carried out over ARI.

Per channel we keep one small watch: a future for its hangup and one per notice
playback. ARI events resolve them; the call flow awaits them. Watches are created when
the event that introduces a channel is dispatched (StasisStart) or when we adopt a
channel after a reconnect, so a hangup can never arrive before someone is listening.

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

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from callrec.calls.ari.client import AriClient, JsonObject
from callrec.calls.ari.transport import RESPONSE_EVENT
from callrec.config import AgiConfig
from callrec.domain.ports import Hangup, IncomingCall, LiveChannel, RecordingTarget
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
# A hangup report is on its way when the sweep finds a channel gone: wait this long for it
# before making up an end (the handler runs before Asterisk forgets the channel).
REPORT_GRACE_SECONDS = 2.0


@dataclass
class _Watch:
    hangup: asyncio.Future[Hangup]
    in_stasis: bool
    # Set before ``continue``: from then on the channel's end is reported over FastAGI
    # (or found by the sweep). Before it, StasisEnd is the end.
    handed_over: bool = False
    playbacks: dict[str, asyncio.Future[bool]] = field(default_factory=dict)

    def interrupt_playbacks(self) -> None:
        for done in self.playbacks.values():
            if not done.done():
                done.set_result(False)


@dataclass(frozen=True)
class Snapshot:
    asterisk_id: str
    live: dict[str, LiveChannel]


class AriTelephony:
    def __init__(self, client: AriClient, app: str, queue_context: str, agi: AgiConfig,
                 clock: Callable[[], datetime]) -> None:
        self._client = client
        self._app = app
        self._queue_context = queue_context
        self._agent_url, self._ended_url = agi.agent_connected_url, agi.call_ended_url
        self._clock = clock
        self._watches: dict[str, _Watch] = {}
        self._playbacks: dict[str, asyncio.Future[bool]] = {}  # every watch's, by playback id
        self._log = structlog.get_logger("callrec.calls.ari.telephony")

    # --- events -------------------------------------------------------------------------

    def handle_event(self, event: dict[str, Any]) -> IncomingCall | None:
        """Apply one ARI event; return a call that has just arrived, if this was one."""
        kind = event.get("type")
        channel = event.get("channel") if isinstance(event.get("channel"), dict) else None
        channel_id = str(channel.get("id", "")) if channel else ""
        if kind == "StasisStart" and channel:
            return self._stasis_start(event, channel)
        if kind == "PlaybackFinished":
            self._playback_finished(event)
            return None
        watch = self._watches.get(channel_id)
        if watch is None:
            return None
        if kind == "StasisEnd":
            watch.in_stasis = False
            watch.interrupt_playbacks()
            if not watch.handed_over and not watch.hangup.done():
                watch.hangup.set_result(Hangup(_event_time(event, self._clock)))
        elif kind == "ChannelHangupRequest":
            watch.interrupt_playbacks()
        elif kind == "ChannelDestroyed":
            watch.interrupt_playbacks()
            if not watch.hangup.done():
                watch.hangup.set_result(Hangup(_event_time(event, self._clock)))
        return None

    def _stasis_start(self, event: dict[str, Any], channel: JsonObject) -> IncomingCall | None:
        args = event.get("args") or []
        if args and args[0] == INTERNAL_ARG:
            return None
        channel_id = str(channel.get("id", ""))
        if not channel_id or channel_id in self._watches:
            return None
        self._watches[channel_id] = self._new_watch(in_stasis=True)
        return _incoming(channel, str(event.get("asterisk_id", "")), _linkedid_arg(args))

    def _playback_finished(self, event: dict[str, Any]) -> None:
        playback = event.get("playback")
        playback_id = playback.get("id") if isinstance(playback, dict) else None
        done = self._playbacks.get(str(playback_id))
        if done is not None and not done.done():
            done.set_result(True)

    def _new_watch(self, in_stasis: bool) -> _Watch:
        return _Watch(asyncio.get_running_loop().create_future(), in_stasis)

    # --- the Telephony port ---------------------------------------------------------------

    async def linkedid(self, channel_id: str) -> str:
        return await self._gone_is_caller_gone(
            self._client.get_variable(channel_id, "CHANNEL(linkedid)")) or channel_id

    async def answer(self, channel_id: str) -> None:
        await self._gone_is_caller_gone(self._client.answer(channel_id))

    async def play_notice(self, channel_id: str, sound: str, language: str) -> bool:
        watch = self._watches[channel_id]
        playback_id = uuid.uuid4().hex
        finished: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        # Registered before the request: the event may race its reply.
        watch.playbacks[playback_id] = self._playbacks[playback_id] = finished
        try:
            await self._client.play(channel_id, f"sound:{sound}", language, playback_id)
            return await finished
        except AriHttpError as exc:
            if exc.status not in _GONE_STATUSES:
                raise
            return False
        finally:
            watch.playbacks.pop(playback_id, None)
            self._playbacks.pop(playback_id, None)

    async def send_to_queue(self, channel_id: str, queue: str,
                            recording: RecordingTarget | None, language: str) -> None:
        # An empty recording path makes [callrec-queue] skip MixMonitor.
        handover = HANDOVER_SEPARATOR.join(
            (queue, language, self._agent_url, recording.asterisk_path if recording else "",
             self._ended_url))

        async def hand_over() -> None:
            # One variable, not five: every ARI request costs both Asterisk and us. Once it
            # is set, the hangup handler reports this channel's end to us.
            await self._client.set_variable(channel_id, HANDOVER_VARIABLE, handover)
            self._watches[channel_id].handed_over = True
            await self._client.continue_in_dialplan(channel_id, self._queue_context, "s", 1)

        await self._gone_is_caller_gone(hand_over())

    async def wait_for_hangup(self, channel_id: str) -> Hangup:
        return await asyncio.shield(self._watches[channel_id].hangup)

    async def adopt(self, channel_id: str) -> None:
        watch = self._watches.setdefault(channel_id, self._new_watch(in_stasis=False))
        watch.handed_over = True  # its hangup handler reports to whichever callrec runs
        if await self._client.get_channel(channel_id) is None and not watch.hangup.done():
            watch.hangup.set_result(Hangup(self._clock(), estimated=True))

    def call_ended(self, channel_id: str) -> None:
        """The hangup handler reported this channel's end (FastAGI ``call-ended``)."""
        watch = self._watches.get(channel_id)
        if watch is None:
            return  # finalised already (StasisEnd, the sweep), or not one of our calls
        watch.interrupt_playbacks()
        if not watch.hangup.done():
            watch.hangup.set_result(Hangup(self._clock()))

    async def sweep(self, grace: float = REPORT_GRACE_SECONDS) -> int:
        """End the handed-over calls whose channel Asterisk no longer has and whose end
        was never reported; returns how many. One ARI request, and none with no such call."""
        waiting = {channel_id for channel_id, watch in self._watches.items()
                   if watch.handed_over and not watch.hangup.done()}
        if not waiting:
            return 0
        present = {str(channel.get("id", "")) for channel in await self._client.list_channels()}
        if not waiting - present:
            return 0
        await asyncio.sleep(grace)  # a report already on its way wins
        ended = 0
        for channel_id in waiting - present:
            watch = self._watches.get(channel_id)
            if watch is not None and not watch.hangup.done():
                watch.hangup.set_result(Hangup(self._clock(), estimated=True))
                ended += 1
        return ended

    async def current_agent(self, channel_id: str) -> tuple[str, str] | None:
        interface = await self._client.get_variable(channel_id, "MEMBERINTERFACE")
        if not interface:
            return None
        name = await self._client.get_variable(channel_id, "MEMBERNAME")
        return (name or interface, interface)

    def release(self, channel_id: str) -> None:
        """Forget a channel once its call is finalised."""
        self._watches.pop(channel_id, None)

    def channels_in_notice(self) -> int:
        return sum(1 for watch in self._watches.values() if watch.in_stasis)

    # --- resynchronisation ----------------------------------------------------------------

    async def resync(self) -> Snapshot:
        """Reconcile our watches with the channels Asterisk has now (after a reconnect)."""
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
        for channel_id, watch in self._watches.items():
            await self._reconcile(channel_id, watch, live.get(channel_id))
        for channel_id, seen in live.items():
            # A caller who reached Stasis while we were away: its StasisStart was lost.
            if seen.in_our_stasis and channel_id not in self._watches:
                self._watches[channel_id] = self._new_watch(in_stasis=True)
        return Snapshot(asterisk_id, live)

    async def _reconcile(self, channel_id: str, watch: _Watch, live: LiveChannel | None) -> None:
        if live is None:
            watch.interrupt_playbacks()
            if not watch.hangup.done():
                watch.hangup.set_result(Hangup(self._clock(), estimated=True))
            return
        watch.in_stasis = live.in_our_stasis
        if not live.in_our_stasis:
            watch.handed_over = True
        for playback_id, finished in watch.playbacks.items():
            if finished.done():
                continue
            try:
                await self._client.request("GET", f"/playbacks/{playback_id}")
            except AriNotFound:
                finished.set_result(True)  # it ended while we were away; the caller is here

    @staticmethod
    async def _gone_is_caller_gone(step: Any) -> Any:
        try:
            return await step
        except AriHttpError as exc:
            if exc.status in _GONE_STATUSES:
                raise CallerGone(str(exc)) from exc
            raise


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
