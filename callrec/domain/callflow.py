"""The life of one recorded call, free of ARI, SQL and file-system details.

    arrive -> row written -> answer -> notice (in the service's language)
           -> recording starts -> queue -> [agent connects] -> hangup -> row finalised

A caller who hangs up during the notice keeps a row (outcome ``notice_hangup``) but no
recording: recording starts only once the notice has been heard in full.

Whatever fails inside one call, its caller is never stranded: a caller still waiting for
us is passed at once to the dialplan's fail-open path (notice, recording and queue done by
Asterisk alone, as when callrec is down), and the row is finalised with an estimated end.
Each call's state is one :class:`~callrec.domain.call.Call`; everything the telephony
reports about a call reaches it here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from callrec.domain.call import Call, LiveCalls
from callrec.domain.history import CallEnd, CallRecord, NewCall
from callrec.domain.numbers import normalise_caller
from callrec.domain.ports import (
    AsyncContactHistory,
    CallArrived,
    ChannelGone,
    Hangup,
    HangupRequested,
    IncomingCall,
    LeftStasis,
    LiveChannel,
    Objections,
    PlaybackFinished,
    RecordingStore,
    RecordingTarget,
    Snapshot,
    Telephony,
    TelephonyEvent,
)
from callrec.domain.services import ServiceConfig
from callrec.errors import CallerGone, CallrecError

Clock = Callable[[], datetime]
Router = Callable[[str], tuple[ServiceConfig, bool]]


@dataclass(frozen=True)
class CallFlowSettings:
    route: Router              # dialled number -> (service, was it a configured number)
    default_region: str        # country for reading national caller numbers


def new_call_id() -> str:
    return uuid.uuid4().hex


# A hangup report is on its way when the sweep finds a channel gone: wait this long for it
# before making up an end (the handler runs before Asterisk forgets the channel).
REPORT_GRACE_SECONDS = 2.0


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
        self.calls = LiveCalls()
        self._log = structlog.get_logger("callrec.callflow")

    # --- what the telephony reports: synchronous, never blocks the event reader ----------

    def arrived(self, incoming: IncomingCall) -> Call | None:
        """A caller entered our app: its Call exists before anything is awaited, so its
        hangup can never come unheard. None if this channel is already running."""
        if not incoming.channel_id or incoming.channel_id in self.calls:
            return None
        return self.calls.add(Call.arriving(self._new_id(), incoming))

    def apply(self, event: TelephonyEvent) -> None:
        if isinstance(event, PlaybackFinished):
            self.calls.playback_finished(event.channel_id, event.playback_id)
            return
        if isinstance(event, CallArrived):
            return  # the service starts those (arrived + run)
        call = self.calls.get(event.channel_id)
        if call is None:
            return
        if isinstance(event, LeftStasis):
            call.left_stasis(event.at)
        elif isinstance(event, HangupRequested):
            call.interrupt_playbacks()
        elif isinstance(event, ChannelGone):
            call.hung_up(Hangup(event.at))

    def call_ended(self, channel_id: str) -> None:
        """The dialplan's hangup handler reported that a handed-over caller hung up."""
        call = self.calls.get(channel_id)
        if call is not None:  # else finalised already (StasisEnd, the sweep) or not ours
            call.hung_up(Hangup(self._clock()))

    async def agent_connected(self, channel_id: str, agent: str, interface: str) -> None:
        """Queue reported (through its AGI hook) that a member took this caller."""
        call = self.calls.get(channel_id)
        recording_path: str | None = None
        if call is not None:
            # Before the write: a hangup racing this report must already count it answered.
            call.agent = call.agent or agent
            # The hand-over is stored with the agent: one write fewer per answered call.
            call_id: str | None = call.id
            recording_path = call.recording_path
        else:
            record = await self._history.find_by_channel(channel_id)
            call_id = record.id if record is not None else None
        started = call.recording_started_at if call is not None else None
        if call_id is None or not await self._history.agent_connected(
                call_id, agent, interface, self._clock(), recording_path, started):
            self._log.warning("agent_for_unknown_call", channel_id=channel_id)
            return
        # Debug: call_ended says it again; info is two lines per call (their CPU counts).
        self._log.debug("agent_connected", call_id=call_id, channel_id=channel_id, agent=agent)

    # --- running a call ------------------------------------------------------------------

    async def run(self, call: Call) -> None:
        """Run a new call from its arrival to its finalised row; never raises."""
        assert call.incoming is not None
        try:
            service, known = self._settings.route(call.incoming.dialled)
            call.record = await self._open_row(call, call.incoming, service, known)
            await self._notice_then_queue(call, service)
            await self._finish(call, await call.hangup)
        except Exception as exc:  # noqa: BLE001 - one call's failure is that call's alone
            await self._failed(call, exc)
        finally:
            self.calls.remove(call)

    async def _open_row(self, call: Call, incoming: IncomingCall, service: ServiceConfig,
                        known: bool) -> CallRecord:
        log = self._log.bind(channel_id=call.channel_id)
        if not known:
            # The dialled number is the service's, not the caller's: safe to log.
            log.warning("unknown_service_number", dialled=incoming.dialled,
                        routed_to=service.name)
        linkedid = incoming.linkedid or await self._linkedid(call.channel_id)
        caller = normalise_caller(incoming.caller_number, self._settings.default_region)
        new = NewCall(
            id=call.id, asterisk_id=incoming.asterisk_id, channel_id=call.channel_id,
            linkedid=linkedid, caller_number_raw=caller.raw, caller_number=caller.e164,
            caller_withheld=caller.withheld, caller_name_raw=incoming.caller_name,
            service_number=incoming.dialled, service=service.name,
            service_number_known=known, queue=service.queue,
            language=service.language_for(incoming.dialled), started_at=self._clock(),
        )
        await self._history.open_call(new)
        record = CallRecord.opened(new)  # no read-back: one round trip less per call
        bind_ids(record)
        log.info("call_started", service=service.name, withheld=caller.withheld)
        return record

    async def _linkedid(self, channel_id: str) -> str:
        try:
            return await self._telephony.linkedid(channel_id)
        except CallerGone:
            return channel_id

    async def _notice_then_queue(self, call: Call, service: ServiceConfig) -> None:
        record = call.record
        assert record is not None
        try:
            if await self._must_not_record(record, service):
                await self._queue_unrecorded(call, record, "objection")
                return
            if not call.notice_completed:
                await self._telephony.answer(call.channel_id)
                if not await self._play_notice(call, service.notice, record.language):
                    self._log.info("notice_interrupted")
                    return
            target = self._recordings.target_for(record.id, record.started_at)
            # Not written now: with the agent, or at the end (a restart infers it).
            call.notice_completed, call.recording_path = True, target.relative_path
            await self._hand_over(call, record, target)
            self._log.debug("call_queued", queue=record.queue)
        except CallerGone:
            self._log.info("caller_gone")

    async def _play_notice(self, call: Call, sound: str, language: str) -> bool:
        """Played to the end: True; the caller left (or hung up) first: False."""
        playback_id = uuid.uuid4().hex
        finished = call.new_playback(playback_id)  # before the request: the end may race it
        try:
            await self._telephony.play(call.channel_id, sound, language, playback_id)
            return await finished
        except CallerGone:
            return False
        finally:
            call.playbacks.pop(playback_id, None)

    async def _hand_over(self, call: Call, record: CallRecord,
                         recording: RecordingTarget | None) -> None:
        await self._telephony.set_handover(call.channel_id, record.queue, recording,
                                           record.language)
        # From here the dialplan reports the end: leaving Stasis is not the end any more.
        call.handed_over = True
        await self._telephony.continue_to_queue(call.channel_id)
        if recording is not None:
            # [callrec-queue] starts MixMonitor a few milliseconds after the continue: the
            # zero of pause offsets (README, "Pausing a recording"), stored with the
            # agent or at the end.
            call.recording_started_at = self._clock()

    async def _must_not_record(self, record: CallRecord, service: ServiceConfig) -> bool:
        return (service.on_objection == "do_not_record" and record.caller_number is not None
                and await self._objections.has_objected(record.caller_number))

    async def _queue_unrecorded(self, call: Call, record: CallRecord, reason: str) -> None:
        # No notice either: "this call is recorded" would not be true for this caller.
        await self._telephony.answer(record.channel_id)
        await self._history.queued_unrecorded(record.id, reason)
        call.recording_skipped_reason = reason
        await self._hand_over(call, record, None)
        self._log.info("call_queued_unrecorded", queue=record.queue, reason=reason)

    async def _finish(self, call: Call, hangup: Hangup) -> None:
        recording = None
        if call.recording_path is not None:
            recording = await self._recordings.finalise(call.recording_path,
                                                        recording_subject(call))
            if hangup.estimated:
                # The file stopped growing when the call ended: a better guess than now.
                written = await self._recordings.last_written(call.recording_path)
                hangup = Hangup(written or hangup.at, estimated=True)
        outcome = call.outcome
        await self._history.finish_call(call.id, CallEnd(
            ended_at=hangup.at, outcome=outcome, recording=recording,
            end_estimated=hangup.estimated, notice_completed=call.notice_completed,
            recording_path=call.recording_path,
            recording_started_at=call.recording_started_at))
        call.record = None  # finalised: a failure after this has no row to close
        self._log.info("call_ended", outcome=outcome.value, agent=call.agent,
                       recorded=recording is not None, estimated=hangup.estimated)

    # --- after a restart or a reconnection ---------------------------------------------

    def take_over(self, record: CallRecord, live: LiveChannel | None) -> Call:
        """Register a call whose row is unfinished, to be run by :meth:`resume`."""
        in_stasis = live is not None and live.in_our_stasis
        call = Call.of_row(record, live.call if live else None, in_stasis)
        return self.calls.add(call)

    async def resume(self, call: Call, gone: bool) -> None:
        """Run a taken-over call to its end; never raises."""
        assert call.record is not None
        record = call.record
        try:
            bind_ids(record)
            await self._infer_hand_over(call, record, gone)
            if gone:
                self._log.info("call_ended_while_away")
                call.hung_up(Hangup(self._clock(), estimated=True))
            elif call.in_stasis:
                self._log.info("call_resumed_in_notice_phase")
                service, _ = self._settings.route(record.service_number)
                await self._notice_then_queue(call, service)
            else:
                self._log.info("call_resumed_in_queue")
                await self._adopt(call)
            await self._finish(call, await call.hangup)
        except Exception as exc:  # noqa: BLE001 - one call's failure is that call's alone
            await self._failed(call, exc)
        finally:
            self.calls.remove(call)

    async def _infer_hand_over(self, call: Call, record: CallRecord, gone: bool) -> None:
        """The hand-over to the queue is not written when it happens (to save a write per
        call), so it is inferred: a caller no longer in our Stasis app was handed over,
        and so was a gone caller whose recording exists."""
        if call.notice_completed or call.recording_skipped_reason is not None:
            return
        target = self._recordings.target_for(record.id, record.started_at)
        if gone:
            handed_over = await self._recordings.last_written(target.relative_path) is not None
        else:
            handed_over = not call.in_stasis
        if handed_over:
            call.notice_completed, call.recording_path = True, target.relative_path

    async def _adopt(self, call: Call) -> None:
        """A caller in the queue whose start we did not see: its hangup handler reports to
        whichever callrec runs; learn the agent if one answered while we were away."""
        if not await self._telephony.channel_exists(call.channel_id):
            call.hung_up(Hangup(self._clock(), estimated=True))
            return
        if call.agent is not None:
            return
        try:
            agent = await self._telephony.current_agent(call.channel_id)
        except CallerGone:
            return
        if agent is not None:
            call.agent = agent[0]
            await self._history.agent_connected(call.id, agent[0], agent[1], self._clock(),
                                                call.recording_path)

    async def reconcile(self, snapshot: Snapshot) -> None:
        """After a reconnection: what happened to the running calls while we were away."""
        for call in self.calls:
            live = snapshot.live.get(call.channel_id)
            if live is None:
                call.hung_up(Hangup(self._clock(), estimated=True))
                continue
            call.in_stasis = live.in_our_stasis
            call.handed_over = call.handed_over or not live.in_our_stasis
            for playback_id in call.pending_playbacks():
                if not await self._telephony.playback_exists(playback_id):
                    call.playback_finished(playback_id)  # ended while we were away

    async def sweep(self, grace: float = REPORT_GRACE_SECONDS) -> int:
        """End the handed-over calls whose channel Asterisk no longer has and whose end
        was never reported; returns how many. One request, and none with no such call."""
        waiting = self.calls.waiting_for_reported_end()
        if not waiting:
            return 0
        present = await self._telephony.channel_ids()
        missing = [call for call in waiting if call.channel_id not in present]
        if not missing:
            return 0
        await asyncio.sleep(grace)  # a report already on its way wins
        ended = 0
        for call in missing:
            if not call.ended:
                call.hung_up(Hangup(self._clock(), estimated=True))
                ended += 1
        return ended

    # --- when something inside callrec fails --------------------------------------------

    async def _failed(self, call: Call, exc: Exception) -> None:
        """Keep the caller (fail-open), then close the row with an estimated end."""
        reason = _reason(exc)
        log = self._log.bind(call_id=call.id, channel_id=call.channel_id)
        # Still in our app (a failed hand-over included): only we can send them on.
        if call.in_stasis and not call.ended:
            call.failed_over = await self._fail_open(call, reason)
        if call.failed_over or not call.handed_over:
            call.recording_path = None  # our MixMonitor never started: no file of ours
        else:
            log.error("call_failed", reason=reason, caller="not waiting for callrec")
        if call.record is None:
            return  # no row was written (issue: fail-open calls enter the register)
        try:
            await self._finish(call, Hangup(self._clock(), estimated=True))
        except Exception as again:  # noqa: BLE001 - logged; the resync closes it later
            log.error("call_row_left_open", reason=_reason(again))

    async def _fail_open(self, call: Call, reason: str) -> bool:
        log = self._log.bind(call_id=call.id, channel_id=call.channel_id)
        incoming = call.incoming
        try:
            if incoming is None:
                raise CallrecError("no dialled number to fail open with")
            await self._telephony.fail_open(call.channel_id, incoming)
        except CallerGone as gone:
            # Asterisk says 404 both for a gone channel and for a missing failopen label.
            if not await self._still_there(call):
                log.error("call_failed", reason=reason, caller="gone")
                return False
            log.critical("call_failed", reason=reason, caller="stranded",
                         fail_open_error=f"{gone} (is the failopen label in the dialplan?)")
            return False
        except Exception as exc:  # noqa: BLE001 - nothing more callrec can do for them
            log.critical("call_failed", reason=reason, caller="stranded",
                         fail_open_error=_reason(exc))
            return False
        call.in_stasis = False
        log.error("call_failed", reason=reason, caller="sent to the fail-open path")
        return True


    async def _still_there(self, call: Call) -> bool:
        try:
            return await self._telephony.channel_exists(call.channel_id)
        except Exception:  # noqa: BLE001 - cannot tell: assume the worst, say stranded
            return True


def bind_ids(record: CallRecord) -> None:
    # Each call runs in its own task, with its own copy of the context: these ids then
    # travel with every log line of this call and of no other.
    structlog.contextvars.bind_contextvars(call_id=record.id, channel_id=record.channel_id,
                                           linkedid=record.linkedid)


def _reason(exc: BaseException) -> str:
    # Our own errors say what failed; anything else is a defect: name its type too.
    text = str(exc)[:300]
    return text if isinstance(exc, CallrecError) and text else f"{type(exc).__name__}: {text}"


def recording_subject(call: Call) -> str:
    """Whose key seals the recording: the caller's E.164 number, so that erasing them
    reaches it; a withheld or unreadable number gets a key of this call's own."""
    number = call.record.caller_number if call.record is not None else None
    return number or f"call:{call.id}"
