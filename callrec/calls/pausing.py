"""The secure pause put together for a process (``callrec serve`` or ``callrec web``).

Both processes build their own :class:`PauseService` on the same database and their own
AMI connection: a pause is a row in ``recording_pauses`` plus a ``MixMonitorMute`` on the
caller's channel, whose unique id the call's row keeps, so neither process has to ask the
other. The one open pause per call is enforced by the database (a partial unique index),
whoever opens it. Only ``callrec serve`` runs the auto-resume loop (:func:`end_due_forever`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from callrec.calls.agi import AUTO_PAUSE_SCRIPT, PAUSE_SCRIPT
from callrec.calls.ami import AmiClient, AmiRecordingMuter
from callrec.config import Config
from callrec.domain.call import Call, LiveCalls
from callrec.errors import AccessDenied, AmiError, CallrecError, PauseRefused, StorageError
from callrec.pause.model import PausableCall, PauseMethod
from callrec.pause.ports import Clock
from callrec.pause.rules import Actor
from callrec.pause.service import PauseService
from callrec.storage.access_log_dao import SqlAccessLog
from callrec.storage.db import Database
from callrec.storage.pauses_dao import AsyncAccessLog, AsyncPauses, Offload, SqlPauses

# How often open pauses are checked against their maximum: one indexed query when none is
# due. A pause ends at most this much after its limit.
END_DUE_SECONDS = 1.0


@dataclass
class Pausing:
    service: PauseService
    ami: AmiClient

    async def close(self) -> None:
        await self.ami.close()


def build_pausing(config: Config, database: Database, offload: Offload,
                  clock: Clock) -> Pausing | None:
    """The pause service of this process; None without an ``[ami]`` section (pausing off:
    every trigger answers that recordings cannot be paused here)."""
    if config.ami is None:
        structlog.get_logger("callrec.pause").info(
            "pausing_off", hint="add an [ami] section to callrec.toml to allow pauses")
        return None
    ami = AmiClient(config.ami.host, config.ami.port, config.ami.username, config.ami.password)
    service = PauseService(AsyncPauses(SqlPauses(database), offload), AmiRecordingMuter(ami),
                           AsyncAccessLog(SqlAccessLog(database), offload), clock,
                           config.pause.max_duration)
    return Pausing(service, ami)


async def end_due_forever(service: PauseService, seconds: float = END_DUE_SECONDS) -> None:
    """Auto-resume: end every pause past its maximum (or outliving its call), forever."""
    log = structlog.get_logger("callrec.pause")
    while True:
        try:
            await service.end_due()
        except CallrecError as exc:   # the database is away: the next round retries
            log.warning("end_due_failed", error=str(exc))
        except Exception:
            log.exception("end_due_failed")
        await asyncio.sleep(seconds)


def pausable(call: Call) -> PausableCall | None:
    """A live call of this process as the pause rules see it (None: not set up yet). The
    serve process knows the recording's start before any row does: an automatic pause
    before the agent answers works here."""
    if call.record is None:
        return None
    return PausableCall(call.id, call.channel_id, call.record.queue, call.agent,
                        call.recording_started_at, live=not call.ended,
                        recorded=(call.recording_path is not None
                                  and call.recording_skipped_reason is None))


class PauseHooks:
    """The FastAGI pause scripts of ``callrec serve`` (:mod:`callrec.calls.agi`).

    A feature code is pressed on the agent's channel, which only the member who answered
    has in the bridge (features.conf); it acts as that call's agent. The dialplan's
    automatic hook acts as the dialplan. Nobody waits for the answer: a refusal is logged."""

    def __init__(self, service: PauseService, calls: LiveCalls) -> None:
        self._service = service
        self._calls = calls
        self._log = structlog.get_logger("callrec.pause")

    async def report(self, script: str, channel_id: str, by_agent: bool) -> None:
        call = self._calls.get(channel_id)
        target = pausable(call) if call is not None else None
        if target is None:
            self._log.warning("pause_for_unknown_call", channel_id=channel_id, script=script)
            return
        if by_agent and target.agent is None:
            self._log.warning("pause_before_agent", call_id=target.call_id, script=script)
            return
        actor = Actor.agent(target.agent) if by_agent and target.agent else Actor.dialplan()
        method = PauseMethod.DTMF if by_agent else PauseMethod.AUTOMATIC
        try:
            if script in (PAUSE_SCRIPT, AUTO_PAUSE_SCRIPT):
                await self._service.pause(target, actor, method)
            else:
                await self._service.resume(target, actor, method)
        except (PauseRefused, AccessDenied, AmiError, StorageError) as exc:
            self._log.warning("pause_refused", call_id=target.call_id, script=script,
                              error=str(exc))
