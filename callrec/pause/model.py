"""What a pause is, in the domain's words: no SQL, no AMI, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from callrec.domain.history import CallRecord


class PauseMethod(StrEnum):
    DTMF = "dtmf"            # the agent's feature code (*7 / *8) during the call
    WEB = "web"              # the button on the agent's live call page
    API = "api"              # the HTTP API (a CRM, say)
    AUTOMATIC = "automatic"  # the dialplan, around a step of its own (an IVR, say)


PAUSE_METHODS = tuple(method.value for method in PauseMethod)
# Who is named for what no person did: the dialplan's automatic pauses, and the pauses
# callrec itself ends (the maximum passed, or the call ended).
DIALPLAN_ACTOR = "dialplan"
CALLREC_ACTOR = "callrec"
DEFAULT_MAX_DURATION = timedelta(minutes=3)


@dataclass(frozen=True)
class Pause:
    """One paused span of one call's recording, as stored."""

    id: int
    call_id: str
    started_at: datetime
    ended_at: datetime | None          # None: still paused
    start_offset_ms: int               # milliseconds since the recording started
    end_offset_ms: int | None
    paused_by: str                     # agent name, username, or "dialplan"
    method: PauseMethod
    resumed_by: str | None
    resume_method: PauseMethod | None  # None: ended by callrec (auto-resume, hang-up)
    auto_resumed: bool                 # ended by itself at the maximum, or at hang-up
    expires_at: datetime               # when it ends by itself unless renewed

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class PauseStart:
    """What opening (or renewing) a pause stores."""

    call_id: str
    at: datetime
    offset_ms: int
    by: str
    method: PauseMethod
    expires_at: datetime


@dataclass(frozen=True)
class PauseEnd:
    """What closing a pause stores. ``by``/``method`` None: callrec ended it."""

    at: datetime
    offset_ms: int
    by: str | None
    method: PauseMethod | None
    auto_resumed: bool


@dataclass(frozen=True)
class PausableCall:
    """A call as the pause rules need to see it, whoever looked it up (the service's live
    calls, or the web's database row)."""

    call_id: str
    channel_id: str                    # the caller's channel: MixMonitor runs on it
    queue: str
    agent: str | None                  # the member who answered (None: nobody yet)
    recording_started_at: datetime | None  # None: MixMonitor has not started
    live: bool                         # the caller is still on the line
    recorded: bool                     # a recording is being made (not skipped)

    @classmethod
    def of_record(cls, record: CallRecord) -> PausableCall:
        """A call as its row has it (the web process): the row knows the agent and the
        recording's start once the agent's answer is written."""
        return cls(record.id, record.channel_id, record.queue, record.agent,
                   record.recording_started_at, live=record.ended_at is None,
                   recorded=(record.recording_path is not None
                             and record.recording_skipped_reason is None))


@dataclass(frozen=True)
class DuePause:
    """An open pause that must end now: its maximum passed, or its call has ended."""

    pause: Pause
    channel_id: str                    # the caller's channel, to unmute
    call_ended_at: datetime | None     # set: the call is over, the pause ends with it
    recording_started_at: datetime | None


def offset_ms(call: PausableCall, at: datetime) -> int:
    """Milliseconds since the call's recording started, never negative."""
    if call.recording_started_at is None:
        return 0
    return max(0, round((at - call.recording_started_at).total_seconds() * 1000))


def pause_json(pause: Pause) -> dict[str, object]:
    """A pause as the API and ``callrec calls --json`` show it (times in UTC, ISO 8601)."""
    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(UTC).isoformat()

    return {"started_at": iso(pause.started_at), "ended_at": iso(pause.ended_at),
            "start_offset_ms": pause.start_offset_ms, "end_offset_ms": pause.end_offset_ms,
            "paused_by": pause.paused_by, "method": pause.method.value,
            "resumed_by": pause.resumed_by,
            "resume_method": pause.resume_method.value if pause.resume_method else None,
            "auto_resumed": pause.auto_resumed, "expires_at": iso(pause.expires_at)}
