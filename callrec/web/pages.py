"""The browser pages: search, results, a call with its player, and the user list.

They use the same scope checks and the same listen flow as the JSON API; the player's
script asks ``POST /api/calls/{id}/listen`` for a grant with the chosen purpose.
"""

from __future__ import annotations

from aiohttp import web

from callrec.access.roles import Principal, Purpose, scope_for
from callrec.domain.history import CallRecord
from callrec.errors import InputError
from callrec.pause.model import PausableCall, Pause
from callrec.pause.rules import Actor, PauseAction, may
from callrec.web import params
from callrec.web.api import hearer, recording_file, visible_call
from callrec.web.context import WebContext, auth_of, context_of
from callrec.web.login import redirect
from callrec.web.middleware import require
from callrec.web.render import page

PURPOSES = [(Purpose.QUALITY, "Quality review"), (Purpose.TRAINING, "Training"),
            (Purpose.COMPLAINT, "Complaint handling"), (Purpose.TECHNICAL, "Technical fault")]


async def home(request: web.Request) -> web.StreamResponse:
    principal = auth_of(request).principal
    if principal is None:
        return redirect("/login")
    return redirect("/calls" if principal.hears_recordings else "/users")


async def calls(request: web.Request) -> web.StreamResponse:
    principal = hearer(request)
    context = context_of(request)
    settings = context.settings
    form = {key: request.query.get(key, "") for key in params.SEARCH_KEYS}
    try:
        filters = params.search_filters(request.query, settings.default_region,
                                        settings.timezone, form=True)
    except InputError as exc:
        return page(request, "calls.html", status=400, form=form, records=None,
                    message=str(exc), services=settings.services, queues=settings.queues)
    records = await context.run(context.calls.search, scope_for(principal), filters)
    return page(request, "calls.html", form=form, records=records, message="",
                services=settings.services, queues=settings.queues, limit=filters.limit)


async def call(request: web.Request) -> web.StreamResponse:
    principal = hearer(request)
    context = context_of(request)
    record = await visible_call(request, principal, request.match_info["call_id"])
    playable = await context.run(recording_file, context, record) is not None
    pauses = await context.run(context.calls.pauses, record.id)
    return page(request, "call.html", record=record, playable=playable, purposes=PURPOSES,
                pauses=pauses, live=live_controls(context, principal, record, pauses))


def live_controls(context: WebContext, principal: Principal, record: CallRecord,
                  pauses: list[Pause]) -> dict[str, bool] | None:
    """What the live-call card offers this user: pause (the agent who answered), resume
    (that agent, or a supervisor of the queue); None when it offers nothing."""
    if context.pausing is None or record.ended_at is not None \
            or record.recording_started_at is None:
        return None
    call, actor = PausableCall.of_record(record), Actor.of_principal(principal)
    offers = {"pause": may(actor, PauseAction.PAUSE, call),
              "resume": may(actor, PauseAction.RESUME, call),
              "paused": any(pause.is_open for pause in pauses)}
    return offers if offers["pause"] or offers["resume"] else None


async def users(request: web.Request) -> web.StreamResponse:
    principal = require(request)
    if not principal.manages_users:
        raise web.HTTPForbidden(reason="only administrators and the DPO see user accounts")
    context = context_of(request)
    accounts = await context.run(context.users.all)
    return page(request, "users.html", accounts=accounts)
