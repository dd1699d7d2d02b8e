"""Runs the synchronous contact history on one database thread, for the asyncio call flow.

One thread, not a pool: SQLite takes one writer at a time, and writers in several threads
wait for each other in SQLite's busy handler, which sleeps and retries. Measured with the
call path's writes (four per call then, three now), eight calls at once cost 1.5 ms of CPU
per call in a pool and 0.9 ms on one thread (docs/benchmarks.md). PostgreSQL is not slowed down
by it at a contact centre's call rates: each write is well under a millisecond.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Protocol, TypeVar

from callrec.domain.history import CallEnd, CallRecord, ContactHistory, NewCall

T = TypeVar("T")


class ObjectionLookup(Protocol):
    def has_objected(self, e164: str) -> bool: ...


class DatabaseThread:
    """The one thread the service's database work runs on; close it when the service ends."""

    def __init__(self, on_close: Callable[[], None] | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callrec-db")
        self._on_close = on_close   # runs on the thread itself, last (e.g. closes its connection)

    async def run(self, work: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(work, *args))

    def close(self) -> None:
        if self._on_close is not None:
            self._executor.submit(self._on_close)
        self._executor.shutdown(wait=True)


class ThreadedHistory:
    def __init__(self, history: ContactHistory, thread: DatabaseThread) -> None:
        self._history = history
        self._thread = thread

    async def open_call(self, call: NewCall) -> None:
        await self._thread.run(self._history.open_call, call)

    async def queued_unrecorded(self, call_id: str, reason: str) -> None:
        await self._thread.run(self._history.queued_unrecorded, call_id, reason)

    async def agent_connected(self, call_id: str, agent: str, agent_interface: str,
                              at: datetime, recording_path: str | None = None) -> bool:
        return await self._thread.run(self._history.agent_connected, call_id, agent,
                                      agent_interface, at, recording_path)

    async def finish_call(self, call_id: str, end: CallEnd) -> None:
        await self._thread.run(self._history.finish_call, call_id, end)

    async def find_by_channel(self, channel_id: str) -> CallRecord | None:
        return await self._thread.run(self._history.find_by_channel, channel_id)

    async def unfinished_calls(self, asterisk_id: str) -> list[CallRecord]:
        return await self._thread.run(self._history.unfinished_calls, asterisk_id)


class ThreadedObjections:
    """The Objections port over the rights register, off the event loop."""

    def __init__(self, rights: ObjectionLookup, thread: DatabaseThread) -> None:
        self._rights = rights
        self._thread = thread

    async def has_objected(self, e164: str) -> bool:
        return await self._thread.run(self._rights.has_objected, e164)
