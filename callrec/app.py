"""The composition root: every long-lived object of ``callrec serve`` is built here, once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp
import structlog

from callrec.calls.agi import AgiServer
from callrec.calls.ari.client import AriClient
from callrec.calls.ari.events import EventStream
from callrec.calls.ari.telephony import AriTelephony
from callrec.calls.ari.transport import HttpTransport, SocketTransport
from callrec.calls.database_thread import DatabaseThread, ThreadedHistory, ThreadedObjections
from callrec.calls.pausing import PauseHooks, build_pausing, end_due_forever
from callrec.calls.service import SWEEP_SECONDS, CallService
from callrec.config import Config
from callrec.domain.callflow import CallFlow, CallFlowSettings
from callrec.errors import ConfigError
from callrec.recordings.configured import recording_files
from callrec.recordings.leftovers import sealing_leftovers
from callrec.retention.files import LocalRecordings
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.migrate import require_current
from callrec.storage.prepared import commit_group
from callrec.storage.rights_dao import SqlRights


def utc_now() -> datetime:
    return datetime.now(UTC)


async def serve(config: Config, *, clock: Callable[[], datetime] = utc_now,
                stop: asyncio.Event | None = None,
                sweep_seconds: float = SWEEP_SECONDS) -> int:
    """Run the ARI application until SIGTERM/SIGINT (or ``stop``); returns an exit status."""
    log = structlog.get_logger("callrec.serve")
    if not config.recordings.local_dir.is_dir():
        raise ConfigError("recordings.local_dir",
                          f"{config.recordings.local_dir} is not an existing directory")
    database = Database.open(config.database_url)
    closing_recordings = contextlib.ExitStack()
    database_thread = DatabaseThread(on_close=database.release_pinned,
                                     group=functools.partial(commit_group, database))
    try:
        require_current(database)
        history = ThreadedHistory(SqlContactHistory(database, pinned=True), database_thread)
        stop = stop or asyncio.Event()
        _stop_on_signals(stop)
        async with aiohttp.ClientSession() as http:
            transport = SocketTransport(
                HttpTransport(http, config.ari.url, config.ari.username, config.ari.password),
                enabled=config.ari.requests == "websocket")
            client = AriClient(transport)
            telephony = AriTelephony(client, config.ari.app, config.recordings.queue_context,
                                     config.agi, clock)
            # With [encryption] on, holds the key store: each recording is sealed as its
            # call ends, and plaintext left from before is sealed in the background.
            recordings = recording_files(config)
            closing_recordings.callback(recordings.close)
            flow = CallFlow(CallFlowSettings(config.service_for_number, config.default_region),
                            telephony, history, recordings,
                            ThreadedObjections(SqlRights(database), database_thread), clock)
            service = CallService(flow, telephony, history, sweep_seconds)
            pausing = build_pausing(config, database, database_thread, clock)
            hooks = PauseHooks(pausing.service, flow.calls) if pausing else None
            agi = AgiServer(config.agi.host, config.agi.port, service.agent_connected,
                            service.call_ended, hooks.report if hooks else None)
            events = EventStream(http, transport, config.ari.app,
                                 lambda event: service.happened(telephony.event_of(event)),
                                 service.on_connected)
            await agi.start()
            log.info("callrec_started", app=config.ari.app, ari=config.ari.url,
                     services=sorted(config.services))
            leftovers = sealing_leftovers(recordings,
                                          LocalRecordings(config.recordings.local_dir),
                                          SqlContactHistory(database), clock)
            auto_resume = (asyncio.create_task(end_due_forever(pausing.service),
                                               name="pause-auto-resume") if pausing else None)
            try:
                async with service.running(), leftovers:
                    return await _run_until_stopped(events, service, stop)
            finally:
                await agi.close()
                if auto_resume is not None and pausing is not None:
                    auto_resume.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await auto_resume
                    await pausing.close()
    finally:
        database_thread.close()
        closing_recordings.close()
        database.dispose()


async def _run_until_stopped(events: EventStream, service: CallService,
                             stop: asyncio.Event) -> int:
    events_task = asyncio.create_task(events.run(), name="ari-events")
    stop_task = asyncio.create_task(stop.wait(), name="stop")
    sweep_task = asyncio.create_task(service.sweep_forever(), name="sweep")
    try:
        await asyncio.wait({events_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sweep_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweep_task
    log = structlog.get_logger("callrec.serve")
    if events_task.done():
        stop_task.cancel()
        await service.stop()
        events_task.result()  # ApplicationReplaced or a fatal ARI error: raise it
        return 1
    log.info("callrec_stopping", active_calls=service.active_calls)
    await service.drain()
    events_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await events_task
    await service.stop()
    log.info("callrec_stopped")
    return 0


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
