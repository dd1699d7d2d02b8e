"""The composition root of ``callrec web``: everything it uses is built here, once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from aiohttp import web

from callrec.access.credentials import Passwords
from callrec.access.grants import Grants
from callrec.access.roles import ObjectionCheck
from callrec.calls.pausing import Pausing, build_pausing
from callrec.config import Config
from callrec.pause.service import PauseService
from callrec.recordings.configured import recording_files
from callrec.recordings.files import RecordingFiles
from callrec.storage.access_log_dao import SqlAccessLog
from callrec.storage.credentials_dao import SqlCredentials
from callrec.storage.db import Database
from callrec.storage.migrate import require_current
from callrec.storage.pauses_dao import ToThread
from callrec.storage.rights_dao import SqlRights
from callrec.storage.scoped_calls_dao import ScopedCalls
from callrec.storage.users_dao import SqlUsers
from callrec.web.app import build_app
from callrec.web.context import WebContext, WebSettings


def utc_now() -> datetime:
    return datetime.now(UTC)


def settings_from(config: Config) -> WebSettings:
    web_config = config.web
    return WebSettings(
        session_lifetime=timedelta(minutes=web_config.session_minutes),
        cookie_secure=web_config.cookie_secure,
        lockout_failures=web_config.lockout_failures,
        lockout_window=timedelta(minutes=web_config.lockout_minutes),
        failed_login_delay=web_config.failed_login_delay_ms / 1000,
        default_region=config.default_region,
        timezone=config.timezone,
        services=tuple(sorted(config.services)),
        queues=tuple(sorted({service.queue for service in config.services.values()})),
    )


def build_context(config: Config, database: Database, *,
                  has_objected: ObjectionCheck | None = None,
                  passwords: Passwords | None = None,
                  clock: Callable[[], datetime] = utc_now,
                  recordings: RecordingFiles | None = None,
                  pausing: PauseService | None = None) -> WebContext:
    """Everything the web app needs; with [encryption] on, ``recordings`` holds the key
    store (the caller closes it: :func:`serve_web` does)."""
    return WebContext(
        settings=settings_from(config),
        users=SqlUsers(database),
        credentials=SqlCredentials(database),
        calls=ScopedCalls(database, has_objected or objection_check(database)),
        access_log=SqlAccessLog(database),
        recordings=recordings or recording_files(config),
        passwords=passwords or Passwords(),
        grants=Grants(clock),
        clock=clock,
        pausing=pausing,
    )


def objection_check(database: Database) -> ObjectionCheck:
    """The rights register's objections (GDPR art. 21), as the scope check needs them."""
    return SqlRights(database).has_objected


async def serve_web(config: Config, *, stop: asyncio.Event | None = None,
                    port: int | None = None) -> int:
    """Serve until SIGTERM/SIGINT (or ``stop``); returns an exit status."""
    log = structlog.get_logger("callrec.web")
    database = Database.open(config.database_url)
    closing_recordings = contextlib.ExitStack()
    pausing: Pausing | None = None
    try:
        require_current(database)
        recordings = recording_files(config)
        closing_recordings.callback(recordings.close)
        pausing = build_pausing(config, database, ToThread(), utc_now)
        app = build_app(build_context(config, database, recordings=recordings,
                                      pausing=pausing.service if pausing else None))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.web.host, port or config.web.port)
        await site.start()
        log.info("web_started", host=config.web.host, port=port or config.web.port)
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            log.info("web_stopped")
        return 0
    finally:
        if pausing is not None:
            await pausing.close()
        closing_recordings.close()
        database.dispose()
