"""The running call service: telephony events and FastAGI reports in, one task per call.

Every call's task runs in the service's :class:`asyncio.TaskGroup` (:meth:`running`), so
none is lost or outlives the service. A call's task never raises (the call flow turns any
failure into a fail-open hand-over and a finalised row), so one failing call cannot
cancel the others. The service depends on the domain's ports only: the ARI adapter turns
ARI's events into :data:`~callrec.domain.ports.TelephonyEvent` values before they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import structlog

from callrec.domain.call import Call
from callrec.domain.callflow import CallFlow
from callrec.domain.ports import AsyncContactHistory, CallArrived, Telephony, TelephonyEvent
from callrec.errors import AriError, CallrecError

DRAIN_SECONDS = 15.0
# How often handed-over calls are checked for an end nobody reported (callrec was away, a
# report's connection failed, an older dialplan): one ARI request when there are any. A
# recorded call's made-up end is its recording's last write; an unrecorded one's is the
# sweep's time, up to this late (both are marked estimated).
SWEEP_SECONDS = 60.0


class CallService:
    def __init__(self, flow: CallFlow, telephony: Telephony,
                 history: AsyncContactHistory, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self._flow = flow
        self._sweep_seconds = sweep_seconds
        self._telephony = telephony
        self._history = history
        self._group: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._log = structlog.get_logger("callrec.calls.service")

    @property
    def active_calls(self) -> int:
        return len(self._flow.calls)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The scope calls run in: leaving it waits for every call task to end. An error of
        the body (a fatal ARI error) cancels the calls and comes out as itself, not
        wrapped in an exception group."""
        failure: Exception | None = None
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                yield
            except Exception as exc:  # noqa: BLE001 - re-raised below, once calls are done
                failure = exc
                await self.stop()
            finally:
                self._group = None
        if failure is not None:
            raise failure

    def happened(self, event: TelephonyEvent | None) -> None:
        """Telephony event handler: never blocks, only updates calls or starts them."""
        if isinstance(event, CallArrived):
            call = self._flow.arrived(event.call)
            if call is not None:
                self._start(call, self._flow.run(call))
        elif event is not None:
            self._flow.apply(event)

    async def on_connected(self) -> None:
        """After every (re)connection: take over calls whose events we may have missed."""
        snapshot = await self._telephony.snapshot()
        await self._flow.reconcile(snapshot)
        try:
            unfinished = await self._history.unfinished_calls(snapshot.asterisk_id)
        except CallrecError as exc:
            # The database is away: serve (and fail over) new callers all the same; the
            # unfinished rows are taken over at the next reconnection or restart.
            self._log.error("resync_without_history", error=str(exc))
            unfinished = []
        rows_by_channel = {record.channel_id: record for record in unfinished}
        for channel_id, record in rows_by_channel.items():
            if channel_id not in self._flow.calls:
                live = snapshot.live.get(channel_id)
                call = self._flow.take_over(record, live)
                self._start(call, self._flow.resume(call, gone=live is None))
        for channel_id, live in snapshot.live.items():
            # A caller who reached Stasis while we were away: its StasisStart was lost.
            if live.in_our_stasis and channel_id not in rows_by_channel:
                self.happened(CallArrived(live.call))
        self._log.info("resynced", asterisk_id=snapshot.asterisk_id, unfinished=len(unfinished),
                       live_channels=len(snapshot.live), active_calls=self.active_calls)

    async def agent_connected(self, channel_id: str, agent: str, interface: str) -> None:
        await self._flow.agent_connected(channel_id, agent, interface)

    def call_ended(self, channel_id: str) -> None:
        """FastAGI ``call-ended``: a handed-over caller hung up."""
        self._flow.call_ended(channel_id)

    async def sweep_forever(self) -> None:
        """Every ``sweep_seconds``, end the calls whose end was never reported."""
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                ended = await self._flow.sweep()
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

    def _start(self, call: Call, work: Coroutine[Any, Any, None]) -> None:
        if self._group is None:
            work.close()
            self._flow.calls.remove(call)
            raise CallrecError("call service is not running: no call can start")
        task = self._group.create_task(self._in_context(call, work), name=f"call:{call.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _in_context(call: Call, work: Coroutine[Any, Any, None]) -> None:
        with structlog.contextvars.bound_contextvars(channel_id=call.channel_id):
            await work

    async def drain(self, seconds: float = DRAIN_SECONDS) -> None:
        """Before stopping: let callers who are hearing the notice reach the queue."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while self._flow.calls.in_notice():  # noqa: ASYNC110 - shutdown only
                    await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Cancel what is left; calls in Asterisk go on and are finalised after a restart."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
