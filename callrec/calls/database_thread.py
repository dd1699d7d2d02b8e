"""Runs the synchronous contact history on one database thread, for the asyncio call flow.

One thread, not a pool: SQLite takes one writer at a time, and writers in several threads
wait for each other in SQLite's busy handler, which sleeps and retries. Measured with the
call path's writes (four per call then, three now), eight calls at once cost 1.5 ms of CPU
per call in a pool and 0.9 ms on one thread (docs/benchmarks.md). PostgreSQL is not slowed down
by it at a contact centre's call rates: each write is well under a millisecond.

Group commit: writes nobody waits on (the agent's answer, the end of a call) may wait up
to :data:`GROUP_WINDOW_SECONDS` for company and then share one transaction, and so one
commit (on SQLite one fsync, the largest CPU cost of a write), with each other and with
the next urgent write (a call's arrival, which goes at once). Each caller still hears
"done" only after its write is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from callrec.domain.history import CallEnd, CallRecord, ContactHistory, NewCall

T = TypeVar("T")
# At 10 calls/s the next arrival comes sooner; when calls are rare, a finished call's
# row is written this much later than it could be.
GROUP_WINDOW_SECONDS = 0.2
_MAX_GROUP = 200   # writes per transaction: bounds how long one commit holds the lock
Group = Callable[[], AbstractContextManager[object]]


class ObjectionLookup(Protocol):
    def has_objected(self, e164: str) -> bool: ...


@dataclass(frozen=True)
class _Job:
    work: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[Any]
    groupable: bool     # a write that may share a transaction
    urgent: bool        # someone waits on it: no waiting for company


class DatabaseThread:
    """The one thread the service's database work runs on; close it when the service ends.

    ``group`` opens a shared transaction on the thread (``commit_group`` of the storage
    layer); without it every piece of work runs alone.
    """

    def __init__(self, on_close: Callable[[], None] | None = None, group: Group | None = None,
                 window: float = GROUP_WINDOW_SECONDS) -> None:
        self._on_close = on_close   # runs on the thread itself, last (e.g. closes its connection)
        self._group = group
        self._window = window
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="callrec-db", daemon=True)
        self._thread.start()

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """Run ``work`` alone, in its own transaction, as soon as the thread is free."""
        return await self._submit(work, args, groupable=False, urgent=True)

    async def write(self, work: Callable[..., T], *args: object, defer: bool = False) -> T:
        """Run a write that may share its transaction; ``defer``: it may wait for company."""
        return await self._submit(work, args, groupable=True, urgent=not defer)

    def close(self) -> None:
        """Finish the work already submitted, then stop the thread."""
        self._jobs.put(None)
        self._thread.join()

    async def _submit(self, work: Callable[..., T], args: tuple[object, ...], *,
                      groupable: bool, urgent: bool) -> T:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(functools.partial(work, *args), loop, done, groupable, urgent))
        return await done

    # --- on the thread ----------------------------------------------------------------

    def _serve(self) -> None:
        held: _Job | None = None   # taken while collecting a group, but not groupable
        closing = False
        while not closing:
            job = held if held is not None else self._jobs.get()
            held = None
            if job is None:
                break
            if not job.groupable or self._group is None:
                _run_alone(job)
                continue
            group, held, closing = self._collect(job)
            self._run_group(group)
        if held is not None:
            _run_alone(held)
        if self._on_close is not None:
            self._on_close()

    def _collect(self, first: _Job) -> tuple[list[_Job], _Job | None, bool]:
        """``first`` and the writes that join it: (group, a job to run next, closing)."""
        group = [first]
        deadline = time.monotonic() + (0.0 if first.urgent else self._window)
        while len(group) < _MAX_GROUP:
            try:
                job = self._jobs.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:
                return group, None, True
            if not job.groupable:
                return group, job, False
            group.append(job)
            if job.urgent:
                deadline = 0.0   # take what is queued already, wait for nothing more
        return group, None, False

    def _run_group(self, group: list[_Job]) -> None:
        if len(group) == 1 or self._group is None:
            for job in group:
                _run_alone(job)
            return
        try:
            with self._group():
                results = [job.work() for job in group]
        except Exception:  # noqa: BLE001 - each write is retried alone and reports its own
            for job in group:
                _run_alone(job)
            return
        for job, result in zip(group, results, strict=True):
            _settle(job, result, None)


def _run_alone(job: _Job) -> None:
    try:
        result = job.work()
    except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller
        _settle(job, None, exc)
        return
    _settle(job, result, None)


def _settle(job: _Job, result: Any, error: BaseException | None) -> None:
    def deliver() -> None:
        if job.done.done():
            return  # the caller stopped waiting (cancelled)
        if error is not None:
            job.done.set_exception(error)
        else:
            job.done.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody left to tell
        job.loop.call_soon_threadsafe(deliver)


class ThreadedHistory:
    def __init__(self, history: ContactHistory, thread: DatabaseThread) -> None:
        self._history = history
        self._thread = thread

    async def open_call(self, call: NewCall) -> None:
        await self._thread.write(self._history.open_call, call)

    async def queued_unrecorded(self, call_id: str, reason: str) -> None:
        await self._thread.write(self._history.queued_unrecorded, call_id, reason)

    # The caller is already talking to the agent, or gone: these may wait for company.
    async def agent_connected(self, call_id: str, agent: str, agent_interface: str,
                              at: datetime, recording_path: str | None = None,
                              recording_started_at: datetime | None = None) -> bool:
        return await self._thread.write(self._history.agent_connected, call_id, agent,
                                        agent_interface, at, recording_path,
                                        recording_started_at, defer=True)

    async def finish_call(self, call_id: str, end: CallEnd) -> None:
        await self._thread.write(self._history.finish_call, call_id, end, defer=True)

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
