"""callrec's own CPU per call, with no Asterisk: ``callrec serve`` against a fake ARI.

The lab benchmark (bench/load.py) measures callrec next to a real Asterisk, whose own
CPU use on this shared machine moves by 20% from run to run. This one isolates callrec:
the fake ARI of the unit tests (tests/support/fake_ari.py) runs in this process and plays
Asterisk's side of every call (StasisStart with the linkedid argument, the notice's
PlaybackFinished, StasisEnd at ``continue``, the Queue AGI hook, the hangup handler's
FastAGI report) while ``callrec serve`` runs as its own process, exactly as configured by
an admin. Only that process's CPU is counted, from the first call until the last row is
finalised.

``--profile FILE`` runs the server under cProfile (slower; for finding where time goes).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from bench.proc import CpuSample, cpu_seconds, status_kib, thread_cpu_seconds
from callrec.calls.ari.telephony import HANDOVER_SEPARATOR, HANDOVER_VARIABLE
from callrec.lab.callrec_process import replace_once
from tests.support.fake_ari import FakeAri

PROJECT_DIR = Path(__file__).resolve().parents[1]
EXAMPLE = PROJECT_DIR / "callrec.example.toml"
DIALLED = "0201234500"


@dataclass(frozen=True)
class CallpathSettings:
    calls: int = 1000
    rate: float = 50.0        # calls per second
    notice: float = 0.5       # seconds in Stasis, playing the notice
    talk: float = 1.0         # seconds from the agent's answer to the hangup
    ari_requests: str = "websocket"  # [ari] requests: over the events socket, or "http"
    profile: Path | None = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_config(workdir: Path, ari_url: str, agi_port: int, ari_requests: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    recordings = workdir / "rec"
    recordings.mkdir()
    replacements = {
        f'url = "{raw["ari"]["url"]}"': f'url = "{ari_url}"',
        f'port = {raw["agi"]["port"]}': f"port = {agi_port}",
        f'url = "{raw["database"]["url"]}"': f'url = "sqlite:///{workdir / "callrec.db"}"',
        f'local_dir = "{raw["recordings"]["local_dir"]}"': f'local_dir = "{recordings}"',
        f'asterisk_dir = "{raw["recordings"]["asterisk_dir"]}"':
            f'asterisk_dir = "{recordings}"',
        f'password = "{raw["ari"]["password"]}"': 'password = "secret"',
        f'requests = "{raw["ari"]["requests"]}"': f'requests = "{ari_requests}"',
    }
    path = workdir / "callrec.toml"
    path.write_text(replace_once(text, replacements, EXAMPLE), encoding="utf-8")
    return path


class CallpathBench:
    def __init__(self, workdir: Path, settings: CallpathSettings) -> None:
        self.workdir = workdir
        self.settings = settings
        self.ari = FakeAri(notice_seconds=settings.notice)
        self.agi_port = _free_port()
        self._template = workdir / "template.wav"

    async def run(self) -> dict[str, Any]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(8000 * 3) / 8000)
        soundfile.write(str(self._template), tone, 8000, subtype="PCM_16")
        await self.ari.start()
        config = _write_config(self.workdir, self.ari.url, self.agi_port,
                               self.settings.ari_requests)
        await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "callrec", "--config",
                                str(config), "db", "upgrade"], check=True, capture_output=True)
        server = self._start_server(config)
        try:
            # Connected, resynced and (for "websocket") the socket probed.
            await self._until(lambda: bool(self.ari.sockets) and (
                self.settings.ari_requests == "http" or bool(self.ari.socket_requests)), 20.0)
            await self._calls(20, "warm")                # imports and caches, not measured
            await self._until(lambda: self._finished("warm.%") == 20, 60.0)
            before = cpu_seconds(server.pid)
            threads_before = thread_cpu_seconds(server.pid)
            started = time.monotonic()
            await self._calls(self.settings.calls, "call")
            await self._until(lambda: self._finished("call.%") == self.settings.calls, 120.0)
            cpu = cpu_seconds(server.pid)
            threads = thread_cpu_seconds(server.pid)
            wall = time.monotonic() - started
            peak_rss = status_kib(server.pid, "VmHWM") / 1024
        finally:
            server.send_signal(signal.SIGTERM)
            await asyncio.to_thread(server.wait, 30)
            await self.ari.stop()
        rows = self._finished("call.%")
        calls = self.settings.calls
        return {
            "calls": calls, "rate": self.settings.rate,
            "ari_requests": self.settings.ari_requests, "wall_seconds": round(wall, 1),
            "finished_rows": rows, "answered_rows": self._answered_rows(),
            "cpu_ms_per_call": round(1000 * (cpu.total - before.total) / calls, 2),
            "user_ms_per_call": round(1000 * (cpu.user - before.user) / calls, 2),
            "system_ms_per_call": round(1000 * (cpu.system - before.system) / calls, 2),
            "peak_rss_mib": round(peak_rss, 1),
            # The event loop runs in the main thread; the others are the database thread
            # and the workers that measure recordings.
            "event_loop_ms_per_call": round(1000 * (
                threads[server.pid].total - threads_before[server.pid].total) / calls, 2),
            "other_threads_ms_per_call": round(1000 * sum(
                sample.total - threads_before.get(tid, CpuSample(0.0, 0.0)).total
                for tid, sample in threads.items() if tid != server.pid) / calls, 2),
        }

    def _start_server(self, config: Path) -> subprocess.Popen[bytes]:
        argv = [sys.executable]
        if self.settings.profile is not None:
            argv += ["-m", "cProfile", "-o", str(self.settings.profile)]
        argv += ["-m", "callrec", "--config", str(config), "serve"]
        log = (self.workdir / "callrec.log").open("ab")
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})

    async def _calls(self, count: int, prefix: str) -> None:
        tasks = []
        for n in range(count):
            tasks.append(asyncio.create_task(self._one_call(f"{prefix}.{n}")))
            await asyncio.sleep(1 / self.settings.rate)
        await asyncio.gather(*tasks)

    async def _one_call(self, channel_id: str) -> None:
        channel = await self.ari.new_caller(channel_id, "0401234567", DIALLED, "Bench",
                                            args=[f"linkedid={channel_id}"])
        await self._until(lambda: channel.continued_to is not None, 30.0)
        handover = channel.variables[HANDOVER_VARIABLE].split(HANDOVER_SEPARATOR)
        recording = Path(handover[3])
        recording.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._template, recording)
        await self._agent_answers(channel_id)
        await asyncio.sleep(self.settings.talk)
        await self.ari.hang_up(channel_id)

    async def _agent_answers(self, channel_id: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.agi_port)
        writer.write(_agi_environment(self.agi_port, channel_id))
        await reader.readline()  # GET FULL VARIABLE ...
        writer.write(b"200 result=1 (PJSIP/benchagent|benchagent)\n")
        await writer.drain()
        await reader.read()
        writer.close()

    def _query(self, sql: str, *params: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.workdir / "callrec.db") as db:
            return db.execute(sql, params).fetchall()

    def _finished(self, channels: str) -> int:
        return int(self._query("SELECT count(*) FROM calls WHERE channel_id LIKE ? "
                               "AND ended_at IS NOT NULL", channels)[0][0])

    def _answered_rows(self) -> int:
        return int(self._query("SELECT count(*) FROM calls WHERE channel_id LIKE 'call.%' "
                               "AND outcome = 'answered'")[0][0])

    @staticmethod
    async def _until(check: Any, seconds: float) -> None:
        # Polling: the things waited for (a row in another process's database, a field of
        # the fake's state) have no event to wait on.
        async with asyncio.timeout(seconds):
            while not check():  # noqa: ASYNC110
                await asyncio.sleep(0.1)



def _agi_environment(port: int, channel_id: str) -> bytes:
    """The environment Asterisk 22 sends when Queue() runs the AGI hook."""
    env = {
        "agi_request": f"agi://127.0.0.1:{port}/agent-connected",
        "agi_channel": "PJSIP/trunk-00000001", "agi_language": "fi", "agi_type": "PJSIP",
        "agi_uniqueid": channel_id, "agi_version": "22.10.1", "agi_callerid": "0401234567",
        "agi_calleridname": "Bench", "agi_callingpres": "0", "agi_callingani2": "0",
        "agi_callington": "0", "agi_callingtns": "0", "agi_dnid": DIALLED,
        "agi_rdnis": "unknown", "agi_context": "callrec-queue", "agi_extension": "s",
        "agi_priority": "4", "agi_enhanced": "0.0", "agi_accountcode": "",
        "agi_threadid": "140000000000000", "agi_network": "yes",
        "agi_network_script": "agent-connected",
    }
    return "".join(f"{key}: {value}\n" for key, value in env.items()).encode() + b"\n"
