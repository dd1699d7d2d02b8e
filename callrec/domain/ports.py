"""The small interfaces the call flow depends on. Adapters live at the edges: ARI in
:mod:`callrec.calls.ari`, SQL in :mod:`callrec.storage`, files in :mod:`callrec.recordings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from callrec.domain.history import CallEnd, CallRecord, NewCall, RecordingFacts


@dataclass(frozen=True)
class IncomingCall:
    """A caller's channel as Asterisk handed it to us. Caller fields are untrusted text."""

    channel_id: str
    asterisk_id: str
    caller_number: str | None
    caller_name: str | None
    dialled: str
    linkedid: str | None = None   # when Asterisk passed it along; else the flow asks for it
    context: str = ""             # the dialplan context the call came from (its fail-open)


@dataclass(frozen=True)
class Hangup:
    at: datetime
    estimated: bool = False   # callrec was away when it happened


@dataclass(frozen=True)
class LiveChannel:
    """A channel Asterisk still has, seen when callrec (re)connects."""

    call: IncomingCall
    in_our_stasis: bool       # waiting for us (notice phase) rather than in the queue


@dataclass(frozen=True)
class Snapshot:
    """What Asterisk has right now, read after every (re)connection."""

    asterisk_id: str
    live: dict[str, LiveChannel]


@dataclass(frozen=True)
class RecordingTarget:
    relative_path: str        # stored in the history row
    asterisk_path: str        # handed to MixMonitor


# --- what the telephony reports (ARI events, FastAGI reports), in the domain's words ----

@dataclass(frozen=True)
class CallArrived:
    call: IncomingCall


@dataclass(frozen=True)
class LeftStasis:
    channel_id: str
    at: datetime


@dataclass(frozen=True)
class HangupRequested:
    channel_id: str


@dataclass(frozen=True)
class ChannelGone:
    channel_id: str
    at: datetime


@dataclass(frozen=True)
class PlaybackFinished:
    channel_id: str | None    # None when Asterisk did not say whose it was
    playback_id: str


TelephonyEvent = CallArrived | LeftStasis | HangupRequested | ChannelGone | PlaybackFinished


class Telephony(Protocol):
    """Requests to the telephony. Steps that find the caller gone raise CallerGone; any
    other failure raises an error of :mod:`callrec.errors`, and the flow fails over."""

    async def snapshot(self) -> Snapshot:
        """After every (re)connection: the channels Asterisk has (and re-arm the link)."""

    async def linkedid(self, channel_id: str) -> str: ...

    async def answer(self, channel_id: str) -> None: ...

    async def play(self, channel_id: str, sound: str, language: str, playback_id: str) -> None:
        """Start a playback; its end arrives as :class:`PlaybackFinished`."""

    async def playback_exists(self, playback_id: str) -> bool: ...

    async def set_handover(self, channel_id: str, queue: str,
                           recording: RecordingTarget | None, language: str) -> None:
        """Leave on the channel what the queue step needs (``recording`` None: do not
        record). From then on the dialplan reports the caller's hangup."""

    async def continue_to_queue(self, channel_id: str) -> None:
        """Send the caller on to the queue (recording starts there)."""

    async def fail_open(self, channel_id: str, call: IncomingCall) -> None:
        """Send the caller to the dialplan's own path for callrec being down."""

    async def channel_exists(self, channel_id: str) -> bool: ...

    async def channel_ids(self) -> set[str]:
        """Every channel Asterisk has now."""

    async def current_agent(self, channel_id: str) -> tuple[str, str] | None:
        """(agent name, interface) of the member talking to this caller, if any."""


class AsyncContactHistory(Protocol):
    async def open_call(self, call: NewCall) -> None: ...

    async def queued_unrecorded(self, call_id: str, reason: str) -> None: ...

    async def agent_connected(self, call_id: str, agent: str, agent_interface: str,
                              at: datetime, recording_path: str | None = None,
                              recording_started_at: datetime | None = None) -> bool: ...

    async def finish_call(self, call_id: str, end: CallEnd) -> None: ...

    async def find_by_channel(self, channel_id: str) -> CallRecord | None: ...

    async def unfinished_calls(self, asterisk_id: str) -> list[CallRecord]: ...


class RecordingStore(Protocol):
    def target_for(self, call_id: str, started_at: datetime) -> RecordingTarget: ...

    async def finalise(self, relative_path: str, subject: str) -> RecordingFacts | None:
        """Wait for the writer to finish, then measure it, then (with encryption on)
        seal it under ``subject``'s key; None if there is no file."""

    async def discard(self, relative_path: str) -> None: ...

    async def last_written(self, relative_path: str) -> datetime | None: ...


class Objections(Protocol):
    async def has_objected(self, e164: str) -> bool:
        """Whether this caller objected (GDPR art. 21) to the processing of their calls."""
