"""One call as this process runs it: the one object that holds its whole state.

A :class:`Call` is made the moment the telephony introduces the caller (or when callrec
takes over a call it did not start), before anything is awaited, so a hangup can never
arrive with nobody listening. Everything that happens to the call afterwards, whether
Asterisk says it over ARI or the dialplan reports it over FastAGI, reaches this object
through :class:`LiveCalls`, and the call flow awaits what it holds: the hangup and each
notice playback. Nothing else keeps per-call state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from callrec.domain.history import CallRecord, Outcome
from callrec.domain.ports import Hangup, IncomingCall


@dataclass(eq=False)
class Call:
    id: str                        # the row's id; names the recording too
    channel_id: str
    hangup: asyncio.Future[Hangup]
    in_stasis: bool                # waiting for us in the notice phase, not yet handed over
    incoming: IncomingCall | None = None  # as Asterisk introduced it (None: taken over)
    record: CallRecord | None = None   # the row as written at arrival (None until then)
    # Set once the hand-over variable is on the channel: from then on the end is reported
    # over FastAGI (or found by the sweep), and leaving Stasis is not the end.
    handed_over: bool = False
    notice_completed: bool = False
    recording_path: str | None = None
    recording_started_at: datetime | None = None   # the zero of pause offsets
    agent: str | None = None
    recording_skipped_reason: str | None = None
    # callrec failed mid-call and the dialplan's fail-open path took the caller over.
    failed_over: bool = False
    playbacks: dict[str, asyncio.Future[bool]] = field(default_factory=dict)

    @classmethod
    def arriving(cls, call_id: str, incoming: IncomingCall) -> Call:
        return cls(call_id, incoming.channel_id, asyncio.get_running_loop().create_future(),
                   in_stasis=True, incoming=incoming)

    @classmethod
    def of_row(cls, record: CallRecord, live: IncomingCall | None, in_stasis: bool) -> Call:
        """A call whose row exists already (callrec restarted or reconnected)."""
        call = cls(record.id, record.channel_id, asyncio.get_running_loop().create_future(),
                   in_stasis, incoming=live, record=record)
        call.notice_completed, call.recording_path = record.notice_completed, record.recording_path
        call.agent, call.recording_skipped_reason = record.agent, record.recording_skipped_reason
        call.recording_started_at = record.recording_started_at
        call.handed_over = not in_stasis
        return call

    @property
    def ended(self) -> bool:
        return self.hangup.done()

    def hung_up(self, hangup: Hangup) -> None:
        """The caller is gone; the first word on it counts."""
        self.interrupt_playbacks()
        if not self.hangup.done():
            self.hangup.set_result(hangup)

    def left_stasis(self, at: datetime) -> None:
        self.in_stasis = False
        self.interrupt_playbacks()
        if not self.handed_over:
            self.hung_up(Hangup(at))

    def new_playback(self, playback_id: str) -> asyncio.Future[bool]:
        finished: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.playbacks[playback_id] = finished
        return finished

    def playback_finished(self, playback_id: str, completed: bool = True) -> bool:
        """Resolve one playback; False if it is not this call's."""
        finished = self.playbacks.get(playback_id)
        if finished is None:
            return False
        if not finished.done():
            finished.set_result(completed)
        return True

    def interrupt_playbacks(self) -> None:
        for finished in self.playbacks.values():
            if not finished.done():
                finished.set_result(False)

    def pending_playbacks(self) -> list[str]:
        return [pid for pid, finished in self.playbacks.items() if not finished.done()]

    @property
    def outcome(self) -> Outcome:
        if self.agent is not None:
            return Outcome.ANSWERED
        if self.failed_over:
            return Outcome.FAILED_OVER
        if self.notice_completed or self.recording_skipped_reason is not None:
            return Outcome.ABANDONED
        return Outcome.NOTICE_HANGUP


class LiveCalls:
    """The calls this process runs, by channel: the one registry of per-call state."""

    def __init__(self) -> None:
        self._by_channel: dict[str, Call] = {}

    def __len__(self) -> int:
        return len(self._by_channel)

    def __iter__(self) -> Iterator[Call]:
        return iter(list(self._by_channel.values()))

    def __contains__(self, channel_id: object) -> bool:
        return channel_id in self._by_channel

    def get(self, channel_id: str) -> Call | None:
        return self._by_channel.get(channel_id)

    def add(self, call: Call) -> Call:
        self._by_channel[call.channel_id] = call
        return call

    def remove(self, call: Call) -> None:
        if self._by_channel.get(call.channel_id) is call:
            del self._by_channel[call.channel_id]

    def playback_finished(self, channel_id: str | None, playback_id: str) -> None:
        owner = self._by_channel.get(channel_id) if channel_id else None
        if owner is not None:
            owner.playback_finished(playback_id)
            return
        # Asterisk names the playback's channel; without it (never seen), ask every call.
        for call in self._by_channel.values():
            if call.playback_finished(playback_id):
                return

    def in_notice(self) -> int:
        return sum(1 for call in self._by_channel.values() if call.in_stasis)

    def waiting_for_reported_end(self) -> list[Call]:
        return [call for call in self._by_channel.values()
                if call.handed_over and not call.ended]
