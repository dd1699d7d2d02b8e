"""``callrec serve``: run the ARI application (what callrec.service runs under systemd)."""

from __future__ import annotations

import argparse
import asyncio
import gc
from collections.abc import Callable
from typing import Any

from callrec.app import serve
from callrec.config import load_config
from callrec.logs import configure_logging


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="run the ARI application: notice, recording, contact history")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    configure_logging(config.log_level)
    # Everything imported and configured so far lives as long as the process: out of the
    # collector's way, so its rounds during calls only walk what calls allocate.
    gc.freeze()
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(serve(config))


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop where it is installed: the call path's CPU per call drops by about a
    tenth with it (docs/benchmarks.md). asyncio's own loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
