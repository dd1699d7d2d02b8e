"""callrec wired to the lab Asterisk: its configuration, and ``callrec serve`` as a process.

Shared by ``callrec demo``, the integration tests and the benchmarks, so that all three
run callrec exactly as an admin would: a TOML file and the ``callrec`` command.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from callrec.errors import LabError
from callrec.lab.asterisk import AsteriskLab


def replace_once(text: str, replacements: Mapping[str, str], source: Path) -> str:
    """``text`` with each key replaced by its value; each must occur exactly once."""
    for old, new in replacements.items():
        if text.count(old) != 1:
            raise LabError(f"{source}: {old!r} not found exactly once")
        text = text.replace(old, new)
    return text


def lab_config_text(example: Path, lab: AsteriskLab, database_url: str) -> str:
    """callrec.example.toml with the lab's recordings directory and the given database."""
    text = example.read_text(encoding="utf-8")
    text, found_db = re.subn(r'(?m)^url = "sqlite:.*"$', f'url = "{database_url}"', text)
    text, found_dir = re.subn(r'(?m)^local_dir = .*$',
                              f'local_dir = "{lab.recordings_host_dir}"', text)
    if not (found_db and found_dir):
        raise LabError(f"{example} no longer has the database.url / recordings.local_dir "
                       "lines the lab rewrites")
    return text


def key_paths(keys_dir: Path) -> tuple[Path, Path]:
    """(key store, master key file) of a lab configuration: two directories of their own
    under ``keys_dir``, as docs/encryption.md asks of a real installation."""
    return keys_dir / "store" / "keys.sqlite", keys_dir / "master" / "master.keys"


def encryption_section(keys_dir: Path, enabled: bool = True) -> str:
    """An ``[encryption]`` section for the demo, the benchmarks and the tests."""
    store, master = key_paths(keys_dir)
    return (f"\n[encryption]\nenabled = {'true' if enabled else 'false'}\n"
            f'key_store = "{store}"\nmaster_key_file = "{master}"\n'
            "keystore_backup_days = 30\n")


class CallrecProcess:
    """``callrec --config FILE serve`` in the background, its log in a file."""

    def __init__(self, config_path: Path, log_path: Path, lab: AsteriskLab,
                 app: str = "callrec") -> None:
        self.config_path = config_path
        self.log_path = log_path
        self._lab = lab
        self._app = app
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 20.0) -> None:
        """Start it and wait until Asterisk has its ARI application registered."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "callrec", "--config", str(self.config_path), "serve"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while not self.registered():
            if self._process.poll() is not None:
                raise LabError(f"callrec serve exited with {self._process.returncode}; "
                               f"its log:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise LabError(f"callrec did not register with Asterisk within {timeout:.0f}"
                               f" s; its log:\n{self.log_tail()}")
            time.sleep(0.1)

    def registered(self) -> bool:
        """Asterisk lists the application only while callrec's events socket is open."""
        token = base64.b64encode(
            f"{self._lab.ari_username}:{self._lab.ari_password}".encode()).decode()
        url = f"{self._lab.ari_url}/ari/applications/{self._app}"
        request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})  # noqa: S310 - the lab's loopback URL
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (callrec drains calls hearing the notice), SIGKILL if it lingers."""
        if self._process is None or self._process.poll() is not None:
            return self._process.returncode if self._process else None
        self._process.send_signal(signal.SIGTERM)
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait()

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
