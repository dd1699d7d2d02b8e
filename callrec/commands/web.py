"""``callrec web``: serve the HTTP API and the browser player."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from callrec.config import load_config
from callrec.errors import InputError
from callrec.logs import configure_logging
from callrec.web.server import serve_web


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "web", help="serve the HTTP API and the browser player",
        description="Serve callrec web on [web] host and port of the configuration "
                    "(loopback by default).")
    parser.add_argument("--port", type=int, help="listen on this port instead")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.port is not None and not 0 < args.port < 65536:
        raise InputError(f"--port {args.port} is not a port number 1-65535")
    config = load_config(args.config)
    configure_logging(config.log_level)
    return asyncio.run(serve_web(config, port=args.port))
