"""The JSON API (described in openapi.json) and what the pages share with it.

A call outside the caller's scope, a restricted one, and one that does not exist all get
the same 404: the answer must not reveal that a call exists. An access-log entry is
written before a listen grant is handed out, so no byte of a recording ever leaves
without its entry.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from callrec.access.chain import AccessAction, AccessEvent, ChainedEntry
from callrec.access.grants import Grant
from callrec.access.roles import Account, Principal, check_username, scope_for
from callrec.domain.history import CallRecord
from callrec.errors import InputError, RecordingError
from callrec.web import params
from callrec.web.context import WebContext, context_of
from callrec.web.middleware import require
from callrec.web.streaming import stream_recording

NOT_FOUND = "no such call"
_GRANT = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def hearer(request: web.Request) -> Principal:
    principal = require(request)
    if not principal.hears_recordings:
        raise web.HTTPForbidden(reason=f"the {principal.role} role has no access to calls")
    return principal


async def visible_call(request: web.Request, principal: Principal, call_id: str) -> CallRecord:
    context = context_of(request)
    record = None
    if params.valid_call_id(call_id):
        record = await context.run(context.calls.get, scope_for(principal), call_id)
    if record is None:
        raise web.HTTPNotFound(reason=NOT_FOUND)
    return record


def recording_file(context: WebContext, record: CallRecord) -> Path | None:
    if record.recording_path is None or record.recording_deleted_at is not None:
        return None
    try:
        path = context.recordings.local_path(record.recording_path)
    except RecordingError:
        structlog.get_logger("callrec.web").warning("unsafe_recording_path", call_id=record.id)
        return None
    return path if path.is_file() else None


async def me(request: web.Request) -> web.StreamResponse:
    principal = require(request)
    return web.json_response({"username": principal.username, "role": principal.role.value,
                              "queues": list(principal.queues),
                              "agent_name": principal.agent_name})


async def search_calls(request: web.Request) -> web.StreamResponse:
    principal = hearer(request)
    context = context_of(request)
    filters = params.search_filters(request.query, context.settings.default_region,
                                    context.settings.timezone)
    records = await context.run(context.calls.search, scope_for(principal), filters)
    return web.json_response({"calls": [call_json(context, r) for r in records]})


async def show_call(request: web.Request) -> web.StreamResponse:
    principal = hearer(request)
    record = await visible_call(request, principal, request.match_info["call_id"])
    return web.json_response(call_json(context_of(request), record))


async def listen(request: web.Request) -> web.StreamResponse:
    principal = hearer(request)
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="send application/json")
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise InputError("the body is not valid JSON") from None
    asked = params.listen_request(body, principal)
    grant, entry = await start_listen(request, principal, request.match_info["call_id"],
                                      asked)
    return web.json_response(grant_json(grant, entry), status=201)


async def start_listen(request: web.Request, principal: Principal, call_id: str,
                       asked: params.ListenRequest) -> tuple[Grant, ChainedEntry]:
    """Log the access, then hand out the grant that lets the bytes go."""
    context = context_of(request)
    record = await visible_call(request, principal, call_id)
    if await context.run(recording_file, context, record) is None:
        raise web.HTTPNotFound(reason="this call has no recording")
    action = AccessAction.DOWNLOAD if asked.download else AccessAction.PLAY
    event = AccessEvent(at=context.clock(), username=principal.username,
                        role=principal.role.value, call_id=record.id, action=action,
                        purpose=asked.purpose.value, note=asked.note,
                        client=request.remote or "unknown")
    entry = await context.run(context.access_log.append, event)
    grant = context.grants.issue(principal.user_id, record.id, action, entry.seq)
    return grant, entry


async def recording(request: web.Request) -> web.StreamResponse:
    principal = hearer(request)
    context = context_of(request)
    token = request.match_info["token"]
    grant = context.grants.find(token, principal.user_id) if _GRANT.match(token) else None
    if grant is None:
        raise web.HTTPNotFound(reason="no such grant: ask to listen again")
    # Scope is checked again: rights may have changed since the grant was made.
    record = await visible_call(request, principal, grant.call_id)
    path = await context.run(recording_file, context, record)
    if path is None or record.recording_path is None:
        raise web.HTTPNotFound(reason="this call has no recording")
    disposition = "attachment" if grant.action is AccessAction.DOWNLOAD else "inline"
    # Plain or sealed alike: decrypted chunk by chunk, only the chunks the range needs.
    return await stream_recording(
        request, functools.partial(context.recordings.open_audio, record.recording_path),
        record.id, {"Content-Type": "audio/wav",
                    "Content-Disposition": f'{disposition}; filename="{record.id}.wav"',
                    "Cache-Control": "private, no-store"})


async def access_log(request: web.Request) -> web.StreamResponse:
    principal = require(request)
    if not principal.sees_access_log:
        raise web.HTTPForbidden(reason="only the data-protection officer reads the access log")
    context = context_of(request)
    values = params.single_values(request.query, ("call_id", "username", "limit"))
    call_id, username = values.get("call_id"), values.get("username")
    if call_id is not None and not params.valid_call_id(call_id):
        raise InputError("'call_id' is 32 hexadecimal digits")
    entries = await context.run(context.access_log.entries,
                                limit=params.parse_limit(values.get("limit")),
                                call_id=call_id,
                                username=None if username is None else check_username(username))
    return web.json_response({"entries": [entry_json(entry) for entry in entries]})


async def users(request: web.Request) -> web.StreamResponse:
    principal = require(request)
    if not principal.manages_users:
        raise web.HTTPForbidden(reason="only administrators and the DPO see user accounts")
    context = context_of(request)
    params.single_values(request.query, ())
    accounts = await context.run(context.users.all)
    return web.json_response({"users": [account_json(account) for account in accounts]})


def call_json(context: WebContext, record: CallRecord) -> dict[str, Any]:
    has_recording = (record.recording_path is not None
                     and record.recording_deleted_at is None)
    return {
        "id": record.id,
        "started_at": _iso(record.started_at),
        "answered_at": _iso(record.answered_at),
        "ended_at": _iso(record.ended_at),
        "caller_number": record.caller_number,
        "caller_withheld": record.caller_withheld,
        "caller_number_raw": record.caller_number_raw,
        "caller_name": record.caller_name_raw,
        "service": record.service,
        "service_number": record.service_number,
        "queue": record.queue,
        "agent": record.agent,
        "outcome": None if record.outcome is None else record.outcome.value,
        "recording": has_recording,
        "recording_seconds": record.recording_seconds if has_recording else None,
        "restricted": record.restricted_at is not None,
    }


def grant_json(grant: Grant, entry: ChainedEntry) -> dict[str, Any]:
    return {"url": f"/api/listen/{grant.token}", "action": grant.action.value,
            "expires_at": _iso(grant.expires_at), "access_seq": entry.seq}


def entry_json(entry: ChainedEntry) -> dict[str, Any]:
    event = entry.event
    return {"seq": entry.seq, "at": _iso(event.at), "username": event.username,
            "role": event.role, "call_id": event.call_id, "action": event.action,
            "purpose": event.purpose, "note": event.note, "client": event.client,
            "hash": entry.hash}


def account_json(account: Account) -> dict[str, Any]:
    return {"username": account.username, "role": account.role.value,
            "queues": list(account.queues), "agent_name": account.agent_name,
            "disabled": account.disabled, "reviewed_at": _iso(account.reviewed_at)}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


async def openapi(request: web.Request) -> web.StreamResponse:
    text = (Path(__file__).parent / "openapi.json").read_text(encoding="utf-8")
    return web.json_response(json.loads(text))
