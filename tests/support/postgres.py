"""A PostgreSQL server of a test's own, to stop and start at will.

The machine's own PostgreSQL (127.0.0.1:5432) serves every other test, so a test that
stops the database starts this one instead: Debian's server binaries, a cluster in a
directory of its own, on a free loopback port, run as the ``postgres`` system user
(initdb refuses root). Stopped and removed by :meth:`close`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from callrec.errors import LabError

_DEBIAN_BIN = Path("/usr/lib/postgresql")
_USER = "postgres"


def _server_bin() -> Path:
    versions = sorted(_DEBIAN_BIN.glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise LabError(f"no PostgreSQL server binaries under {_DEBIAN_BIN} "
                       "(hint: apt-get install postgresql)")
    return versions[-1].parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresInstance:
    def __init__(self) -> None:
        self._bin = _server_bin()
        self.port = _free_port()
        # Not under pytest's tmp_path: that is root's, 0700, and the server runs as postgres.
        self._root = Path(tempfile.mkdtemp(prefix="callrec-pg-"))
        self._data = self._root / "data"
        shutil.chown(self._root, _USER, _USER)
        self._run("initdb", "-D", str(self._data), "-A", "trust", "-U", _USER,
                  "--no-sync", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{_USER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._root} -c fsync=off"
        self._run("pg_ctl", "-D", str(self._data), "-l", str(self._root / "server.log"),
                  "-o", options, "-w", "-t", "30", "start")
        self._wait_until_accepting()

    def stop(self) -> None:
        """Fast shutdown: open sessions are cut, as in a restart or a failover."""
        self._run("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "-t", "30", "stop")

    def close(self) -> None:
        if (self._data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop",
                      check=False)
        shutil.rmtree(self._root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        path = self._root / "server.log"
        text = path.read_text("utf-8", "replace") if path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _wait_until_accepting(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise LabError(f"PostgreSQL on port {self.port} did not accept connections; "
                       f"its log:\n{self.log_tail()}")

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        command = ["runuser", "-u", _USER, "--", str(self._bin / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                              cwd=self._root, check=False)
        if check and done.returncode != 0:
            raise LabError(f"{tool} failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-500:]}")
