"""``callrec serve``: run the ARI application (what callrec.service runs under systemd)."""

from __future__ import annotations

import argparse
import asyncio
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
    return asyncio.run(serve(config))
