"""What the web handlers work with, built once by :func:`callrec.web.server.build_context`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web

from callrec.access.credentials import Passwords, csrf_token
from callrec.access.grants import Grants
from callrec.access.roles import Principal
from callrec.pause.service import PauseService
from callrec.recordings.files import RecordingFiles
from callrec.storage.access_log_dao import SqlAccessLog
from callrec.storage.credentials_dao import SqlCredentials
from callrec.storage.scoped_calls_dao import ScopedCalls
from callrec.storage.users_dao import SqlUsers

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class WebSettings:
    session_lifetime: timedelta
    cookie_secure: bool
    lockout_failures: int
    lockout_window: timedelta
    failed_login_delay: float          # seconds
    default_region: str
    timezone: ZoneInfo
    services: tuple[str, ...]          # for the search form's choices
    queues: tuple[str, ...]


@dataclass(frozen=True)
class WebContext:
    settings: WebSettings
    users: SqlUsers
    credentials: SqlCredentials
    calls: ScopedCalls
    access_log: SqlAccessLog
    recordings: RecordingFiles
    passwords: Passwords
    grants: Grants
    clock: Callable[[], datetime]
    pausing: PauseService | None = None    # None: no [ami], recordings cannot be paused

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Database and argon2 work off the event loop: they block."""
        return await asyncio.to_thread(function, *args, **kwargs)


CONTEXT = web.AppKey("callrec_context", WebContext)


def context_of(request: web.Request) -> WebContext:
    return request.app[CONTEXT]


@dataclass(frozen=True)
class Auth:
    """Who sent this request, and how they proved it."""

    principal: Principal | None = None
    via: str | None = None            # "token" or "session"
    session_id: str | None = None     # the cookie's secret, for CSRF and logout

    @property
    def csrf(self) -> str:
        return csrf_token(self.session_id) if self.session_id else ""


AUTH_KEY = web.RequestKey("callrec_auth", Auth)


def auth_of(request: web.Request) -> Auth:
    return request.get(AUTH_KEY) or Auth()
