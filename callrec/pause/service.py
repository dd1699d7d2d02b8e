"""Pausing and resuming a call's recording: the rules, the record, the audit, the mute.

Order of the steps, and why:

* The access-log entry is written first, before the recording is muted or unmuted. The log
  is the proof of who silenced what: a muted span with no entry would be a hole in the
  recording that nobody answers for. If the entry cannot be written, nothing is muted. (An
  entry whose mute then fails says what was asked; the error goes back to the asker.)
* A pause is stored before the mute, so the register never lacks a span that is silent in
  the file; a mute that fails ends the just-opened pause again at once.
* A resume unmutes before it stores the end, so a failed unmute leaves the pause open: the
  automatic resume at its maximum tries again, and the register never says "recording"
  while the file is silent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from callrec.access.chain import AccessAction, AccessEvent
from callrec.errors import AccessDenied, AmiActionFailed, AmiError, PauseRefused
from callrec.pause.model import (
    DEFAULT_MAX_DURATION,
    DuePause,
    PausableCall,
    Pause,
    PauseEnd,
    PauseMethod,
    PauseStart,
    offset_ms,
)
from callrec.pause.ports import Clock, PauseAudit, PauseStore, RecordingMuter
from callrec.pause.rules import Actor, PauseAction, may

ASTERISK_CLIENT = "asterisk"   # the access log's client for what came from the telephony
# The access log's purpose column, for the ends callrec makes itself.
LIMIT_REACHED = "limit"
CALL_ENDED = "hangup"


class PauseService:
    def __init__(self, store: PauseStore, muter: RecordingMuter, audit: PauseAudit,
                 clock: Clock, max_duration: timedelta = DEFAULT_MAX_DURATION) -> None:
        self._store = store
        self._muter = muter
        self._audit = audit
        self._clock = clock
        self._max_duration = max_duration
        self._log = structlog.get_logger("callrec.pause")

    @property
    def max_duration(self) -> timedelta:
        return self._max_duration

    async def pause(self, call: PausableCall, actor: Actor, method: PauseMethod,
                    client: str = ASTERISK_CLIENT) -> Pause:
        """Pause the recording of ``call``, or renew its pause (a new expiry)."""
        _authorise(actor, PauseAction.PAUSE, call)
        _require_recording(call)
        now = self._clock()
        start = PauseStart(call.call_id, now, offset_ms(call, now), actor.name, method,
                           now + self._max_duration)
        current = await self._store.current(call.call_id)
        note = (f"renewed until {start.expires_at.isoformat()}" if current is not None
                else f"at {start.offset_ms} ms")
        await self._audit.append(_event(now, actor, call, AccessAction.PAUSE, method.value,
                                        note, client))
        pause = await self._store.open_or_renew(start)
        try:
            await self._muter.mute(call.channel_id)
        except AmiError:
            if current is None:   # no silence was made: end the span where it began
                await self._store.close(pause.id, PauseEnd(now, start.offset_ms, None, None,
                                                           auto_resumed=False))
            raise
        self._log.info("recording_paused", call_id=call.call_id, by=actor.name,
                       method=method.value, renewed=current is not None)
        return pause

    async def resume(self, call: PausableCall, actor: Actor, method: PauseMethod,
                     client: str = ASTERISK_CLIENT) -> Pause:
        """End the pause of ``call``; a call that is not paused is refused."""
        _authorise(actor, PauseAction.RESUME, call)
        current = await self._store.current(call.call_id)
        if current is None:
            raise PauseRefused(f"the recording of call {call.call_id} is not paused")
        now = self._clock()
        end = PauseEnd(now, offset_ms(call, now), actor.name, method, auto_resumed=False)
        await self._audit.append(_event(now, actor, call, AccessAction.RESUME, method.value,
                                        f"at {end.offset_ms} ms", client))
        if call.live:
            await self._muter.unmute(call.channel_id)
        closed = await self._store.close(current.id, end)
        self._log.info("recording_resumed", call_id=call.call_id, by=actor.name,
                       method=method.value)
        return closed or current

    async def end_due(self) -> int:
        """End every pause past its maximum (unmuting) or outliving its call; how many.
        One query when there are none: run it every second or so."""
        ended = 0
        for due in await self._store.due(self._clock()):
            try:
                if await self._end_one(due):
                    ended += 1
            except AmiError as exc:   # Asterisk away: the pause stays open, next round
                self._log.warning("auto_resume_failed", call_id=due.pause.call_id,
                                  error=str(exc))
        return ended

    async def _end_one(self, due: DuePause) -> bool:
        pause, callrec = due.pause, Actor.callrec()
        if due.call_ended_at is not None:
            at, purpose = max(due.call_ended_at, pause.started_at), CALL_ENDED
            end = PauseEnd(at, _end_offset(due, at), None, None, auto_resumed=False)
        else:
            at, purpose = self._clock(), LIMIT_REACHED
            end = PauseEnd(at, _end_offset(due, at), None, None, auto_resumed=True)
        await self._audit.append(AccessEvent(
            at=at, username=callrec.name, role=callrec.role, call_id=pause.call_id,
            action=AccessAction.AUTO_RESUME, purpose=purpose,
            note=f"paused by {pause.paused_by} at {pause.start_offset_ms} ms; "
                 f"ended at {end.offset_ms} ms", client=ASTERISK_CLIENT))
        if due.call_ended_at is None:
            try:
                await self._muter.unmute(due.channel_id)
            except AmiActionFailed as exc:   # the channel is gone: nothing left to unmute
                self._log.info("auto_resume_channel_gone", call_id=pause.call_id,
                               error=str(exc))
        closed = await self._store.close(pause.id, end)
        self._log.info("recording_auto_resumed", call_id=pause.call_id, reason=purpose)
        return closed is not None


def _authorise(actor: Actor, action: PauseAction, call: PausableCall) -> None:
    if not may(actor, action, call):
        raise AccessDenied(f"{actor.name} may not {action.value} the recording of call "
                           f"{call.call_id}")


def _require_recording(call: PausableCall) -> None:
    if not call.live:
        raise PauseRefused(f"call {call.call_id} has ended")
    if not call.recorded:
        raise PauseRefused(f"call {call.call_id} is not recorded")
    if call.recording_started_at is None:
        raise PauseRefused(f"the recording of call {call.call_id} has not started yet")


def _end_offset(due: DuePause, at: datetime) -> int:
    pause = due.pause
    if due.recording_started_at is not None:
        elapsed = round((at - due.recording_started_at).total_seconds() * 1000)
    else:
        elapsed = pause.start_offset_ms + round((at - pause.started_at).total_seconds() * 1000)
    return max(pause.start_offset_ms, elapsed)


def _event(at: datetime, actor: Actor, call: PausableCall, action: AccessAction,
           purpose: str, note: str, client: str) -> AccessEvent:
    return AccessEvent(at=at, username=actor.name, role=actor.role, call_id=call.call_id,
                       action=action, purpose=purpose, note=note, client=client)
