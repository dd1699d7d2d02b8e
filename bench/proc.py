"""CPU time and memory of a process, read from /proc (Linux only)."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    user: float
    system: float

    @property
    def total(self) -> float:
        return self.user + self.system


def cpu_seconds(pid: int) -> CpuSample:
    """utime and stime of ``pid`` (all its threads), in seconds."""
    return cpu_seconds_of(Path(f"/proc/{pid}/stat"))


def thread_cpu_seconds(pid: int) -> dict[int, CpuSample]:
    """utime and stime of each thread of ``pid``, by thread id."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            threads[int(task.name)] = cpu_seconds_of(task / "stat")
        except OSError:
            continue  # the thread ended meanwhile
    return threads


def cpu_seconds_of(stat_path: Path) -> CpuSample:
    # After the command: state(0) ppid ... utime is field 14 of stat, index 11 here.
    fields = stat_path.read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return CpuSample(int(fields[11]) / TICKS, int(fields[12]) / TICKS)


def status_kib(pid: int, key: str) -> int:
    """A ``kB`` value of /proc/PID/status, e.g. VmHWM (peak RSS) or VmRSS."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def machine() -> dict[str, str]:
    """What the figures were measured on (nproc, memory, CPU model, kernel)."""
    model = ""
    for line in _run(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    mem = next((line.split()[1] for line in _run(["free", "-h"]).splitlines()
                if line.startswith("Mem:")), "?")
    return {"nproc": _run(["nproc"]).strip(), "memory": mem, "cpu": model,
            "kernel": platform.release(), "python": platform.python_version()}


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False,
                              timeout=10).stdout
    except OSError:
        return ""
