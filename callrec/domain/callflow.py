"""The life of one recorded call, free of ARI, SQL and file-system details.

    arrive -> row written -> answer -> notice (in the service's language)
           -> recording starts -> queue -> [agent connects] -> hangup -> row finalised

A caller who hangs up during the notice keeps a row (outcome ``notice_hangup``) but no
recording: recording starts only once the notice has been heard in full.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import structlog

from callrec.domain.history import CallEnd, CallRecord, NewCall, Outcome
from callrec.domain.numbers import normalise_caller
from callrec.domain.ports import (
    AsyncContactHistory,
    Hangup,
    IncomingCall,
    LiveChannel,
    Objections,
    RecordingStore,
    Telephony,
)
from callrec.domain.services import ServiceConfig
from callrec.errors import CallerGone

Clock = Callable[[], datetime]
Router = Callable[[str], tuple[ServiceConfig, bool]]


@dataclass(frozen=True)
class CallFlowSettings:
    route: Router              # dialled number -> (service, was it a configured number)
    default_region: str        # country for reading national caller numbers


def new_call_id() -> str:
    return uuid.uuid4().hex


@dataclass
class LiveCall:
    """What this process knows of a call it is running, kept as the row changes.

    The row is written three times: at arrival, when an agent answers and at the end.
    In between, this copy is the truth, and a restarted callrec rebuilds it from the row
    and from what it finds (see :meth:`CallFlow.resume`).
    """

    id: str
    channel_id: str
    notice_completed: bool
    recording_path: str | None
    agent: str | None
    recording_skipped_reason: str | None

    @classmethod
    def of(cls, record: CallRecord) -> LiveCall:
        return cls(record.id, record.channel_id, record.notice_completed,
                   record.recording_path, record.agent, record.recording_skipped_reason)


class CallFlow:
    def __init__(self, settings: CallFlowSettings, telephony: Telephony,
                 history: AsyncContactHistory, recordings: RecordingStore,
                 objections: Objections, clock: Clock,
                 new_id: Callable[[], str] = new_call_id) -> None:
        self._settings = settings
        self._objections = objections
        self._telephony = telephony
        self._history = history
        self._recordings = recordings
        self._clock = clock
        self._new_id = new_id
        # Calls this process is running, by channel: spares the AGI report a database
        # lookup on the hot path. Anything not in it is looked up (e.g. just after a restart).
        self._live_calls: dict[str, LiveCall] = {}
        self._log = structlog.get_logger("callrec.callflow")

    async def handle_new(self, call: IncomingCall) -> None:
        """Run one call from its arrival in Stasis to its finalised history row."""
        service, known = self._settings.route(call.dialled)
        record = await self._open_row(call, service, known)
        with self._running(LiveCall.of(record)) as live:
            await self._notice_then_queue(record, live, service)
            await self._finish_when_hung_up(live)

    async def resume(self, record: CallRecord, live: LiveChannel | None) -> None:
        """Take over a call whose row is unfinished, after callrec restarted or reconnected."""
        _bind_ids(record)
        state = await self._rebuilt(record, live)
        if live is None:
            self._log.info("call_ended_while_away")
            await self._finish(state, Hangup(self._clock(), estimated=True))
            return
        with self._running(state) as call:
            if live.in_our_stasis:
                self._log.info("call_resumed_in_notice_phase")
                service, _ = self._settings.route(record.service_number)
                await self._notice_then_queue(record, call, service)
            else:
                self._log.info("call_resumed_in_queue")
                await self._telephony.adopt(record.channel_id)
                if call.agent is None:
                    await self._learn_agent(call)
            await self._finish_when_hung_up(call)

    async def _rebuilt(self, record: CallRecord, live: LiveChannel | None) -> LiveCall:
        """The state of a call this process did not start, from its row and from Asterisk.

        The hand-over to the queue is not written when it happens (to save a write per
        call), so it is inferred: a caller no longer in our Stasis app was handed over,
        and so was a gone caller whose recording exists.
        """
        state = LiveCall.of(record)
        if state.notice_completed or state.recording_skipped_reason is not None:
            return state
        target = self._recordings.target_for(record.id, record.started_at)
        if live is None:
            handed_over = await self._recordings.last_written(target.relative_path) is not None
        else:
            handed_over = not live.in_our_stasis
        if handed_over:
            state.notice_completed, state.recording_path = True, target.relative_path
        return state

    @contextlib.contextmanager
    def _running(self, live: LiveCall) -> Iterator[LiveCall]:
        self._live_calls[live.channel_id] = live
        try:
            yield live
        finally:
            self._live_calls.pop(live.channel_id, None)

    async def agent_connected(self, channel_id: str, agent: str, interface: str) -> None:
        """Queue reported (through its AGI hook) that a member took this caller."""
        live = self._live_calls.get(channel_id)
        recording_path: str | None = None
        if live is not None:
            # Before the write: a hangup racing this report must already count it answered.
            live.agent = live.agent or agent
            # The hand-over is stored with the agent: one write fewer per answered call.
            call_id: str | None = live.id
            recording_path = live.recording_path
        else:
            record = await self._history.find_by_channel(channel_id)
            call_id = record.id if record is not None else None
        if call_id is None or not await self._history.agent_connected(
                call_id, agent, interface, self._clock(), recording_path):
            self._log.warning("agent_for_unknown_call", channel_id=channel_id)
            return
        # Debug: call_ended says it again; info is two lines per call (their CPU counts).
        self._log.debug("agent_connected", call_id=call_id, channel_id=channel_id, agent=agent)

    async def _open_row(self, call: IncomingCall, service: ServiceConfig,
                        known: bool) -> CallRecord:
        log = self._log.bind(channel_id=call.channel_id)
        if not known:
            # The dialled number is the service's, not the caller's: safe to log.
            log.warning("unknown_service_number", dialled=call.dialled,
                        routed_to=service.name)
        linkedid = call.linkedid or await self._linkedid(call.channel_id)
        caller = normalise_caller(call.caller_number, self._settings.default_region)
        new = NewCall(
            id=self._new_id(), asterisk_id=call.asterisk_id, channel_id=call.channel_id,
            linkedid=linkedid, caller_number_raw=caller.raw, caller_number=caller.e164,
            caller_withheld=caller.withheld, caller_name_raw=call.caller_name,
            service_number=call.dialled, service=service.name, service_number_known=known,
            queue=service.queue, language=service.language_for(call.dialled),
            started_at=self._clock(),
        )
        await self._history.open_call(new)
        record = CallRecord.opened(new)  # no read-back: one round trip less per call
        _bind_ids(record)
        log.info("call_started", service=service.name, withheld=caller.withheld)
        return record

    async def _linkedid(self, channel_id: str) -> str:
        try:
            return await self._telephony.linkedid(channel_id)
        except CallerGone:
            return channel_id

    async def _notice_then_queue(self, record: CallRecord, live: LiveCall,
                                 service: ServiceConfig) -> None:
        channel = record.channel_id
        try:
            if await self._must_not_record(record, service):
                await self._queue_unrecorded(record, live, "objection")
                return
            if not live.notice_completed:
                await self._telephony.answer(channel)
                if not await self._telephony.play_notice(channel, service.notice,
                                                         record.language):
                    self._log.info("notice_interrupted")
                    return
            target = self._recordings.target_for(record.id, record.started_at)
            # Not written now: with the agent, or at the end (a restart infers it).
            live.notice_completed, live.recording_path = True, target.relative_path
            await self._telephony.send_to_queue(channel, record.queue, target, record.language)
            self._log.debug("call_queued", queue=record.queue)
        except CallerGone:
            self._log.info("caller_gone")

    async def _must_not_record(self, record: CallRecord, service: ServiceConfig) -> bool:
        return (service.on_objection == "do_not_record" and record.caller_number is not None
                and await self._objections.has_objected(record.caller_number))

    async def _queue_unrecorded(self, record: CallRecord, live: LiveCall, reason: str) -> None:
        # No notice either: "this call is recorded" would not be true for this caller.
        await self._telephony.answer(record.channel_id)
        await self._history.queued_unrecorded(record.id, reason)
        live.recording_skipped_reason = reason
        await self._telephony.send_to_queue(record.channel_id, record.queue, None,
                                            record.language)
        self._log.info("call_queued_unrecorded", queue=record.queue, reason=reason)

    async def _learn_agent(self, live: LiveCall) -> None:
        try:
            agent = await self._telephony.current_agent(live.channel_id)
        except CallerGone:
            return
        if agent is not None:
            live.agent = agent[0]
            await self._history.agent_connected(live.id, agent[0], agent[1], self._clock(),
                                                live.recording_path)

    async def _finish_when_hung_up(self, live: LiveCall) -> None:
        hangup = await self._telephony.wait_for_hangup(live.channel_id)
        await self._finish(live, hangup)

    async def _finish(self, live: LiveCall, hangup: Hangup) -> None:
        outcome = outcome_of(live)
        recording = None
        if live.recording_path is not None:
            recording = await self._recordings.finalise(live.recording_path)
            if hangup.estimated:
                # The file stopped growing when the call ended: a better guess than now.
                written = await self._recordings.last_written(live.recording_path)
                hangup = Hangup(written or hangup.at, estimated=True)
        await self._history.finish_call(live.id, CallEnd(
            ended_at=hangup.at, outcome=outcome, recording=recording,
            end_estimated=hangup.estimated, notice_completed=live.notice_completed,
            recording_path=live.recording_path))
        self._log.info("call_ended", outcome=outcome.value, agent=live.agent,
                       recorded=recording is not None, estimated=hangup.estimated)


def _bind_ids(record: CallRecord) -> None:
    # Each call runs in its own task, with its own copy of the context: these ids then
    # travel with every log line of this call and of no other.
    structlog.contextvars.bind_contextvars(call_id=record.id, channel_id=record.channel_id,
                                           linkedid=record.linkedid)


def outcome_of(call: LiveCall) -> Outcome:
    if call.agent is not None:
        return Outcome.ANSWERED
    if call.notice_completed or call.recording_skipped_reason is not None:
        return Outcome.ABANDONED
    return Outcome.NOTICE_HANGUP
