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
class RecordingTarget:
    relative_path: str        # stored in the history row
    asterisk_path: str        # handed to MixMonitor


class Telephony(Protocol):
    async def linkedid(self, channel_id: str) -> str:
        """The call's linkedid (raises CallerGone)."""

    async def answer(self, channel_id: str) -> None:
        """Answer the channel (raises CallerGone)."""

    async def play_notice(self, channel_id: str, sound: str, language: str) -> bool:
        """Play to the end: True; the caller left first: False."""

    async def send_to_queue(self, channel_id: str, queue: str,
                            recording: RecordingTarget | None, language: str) -> None:
        """Start recording both directions (unless ``recording`` is None) and hand the
        caller to the queue (raises CallerGone). The channel stays watched afterwards."""

    async def wait_for_hangup(self, channel_id: str) -> Hangup: ...

    async def adopt(self, channel_id: str) -> None:
        """Watch a channel whose start we did not see (after a restart)."""

    async def current_agent(self, channel_id: str) -> tuple[str, str] | None:
        """(agent name, interface) of the member talking to this caller, if any."""


class AsyncContactHistory(Protocol):
    async def open_call(self, call: NewCall) -> None: ...

    async def queued_unrecorded(self, call_id: str, reason: str) -> None: ...

    async def agent_connected(self, call_id: str, agent: str, agent_interface: str,
                              at: datetime, recording_path: str | None = None) -> bool: ...

    async def finish_call(self, call_id: str, end: CallEnd) -> None: ...

    async def find_by_channel(self, channel_id: str) -> CallRecord | None: ...

    async def unfinished_calls(self, asterisk_id: str) -> list[CallRecord]: ...


class RecordingStore(Protocol):
    def target_for(self, call_id: str, started_at: datetime) -> RecordingTarget: ...

    async def finalise(self, relative_path: str) -> RecordingFacts | None:
        """Wait for the writer to finish, then measure it; None if there is no file."""

    async def discard(self, relative_path: str) -> None: ...

    async def last_written(self, relative_path: str) -> datetime | None: ...


class Objections(Protocol):
    async def has_objected(self, e164: str) -> bool:
        """Whether this caller objected (GDPR art. 21) to the processing of their calls."""
