"""Contact history: what the register keeps about each call, and the port to store it.

The domain speaks only in these types; SQL lives in :mod:`callrec.storage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    ANSWERED = "answered"          # an agent took the call
    ABANDONED = "abandoned"        # the caller heard the notice, then hung up in the queue
    NOTICE_HANGUP = "notice_hangup"  # the caller hung up before the notice ended
    # callrec failed before the hand-over and passed the caller to the dialplan's fail-open
    # path (notice, recording, queue without callrec); the row's end is when it did.
    FAILED_OVER = "failed_over"


@dataclass(frozen=True)
class NewCall:
    """What is known the moment a call arrives; written before the caller hears anything."""

    id: str                         # generated; names the recording too, never caller data
    asterisk_id: str                # Asterisk's entity id: which node owns the channel
    channel_id: str                 # Asterisk uniqueid of the caller's channel
    linkedid: str
    caller_number_raw: str | None   # exactly as the trunk delivered it (may be hostile)
    caller_number: str | None       # E.164, or None when withheld or not a number
    caller_withheld: bool
    caller_name_raw: str | None
    service_number: str             # the number dialled, as delivered
    service: str
    service_number_known: bool      # False: routed to the default service
    queue: str
    language: str
    started_at: datetime            # UTC, aware


@dataclass(frozen=True)
class RecordingFacts:
    path: str        # relative to the recordings directory, e.g. 2026/11/24/<id>.wav
    bytes: int
    seconds: float
    sha256: str


@dataclass(frozen=True)
class CallEnd:
    ended_at: datetime
    outcome: Outcome
    recording: RecordingFacts | None
    end_estimated: bool = False     # True when callrec was away at hangup and reconstructed it
    # What the hand-over to the queue did, stored now if no earlier write stored it.
    notice_completed: bool = False
    recording_path: str | None = None
    # When MixMonitor started, stored now if the agent's write did not (nobody answered).
    recording_started_at: datetime | None = None


@dataclass(frozen=True)
class CallRecord:
    """One contact-history row as stored."""

    id: str
    asterisk_id: str
    channel_id: str
    linkedid: str
    caller_number_raw: str | None
    caller_number: str | None
    caller_withheld: bool
    caller_name_raw: str | None
    service_number: str
    service: str
    service_number_known: bool
    queue: str
    language: str
    started_at: datetime
    notice_completed: bool
    recording_path: str | None
    answered_at: datetime | None
    agent: str | None
    agent_interface: str | None
    ended_at: datetime | None
    outcome: Outcome | None
    recording_bytes: int | None
    recording_seconds: float | None
    recording_sha256: str | None
    end_estimated: bool
    recording_deleted_at: datetime | None
    restricted_at: datetime | None
    legal_hold: bool
    # Why the call went to the queue unrecorded (e.g. "objection", GDPR art. 21), or None.
    recording_skipped_reason: str | None = None
    # When MixMonitor started (the caller went to the queue): the zero of pause offsets.
    recording_started_at: datetime | None = None

    @classmethod
    def opened(cls, call: NewCall) -> CallRecord:
        """The row exactly as :meth:`ContactHistory.open_call` stores a new call."""
        # vars(), not dataclasses.asdict(): no deep copy of plain values, on every call.
        return cls(**vars(call), notice_completed=False, recording_path=None,
                   answered_at=None, agent=None, agent_interface=None, ended_at=None,
                   outcome=None, recording_bytes=None, recording_seconds=None,
                   recording_sha256=None, end_estimated=False, recording_deleted_at=None,
                   restricted_at=None, legal_hold=False)


class ContactHistory(Protocol):
    """Storage of contact-history rows. Implementations are synchronous and thread-safe."""

    def open_call(self, call: NewCall) -> None:
        """Insert the row for a call that just arrived."""

    def notice_completed(self, call_id: str, recording_path: str) -> None:
        """The notice was heard in full; recording into ``recording_path`` begins."""

    def queued_unrecorded(self, call_id: str, reason: str) -> None:
        """The caller went to the queue with no notice and no recording, and why."""

    def agent_connected(self, call_id: str, agent: str, agent_interface: str,
                        at: datetime, recording_path: str | None = None,
                        recording_started_at: datetime | None = None) -> bool:
        """Record the first agent who answered; False if the call is unknown.

        With ``recording_path``, the same write stores what the hand-over to the queue
        did before: notice heard in full, recording under way into that path (since
        ``recording_started_at``, the zero of pause offsets).
        """

    def finish_call(self, call_id: str, end: CallEnd) -> None:
        """Finalise the row at hangup. Finishing a finished row changes nothing."""

    def get(self, call_id: str) -> CallRecord | None: ...

    def find_by_channel(self, channel_id: str) -> CallRecord | None: ...

    def unfinished_calls(self, asterisk_id: str) -> list[CallRecord]:
        """Rows of that Asterisk node with no end yet (calls in progress or missed hangups)."""

    def search(self, number: str | None = None, since: datetime | None = None,
               limit: int = 100) -> list[CallRecord]:
        """Newest first; ``number`` is E.164 and matches ``caller_number``."""
