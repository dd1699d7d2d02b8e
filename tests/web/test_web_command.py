"""``callrec web`` as an admin runs it: serves on loopback, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from callrec.cli import main
from callrec.storage.db import Database
from tests.web.world import write_config_file


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_web_serves_until_sigterm(database: Database, database_url: str,
                                  tmp_path: Path) -> None:
    config = write_config_file(tmp_path, database_url)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "callrec", "--config", str(config), "web", "--port", str(port)],
        stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    try:
        body = wait_for(f"http://127.0.0.1:{port}/api/openapi.json", time.monotonic() + 20)
        assert b'"openapi": "3.0.3"' in body
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert '"web_started"' in stderr and '"web_stopped"' in stderr


@pytest.mark.parametrize("port", ["0", "70000"])
def test_a_bad_port_exits_2(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["web", "--port", port]) == 2
    assert "is not a port number" in capsys.readouterr().err
