"""``POST /api/calls/{id}/pause`` and ``/resume``: the secure pause from the web app (the
agent's button, with the session cookie) and from a CRM (an API token).

``callrec web`` runs apart from ``callrec serve``; it pauses by itself, with its own
PauseService on the same database and its own AMI connection (:mod:`callrec.calls.pausing`):
the call's row keeps the caller's channel, which MixMonitor runs on. Statuses: 404 for a
call outside the user's scope (as everywhere), 403 when the rule (:mod:`callrec.pause.rules`)
says no, 409 when the call's state does (ended, not recorded, not paused), 503 when
Asterisk's manager interface cannot be reached or pausing is not configured.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callrec.errors import PauseRefused
from callrec.pause.model import PausableCall, PauseMethod, pause_json
from callrec.pause.rules import Actor
from callrec.web.api import visible_call
from callrec.web.context import auth_of, context_of
from callrec.web.middleware import require


async def pause(request: web.Request) -> web.StreamResponse:
    return await _act(request, resume=False)


async def resume(request: web.Request) -> web.StreamResponse:
    return await _act(request, resume=True)


async def _act(request: web.Request, *, resume: bool) -> web.StreamResponse:
    principal = require(request)
    context = context_of(request)
    if context.pausing is None:
        raise web.HTTPServiceUnavailable(reason="pausing is not configured ([ami])")
    record = await visible_call(request, principal, request.match_info["call_id"])
    call = PausableCall.of_record(record)
    # The browser page's button comes with the session; anything else is a program.
    method = PauseMethod.WEB if auth_of(request).via == "session" else PauseMethod.API
    actor, client = Actor.of_principal(principal), request.remote or "unknown"
    try:
        if resume:
            done = await context.pausing.resume(call, actor, method, client)
        else:
            done = await context.pausing.pause(call, actor, method, client)
    except PauseRefused as exc:
        raise web.HTTPConflict(reason=str(exc)) from None
    return web.json_response(_answer(record.id, done.is_open, pause_json(done)))


def _answer(call_id: str, paused: bool, pause: dict[str, object]) -> dict[str, Any]:
    return {"call_id": call_id, "paused": paused, "pause": pause}
