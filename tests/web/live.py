"""callrec web on a real loopback socket, in a thread of its own, for clients that are not
asyncio (schemathesis' requests, a browser)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from callrec.web.app import build_app
from callrec.web.context import WebContext

START_TIMEOUT = 10.0


@contextmanager
def live_server(context: WebContext) -> Iterator[str]:
    """Serve on 127.0.0.1 at a free port; yields the base URL and stops on exit."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    found: dict[str, object] = {}

    async def serve() -> None:
        runner = web.AppRunner(build_app(context), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # the bound socket is the only way to learn port 0's choice
        found["port"] = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        started.set()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    def run() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as exc:  # reported to the test thread below
            found["error"] = exc
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="callrec-web-test", daemon=True)
    thread.start()
    if not started.wait(START_TIMEOUT) or "error" in found:
        raise RuntimeError(f"callrec web did not start: {found.get('error')}")
    try:
        yield f"http://127.0.0.1:{found['port']}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(START_TIMEOUT)
