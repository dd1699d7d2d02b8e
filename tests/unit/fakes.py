"""In-memory stand-ins for the call flow's ports (no I/O), for domain unit tests."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime

from callrec.domain.history import CallEnd, CallRecord, NewCall, RecordingFacts
from callrec.domain.ports import Hangup, RecordingTarget
from callrec.errors import CallerGone


class MemoryHistory:
    def __init__(self) -> None:
        self.rows: dict[str, CallRecord] = {}

    async def open_call(self, call: NewCall) -> None:
        assert call.id not in self.rows
        self.rows[call.id] = CallRecord.opened(call)

    def _update(self, call_id: str, **changes: object) -> None:
        self.rows[call_id] = dataclasses.replace(self.rows[call_id], **changes)  # type: ignore[arg-type]

    async def queued_unrecorded(self, call_id: str, reason: str) -> None:
        self._update(call_id, recording_skipped_reason=reason)

    async def agent_connected(self, call_id: str, agent: str, agent_interface: str,
                              at: datetime, recording_path: str | None = None) -> bool:
        if call_id not in self.rows:
            return False
        if recording_path is not None and self.rows[call_id].ended_at is None:
            self._update(call_id, notice_completed=True, recording_path=recording_path)
        if self.rows[call_id].agent is None:
            self._update(call_id, agent=agent, agent_interface=agent_interface, answered_at=at)
        return True

    async def finish_call(self, call_id: str, end: CallEnd) -> None:
        if self.rows[call_id].ended_at is not None:
            return
        facts = end.recording
        if end.notice_completed:
            self._update(call_id, notice_completed=True)
        if end.recording_path is not None:
            self._update(call_id, recording_path=end.recording_path)
        self._update(call_id, ended_at=end.ended_at, outcome=end.outcome,
                     end_estimated=end.end_estimated,
                     recording_bytes=facts.bytes if facts else None,
                     recording_seconds=facts.seconds if facts else None,
                     recording_sha256=facts.sha256 if facts else None)

    async def find_by_channel(self, channel_id: str) -> CallRecord | None:
        return next((r for r in self.rows.values() if r.channel_id == channel_id), None)

    async def unfinished_calls(self, asterisk_id: str) -> list[CallRecord]:
        return [r for r in self.rows.values()
                if r.asterisk_id == asterisk_id and r.ended_at is None]


class ScriptedTelephony:
    """Plays a scripted call: whether the notice completes, when the hangup comes."""

    def __init__(self, *, notice_completes: bool = True, gone_on_answer: bool = False,
                 agent: tuple[str, str] | None = None) -> None:
        self.notice_completes = notice_completes
        self.gone_on_answer = gone_on_answer
        self.agent = agent
        self.steps: list[tuple[str, ...]] = []
        self.hangups: dict[str, asyncio.Future[Hangup]] = {}

    def hangup_future(self, channel_id: str) -> asyncio.Future[Hangup]:
        return self.hangups.setdefault(channel_id, asyncio.get_running_loop().create_future())

    def hang_up(self, channel_id: str, at: datetime, estimated: bool = False) -> None:
        self.hangup_future(channel_id).set_result(Hangup(at, estimated))

    async def linkedid(self, channel_id: str) -> str:
        return f"linked-{channel_id}"

    async def answer(self, channel_id: str) -> None:
        self.steps.append(("answer", channel_id))
        if self.gone_on_answer:
            raise CallerGone(channel_id)

    async def play_notice(self, channel_id: str, sound: str, language: str) -> bool:
        self.steps.append(("play", channel_id, sound, language))
        return self.notice_completes

    async def send_to_queue(self, channel_id: str, queue: str,
                            recording: RecordingTarget | None, language: str) -> None:
        self.steps.append(("queue", channel_id, queue,
                           recording.asterisk_path if recording else "", language))

    async def wait_for_hangup(self, channel_id: str) -> Hangup:
        return await self.hangup_future(channel_id)

    async def adopt(self, channel_id: str) -> None:
        self.steps.append(("adopt", channel_id))

    async def current_agent(self, channel_id: str) -> tuple[str, str] | None:
        return self.agent


class MemoryRecordings:
    def __init__(self) -> None:
        self.written: dict[str, RecordingFacts] = {}
        self.discarded: list[str] = []
        self.mtimes: dict[str, datetime] = {}

    def target_for(self, call_id: str, started_at: datetime) -> RecordingTarget:
        relative = f"{started_at:%Y/%m/%d}/{call_id}.wav"
        return RecordingTarget(relative, "/spool/" + relative)

    async def finalise(self, relative_path: str) -> RecordingFacts | None:
        return self.written.get(relative_path)

    async def discard(self, relative_path: str) -> None:
        self.discarded.append(relative_path)

    async def last_written(self, relative_path: str) -> datetime | None:
        return self.mtimes.get(relative_path)


class MemoryObjections:
    def __init__(self, *numbers: str) -> None:
        self.numbers = set(numbers)

    async def has_objected(self, e164: str) -> bool:
        return e164 in self.numbers
