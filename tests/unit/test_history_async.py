"""The database thread: every piece of database work of the service runs on one thread."""

from __future__ import annotations

import asyncio
import threading

from callrec.history_async import DatabaseThread


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
