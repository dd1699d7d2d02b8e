"""The database thread: every piece of database work of the service runs on one thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator

from callrec.calls.database_thread import DatabaseThread


async def test_all_work_runs_on_one_thread_in_order() -> None:
    thread = DatabaseThread()
    seen: list[tuple[int, str]] = []

    def work(n: int) -> int:
        seen.append((n, threading.current_thread().name))
        return n * 2

    try:
        results = await asyncio.gather(*(thread.run(work, n) for n in range(20)))
    finally:
        thread.close()
    assert results == [n * 2 for n in range(20)]
    assert [n for n, _ in seen] == list(range(20)), "one thread takes the work in order"
    names = {name for _, name in seen}
    assert len(names) == 1 and names.pop().startswith("callrec-db")
    assert threading.current_thread().name == "MainThread"


async def test_an_error_in_the_work_reaches_the_caller() -> None:
    thread = DatabaseThread()

    def fail() -> None:
        raise ValueError("database said no")

    try:
        try:
            await thread.run(fail)
        except ValueError as exc:
            assert str(exc) == "database said no"
        else:
            raise AssertionError("the error was swallowed")
    finally:
        thread.close()


async def test_closing_runs_the_last_work_on_the_thread_itself() -> None:
    ran_on: list[str] = []
    thread = DatabaseThread(on_close=lambda: ran_on.append(threading.current_thread().name))
    await thread.run(lambda: None)
    thread.close()
    assert len(ran_on) == 1 and ran_on[0].startswith("callrec-db")


class RecordingGroup:
    """A stand-in for the storage layer's commit_group: notes when it opens and commits."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        self.events.append("open")
        try:
            yield
        except Exception:
            self.events.append("rolled back")
            raise
        self.events.append("commit")


def noting(events: list[str], name: str) -> Callable[[], str]:
    def work() -> str:
        events.append(name)
        return name.upper()
    return work


async def test_deferred_writes_share_one_commit_and_are_done_only_after_it() -> None:
    events: list[str] = []
    thread = DatabaseThread(group=RecordingGroup(events), window=0.2)

    async def write(name: str) -> str:
        result = await thread.write(noting(events, name), defer=True)
        events.append(f"heard {name}")
        return result

    try:
        results = await asyncio.gather(write("a"), write("b"), write("c"))
    finally:
        thread.close()
    assert results == ["A", "B", "C"]
    assert events[:5] == ["open", "a", "b", "c", "commit"], "one transaction for the three"
    assert sorted(events[5:]) == ["heard a", "heard b", "heard c"]


async def test_an_urgent_write_takes_the_waiting_ones_along_at_once() -> None:
    events: list[str] = []
    thread = DatabaseThread(group=RecordingGroup(events), window=60.0)
    try:
        deferred = asyncio.ensure_future(thread.write(noting(events, "end"), defer=True))
        await asyncio.sleep(0.05)
        urgent = await asyncio.wait_for(thread.write(noting(events, "arrival")), 10.0)
        assert urgent == "ARRIVAL"
        assert await asyncio.wait_for(deferred, 10.0) == "END"
    finally:
        thread.close()
    assert events == ["open", "end", "arrival", "commit"]


async def test_a_deferred_write_alone_is_written_once_the_window_has_passed() -> None:
    events: list[str] = []
    thread = DatabaseThread(group=RecordingGroup(events), window=0.05)
    try:
        assert await asyncio.wait_for(thread.write(noting(events, "end"), defer=True),
                                      10.0) == "END"
    finally:
        thread.close()
    assert events == ["end"], "a group of one is simply run: no group to open"


async def test_a_read_after_waiting_writes_sees_them_committed() -> None:
    events: list[str] = []
    thread = DatabaseThread(group=RecordingGroup(events), window=60.0)
    try:
        first = asyncio.ensure_future(thread.write(noting(events, "agent"), defer=True))
        second = asyncio.ensure_future(thread.write(noting(events, "end"), defer=True))
        await asyncio.sleep(0.05)
        assert await asyncio.wait_for(thread.run(noting(events, "read")), 10.0) == "READ"
        await asyncio.wait_for(asyncio.gather(first, second), 10.0)
    finally:
        thread.close()
    assert events == ["open", "agent", "end", "commit", "read"]


async def test_one_failing_write_fails_alone_and_the_others_are_retried_alone() -> None:
    events: list[str] = []
    thread = DatabaseThread(group=RecordingGroup(events), window=60.0)

    def refused() -> None:
        events.append("refused")
        raise ValueError("constraint failed")

    try:
        good = asyncio.ensure_future(thread.write(noting(events, "agent"), defer=True))
        await asyncio.sleep(0.05)
        try:
            await asyncio.wait_for(thread.write(refused), 10.0)
        except ValueError as exc:
            assert str(exc) == "constraint failed"
        else:
            raise AssertionError("the failing write's caller was not told")
        assert await asyncio.wait_for(good, 10.0) == "AGENT"
    finally:
        thread.close()
    assert events == ["open", "agent", "refused", "rolled back", "agent", "refused"]


async def test_closing_writes_what_is_still_waiting_for_company() -> None:
    events: list[str] = []
    thread = DatabaseThread(group=RecordingGroup(events), window=60.0)
    pending = asyncio.ensure_future(thread.write(noting(events, "end"), defer=True))
    await asyncio.sleep(0.05)
    await asyncio.get_running_loop().run_in_executor(None, thread.close)
    assert events == ["end"]
    assert await asyncio.wait_for(pending, 10.0) == "END"
