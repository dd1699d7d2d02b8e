"""Runs a synchronous ContactHistory in worker threads, for the asyncio call flow."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Protocol

from callrec.domain.history import CallEnd, CallRecord, ContactHistory, NewCall


class ObjectionLookup(Protocol):
    def has_objected(self, e164: str) -> bool: ...


class ThreadedHistory:
    def __init__(self, history: ContactHistory) -> None:
        self._history = history

    async def open_call(self, call: NewCall) -> None:
        await asyncio.to_thread(self._history.open_call, call)

    async def notice_completed(self, call_id: str, recording_path: str) -> None:
        await asyncio.to_thread(self._history.notice_completed, call_id, recording_path)

    async def queued_unrecorded(self, call_id: str, reason: str) -> None:
        await asyncio.to_thread(self._history.queued_unrecorded, call_id, reason)

    async def agent_connected(self, call_id: str, agent: str, agent_interface: str,
                              at: datetime) -> bool:
        return await asyncio.to_thread(self._history.agent_connected, call_id, agent,
                                       agent_interface, at)

    async def finish_call(self, call_id: str, end: CallEnd) -> None:
        await asyncio.to_thread(self._history.finish_call, call_id, end)

    async def find_by_channel(self, channel_id: str) -> CallRecord | None:
        return await asyncio.to_thread(self._history.find_by_channel, channel_id)

    async def unfinished_calls(self, asterisk_id: str) -> list[CallRecord]:
        return await asyncio.to_thread(self._history.unfinished_calls, asterisk_id)


class ThreadedObjections:
    """The Objections port over the rights register, off the event loop."""

    def __init__(self, rights: ObjectionLookup) -> None:
        self._rights = rights

    async def has_objected(self, e164: str) -> bool:
        return await asyncio.to_thread(self._rights.has_objected, e164)
