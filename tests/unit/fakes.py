"""In-memory stand-ins for the call flow's ports (no I/O), for domain unit tests."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from callrec.domain.callflow import CallFlow
from callrec.domain.history import CallEnd, CallRecord, NewCall, RecordingFacts
from callrec.domain.ports import (
    ChannelGone,
    HangupRequested,
    IncomingCall,
    PlaybackFinished,
    RecordingTarget,
    Snapshot,
    TelephonyEvent,
)
from callrec.errors import AriConnectionError, AriHttpError, CallerGone


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
                              at: datetime, recording_path: str | None = None,
                              recording_started_at: datetime | None = None) -> bool:
        if call_id not in self.rows:
            return False
        if recording_path is not None and self.rows[call_id].ended_at is None:
            self._update(call_id, notice_completed=True, recording_path=recording_path)
        if recording_started_at is not None:
            self._update(call_id, recording_started_at=recording_started_at)
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
        if end.recording_started_at is not None:
            self._update(call_id, recording_started_at=end.recording_started_at)
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
    """Plays a scripted call: whether the notice completes, when the hangup comes.

    What Asterisk would report (a playback's end, a hangup) goes to the call flow it is
    wired to (``flow``), as the ARI adapter's events do. ``fail`` makes a step raise an
    error of callrec's tree, as an Asterisk answering 500 does."""

    def __init__(self, *, notice_completes: bool = True, gone_on_answer: bool = False,
                 agent: tuple[str, str] | None = None, fail: str | None = None,
                 fail_open_fails: bool = False, fail_open_label_missing: bool = False,
                 gone_after_failure: bool = False) -> None:
        self.notice_completes = notice_completes
        self.gone_on_answer = gone_on_answer
        self.agent = agent
        self.fail = fail
        self.fail_open_fails = fail_open_fails
        self.fail_open_label_missing = fail_open_label_missing
        self.gone_after_failure = gone_after_failure
        self.steps: list[tuple[str, ...]] = []
        self.flow: CallFlow | None = None
        self.present: set[str] = set()

    def _report(self, event: TelephonyEvent) -> None:
        assert self.flow is not None, "wire the telephony to a flow first"
        self.flow.apply(event)

    def hang_up(self, channel_id: str, at: datetime) -> None:
        self._report(ChannelGone(channel_id, at))

    def _step(self, *step: str) -> None:
        self.steps.append(step)
        if self.fail == step[0]:
            raise AriHttpError("POST", f"channels/{step[1]}/{step[0]}", 500, "Internal Error")

    async def snapshot(self) -> Snapshot:
        return Snapshot("node-a", {})

    async def linkedid(self, channel_id: str) -> str:
        return f"linked-{channel_id}"

    async def answer(self, channel_id: str) -> None:
        self._step("answer", channel_id)
        if self.gone_on_answer:
            raise CallerGone(channel_id)

    async def play(self, channel_id: str, sound: str, language: str, playback_id: str) -> None:
        self._step("play", channel_id, sound, language)
        if self.notice_completes:
            self._report(PlaybackFinished(channel_id, playback_id))
        else:  # the caller hangs up while it plays
            self._report(HangupRequested(channel_id))

    async def playback_exists(self, playback_id: str) -> bool:
        return False

    async def set_handover(self, channel_id: str, queue: str,
                           recording: RecordingTarget | None, language: str) -> None:
        self._step("queue", channel_id, queue, recording.asterisk_path if recording else "",
                   language)

    async def continue_to_queue(self, channel_id: str) -> None:
        # Not a step of its own in ``steps``: "queue" stands for the whole hand-over.
        if self.fail == "continue":
            raise AriHttpError("POST", f"channels/{channel_id}/continue", 500, "Internal Error")

    async def fail_open(self, channel_id: str, call: IncomingCall) -> None:
        self.steps.append(("fail_open", channel_id, call.dialled))
        if self.fail_open_fails:
            raise AriConnectionError("ARI POST continue: connection refused")
        if self.fail_open_label_missing:  # Asterisk's 404 "Requested label cannot be found"
            raise CallerGone("ARI POST continue -> 404: Requested label cannot be found")

    async def channel_exists(self, channel_id: str) -> bool:
        self.steps.append(("adopt", channel_id))
        return not self.gone_after_failure

    async def channel_ids(self) -> set[str]:
        return self.present

    async def current_agent(self, channel_id: str) -> tuple[str, str] | None:
        return self.agent


class MemoryRecordings:
    def __init__(self) -> None:
        self.written: dict[str, RecordingFacts] = {}
        self.subjects: dict[str, str] = {}    # relative path -> whose key sealed it
        self.discarded: list[str] = []
        self.mtimes: dict[str, datetime] = {}

    def target_for(self, call_id: str, started_at: datetime) -> RecordingTarget:
        relative = f"{started_at:%Y/%m/%d}/{call_id}.wav"
        return RecordingTarget(relative, "/spool/" + relative)

    async def finalise(self, relative_path: str, subject: str) -> RecordingFacts | None:
        self.subjects[relative_path] = subject
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
