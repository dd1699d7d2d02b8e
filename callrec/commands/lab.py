"""``callrec lab up|down|status``: the real-Asterisk lab for tests and demos.

Needs no callrec configuration file: the lab is self-contained (see callrec.lab).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from callrec.lab.asterisk import AsteriskLab


def _project_dir() -> Path:
    # The lab installs asterisk-config/ and sounds/ from a source checkout.
    return Path(__file__).resolve().parents[2]


def _lab(args: argparse.Namespace) -> AsteriskLab:
    root = Path(args.root) if args.root else None
    project = Path(args.project) if args.project else _project_dir()
    return AsteriskLab(project, root)


def _up(args: argparse.Namespace) -> int:
    lab = _lab(args)
    lab.up(timeout=args.timeout)
    print(f"Asterisk lab is up: ARI {lab.ari_url}, recordings in {lab.recordings_host_dir}")
    return 0


def _down(args: argparse.Namespace) -> int:
    _lab(args).down()
    print("Asterisk lab is down")
    return 0


def _status(args: argparse.Namespace) -> int:
    lab = _lab(args)
    state = lab.status()
    print(f"chroot:   {lab.chroot} ({'present' if state.chroot_present else 'missing'})")
    print(f"asterisk: {'running, pid ' + str(state.pid) if state.running else 'stopped'}")
    print(f"ari:      {lab.ari_url} ({'answers' if state.ari_ok else 'no answer'})")
    if state.asterisk_version:
        print(f"version:  {state.asterisk_version}")
    # Exit 0 only when the lab is usable, so scripts can test it.
    return 0 if state.ari_ok else 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lab", help="run a real Asterisk (Debian sid chroot) and SIPp peers on loopback",
        description="Build, start, stop or inspect the Asterisk lab (needs root).")
    parser.add_argument("--root", metavar="DIR",
                        help="lab directory (default: $CALLREC_LAB_DIR or /var/cache/callrec-lab)")
    parser.add_argument("--project", metavar="DIR",
                        help="source checkout with asterisk-config/ and sounds/ "
                             "(default: the one callrec runs from)")
    actions = parser.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="build if needed, configure and start Asterisk")
    up.add_argument("--timeout", type=float, default=120.0,
                    help="seconds to wait for ARI to answer (default: 120)")
    up.set_defaults(handler=_up)
    actions.add_parser("down", help="stop Asterisk").set_defaults(handler=_down)
    actions.add_parser("status", help="show whether the lab runs").set_defaults(
        handler=_status)
