"""The running ARI application: events in, one task per call, resync on every connect.

Per-call tasks are owned here (not by a TaskGroup) so that one call failing never takes
the others down; they are awaited or cancelled when the service stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import structlog

from callrec.calls.ari.telephony import AriTelephony
from callrec.domain.callflow import CallFlow
from callrec.domain.ports import AsyncContactHistory
from callrec.errors import AriError

DRAIN_SECONDS = 15.0
# How often handed-over calls are checked for an end nobody reported (callrec was away, a
# report's connection failed, an older dialplan): one ARI request when there are any. A
# recorded call's made-up end is its recording's last write; an unrecorded one's is the
# sweep's time, up to this late (both are marked estimated).
SWEEP_SECONDS = 60.0


class CallService:
    def __init__(self, flow: CallFlow, telephony: AriTelephony,
                 history: AsyncContactHistory, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self._flow = flow
        self._sweep_seconds = sweep_seconds
        self._telephony = telephony
        self._history = history
        self._calls: dict[str, asyncio.Task[None]] = {}
        self._log = structlog.get_logger("callrec.calls.service")

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    def on_event(self, event: dict[str, Any]) -> None:
        """ARI event handler: never blocks, only resolves futures or starts call tasks."""
        call = self._telephony.handle_event(event)
        if call is not None:
            self._start(call.channel_id, self._flow.handle_new(call))

    async def on_connected(self) -> None:
        """After every (re)connection: take over calls whose events we may have missed."""
        snapshot = await self._telephony.resync()
        unfinished = await self._history.unfinished_calls(snapshot.asterisk_id)
        rows_by_channel = {record.channel_id: record for record in unfinished}
        for channel_id, record in rows_by_channel.items():
            if channel_id not in self._calls:
                self._start(channel_id, self._flow.resume(record, snapshot.live.get(channel_id)))
        for channel_id, live in snapshot.live.items():
            if (live.in_our_stasis and channel_id not in self._calls
                    and channel_id not in rows_by_channel):
                self._start(channel_id, self._flow.handle_new(live.call))
        self._log.info("resynced", asterisk_id=snapshot.asterisk_id, unfinished=len(unfinished),
                       live_channels=len(snapshot.live), active_calls=len(self._calls))

    async def agent_connected(self, channel_id: str, agent: str, interface: str) -> None:
        await self._flow.agent_connected(channel_id, agent, interface)

    def call_ended(self, channel_id: str) -> None:
        """FastAGI ``call-ended``: a handed-over caller hung up."""
        self._telephony.call_ended(channel_id)

    async def sweep_forever(self) -> None:
        """Every ``sweep_seconds``, end the calls whose end was never reported."""
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                ended = await self._telephony.sweep()
            except AriError as exc:  # Asterisk away: the resync on reconnect does this
                self._log.info("sweep_skipped", error=str(exc))
                continue
            except Exception:  # noqa: BLE001 - the next round may do better; never stop
                self._log.exception("sweep_failed")
                continue
            if ended:
                self._log.warning(
                    "call_end_not_reported", calls=ended,
                    hint="ends estimated; check that [callrec-incoming] pushes the "
                         "[callrec-ended] hangup handler and that Asterisk reaches [agi]")

    def _start(self, channel_id: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guarded(channel_id, work), name=f"call:{channel_id}")
        self._calls[channel_id] = task

    async def _guarded(self, channel_id: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            with structlog.contextvars.bound_contextvars(channel_id=channel_id):
                await work
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a failing call must not stop the others
            self._log.exception("call_failed", channel_id=channel_id)
        finally:
            self._calls.pop(channel_id, None)
            self._telephony.release(channel_id)

    async def drain(self, seconds: float = DRAIN_SECONDS) -> None:
        """Before stopping: let callers who are hearing the notice reach the queue."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while self._telephony.channels_in_notice():  # noqa: ASYNC110 - shutdown only
                    await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Cancel what is left; calls in Asterisk go on and are finalised after a restart."""
        tasks = list(self._calls.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


