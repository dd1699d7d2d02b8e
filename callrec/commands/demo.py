"""``callrec demo``: bring up the lab and show one recorded call end to end."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from callrec.lab.demo import run_demo


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help="lab Asterisk + callrec + one sample call placed by SIPp (root)")
    parser.add_argument("--project-dir", default=str(Path(__file__).resolve().parents[2]),
                        help="source checkout holding asterisk-config/ and sounds/")
    parser.add_argument("--workdir", default="/var/lib/callrec-demo",
                        help="where the demo keeps its config, database and logs")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return run_demo(Path(args.project_dir), Path(args.workdir))
