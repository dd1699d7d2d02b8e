"""Who is acting: written into every audit entry."""

from __future__ import annotations

import getpass
import os


def current_actor() -> str:
    """The login behind this process, and whether systemd started it.

    ``sudo callrec ...`` is audited as the person who ran sudo, not as root.
    """
    user = os.environ.get("SUDO_USER") or _login()
    if os.environ.get("INVOCATION_ID"):
        return f"{user} (systemd)"
    return user


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"
