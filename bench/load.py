"""Load benchmark on the lab Asterisk: callrec against plain dialplan (the floor).

Both paths do the same job for every call: answer, play ``callrec/notice`` (Finnish,
8.1 s), start MixMonitor, queue the caller in the lab's ``bench`` queue, where one SIPp
UAS (PJSIP/benchagent, 127.0.0.1:5090) answers every call at once and streams a tone;
the caller streams a tone too and hangs up ``talk`` seconds after the notice.

* floor:   0299900000, dialplan only (callrec/lab/asterisk-conf/extensions_lab.conf);
* callrec: 0299900001, through Stasis(callrec) and ``callrec serve`` with a bench-only
  configuration routing that number to a ``bench`` service (SQLite contact history).

One SIPp UAC places the calls at ``rate`` per second, at most ``limit`` at once.
Figures per run:

* calls attempted / completed / failed: SIPp's own counters (a call completes when every
  message of the scenario passed, BYE answered included);
* INVITE -> 200 OK: SIPp's response-time measure (``rtd`` on the 200), per call;
* entry -> notice: from Asterisk's messages.log (millisecond stamps): the moment the call
  runs priority 1 of [callrec-incoming] (where the floor answers, and where callrec's
  path pushes its hangup handler just before Stasis()) to the moment Asterisk starts
  playing the notice file on it. For the floor that is answer -> notice; for callrec it
  also holds the contact-history insert and the ARI answer, so it is the stricter of the
  two measures;
* CPU: utime+stime of the Asterisk and callrec processes (all threads, /proc/PID/stat)
  from just before the first call until the last channel is gone and, for callrec, the
  last history row is finalised; per completed call;
* callrec's peak RSS: VmHWM of its process at the end of the run.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import soundfile
from sqlalchemy import text

from bench import encryption
from bench.proc import CpuSample, cpu_seconds, status_kib
from callrec.errors import LabError
from callrec.lab.asterisk import AsteriskLab
from callrec.lab.callrec_process import (
    CallrecProcess,
    encryption_section,
    lab_config_text,
    replace_once,
)
from callrec.lab.sipp import (
    make_tone,
    render_agent_scenario,
    render_caller_scenario,
    stop_sipp,
)
from callrec.storage.db import Database
from callrec.storage.migrate import upgrade

PROJECT_DIR = Path(__file__).resolve().parents[1]
FLOOR_NUMBER, CALLREC_NUMBER = "0299900000", "0299900001"
CALLER_NUMBER = "0401234567"
CALLER_PORT, CALLER_MEDIA = 5070, 30000
AGENT_PORT, AGENT_MEDIA = 5090, 40000
BENCH_SERVICE = f"""
# Benchmarks only (bench/load.py): the lab's bench number and queue.
[services.bench]
numbers = ["{CALLREC_NUMBER}"]
queue = "bench"
language = "fi"
notice = "callrec/notice"
recording_retention = "2 months"
history_retention = "until erased"
on_objection = "record"
"""

_LOG_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\] VERBOSE\[\d+\]\S* (.*)$")
_ENTRY = re.compile(r"pbx\.c: Executing \[(\d+)@callrec-incoming:1\] \w+\(\"(PJSIP/trunk-\w+)\"")
_NOTICE = re.compile(r"file\.c: <(PJSIP/trunk-\w+)> Playing 'callrec/notice")
_ANSWERED = re.compile(r"app_queue\.c: PJSIP/benchagent-\w+ answered (PJSIP/trunk-\w+)")


@dataclass(frozen=True)
class LoadSettings:
    calls: int = 600
    rate: float = 10.0        # calls per second
    limit: int = 130          # most calls at once
    talk: float = 3.0         # seconds of conversation after the notice
    warmup: int = 10          # calls placed (and not measured) before each run


@dataclass
class RunResult:
    path: str                  # "floor", "callrec", "callrec-http" or "callrec-encrypted"
    dialled: str
    settings: dict[str, Any]
    attempted: int = 0
    completed: int = 0
    failed: int = 0
    peak_concurrent: int = 0
    agent_answered: int = 0
    wall_seconds: float = 0.0
    invite_to_200_ms: dict[str, float] = field(default_factory=dict)
    entry_to_notice_ms: dict[str, float] = field(default_factory=dict)
    asterisk_cpu_s: float = 0.0
    callrec_cpu_s: float | None = None
    callrec_cpu_user_s: float | None = None
    callrec_cpu_system_s: float | None = None
    callrec_peak_rss_mib: float | None = None
    history_rows: int | None = None
    history_rows_answered: int | None = None
    seal_after_hangup_s: dict[str, float] = field(default_factory=dict)  # callrec-encrypted
    problems: list[str] = field(default_factory=list)

    @property
    def asterisk_ms_per_call(self) -> float:
        return 1000 * self.asterisk_cpu_s / max(self.completed, 1)

    @property
    def callrec_ms_per_call(self) -> float:
        return 1000 * (self.callrec_cpu_s or 0.0) / max(self.completed, 1)

    @property
    def total_ms_per_call(self) -> float:
        return self.asterisk_ms_per_call + self.callrec_ms_per_call

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(asterisk_ms_per_call=round(self.asterisk_ms_per_call, 3),
                    callrec_ms_per_call=round(self.callrec_ms_per_call, 3),
                    total_ms_per_call=round(self.total_ms_per_call, 3))
        return data


def percentiles(values: list[float]) -> dict[str, float]:
    """n, p50, p99 (nearest rank) and max, rounded to 0.1 ms."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, round(p * len(ordered) + 0.5) - 1))]

    return {"n": len(ordered), "p50": round(rank(0.50), 1), "p99": round(rank(0.99), 1),
            "max": round(ordered[-1], 1)}


def notice_seconds() -> float:
    return float(soundfile.info(str(PROJECT_DIR / "sounds/fi/callrec/notice.wav")).duration)


class LoadBench:
    def __init__(self, workdir: Path, settings: LoadSettings, *, keep_recordings: bool = False,
                 database_url: str | None = None) -> None:
        self.workdir = workdir
        self.settings = settings
        self.keep_recordings = keep_recordings
        self.lab = AsteriskLab(PROJECT_DIR)
        self.database_url = database_url or f"sqlite:///{workdir / 'callrec-bench.db'}"

    # ---- set-up ----

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.lab.up()
        for tool in ("sipp", "sox"):
            if shutil.which(tool) is None:
                raise LabError(f"{tool} is missing (hint: callrec lab up installs it)")
        make_tone(self.workdir / "caller-tone.wav", 440.0, 2.0)
        make_tone(self.workdir / "agent-tone.wav", 1000.0, 2.0)
        (self.workdir / "agent.xml").write_text(
            render_agent_scenario(self.workdir / "agent-tone.wav"), "utf-8")
        seconds = notice_seconds() + 1.0 + self.settings.talk
        (self.workdir / "caller.xml").write_text(render_caller_scenario(
            CALLER_NUMBER, "Bench Caller", self.workdir / "caller-tone.wav", seconds), "utf-8")
        config = lab_config_text(PROJECT_DIR / "callrec.example.toml", self.lab,
                                 self.database_url) + BENCH_SERVICE
        self.config_path = self.workdir / "callrec-bench.toml"
        self.config_path.write_text(config, "utf-8")
        self.http_config_path = self.workdir / "callrec-bench-http.toml"
        self.http_config_path.write_text(replace_once(
            config, {'requests = "websocket"': 'requests = "http"'}, self.config_path), "utf-8")
        self.encrypted_config_path = self.workdir / "callrec-bench-encrypted.toml"
        self.encrypted_config_path.write_text(
            config + encryption_section(self.workdir / "keys"), "utf-8")
        upgrade(self.database_url)

    # ---- one run ----

    def run(self, path: str) -> RunResult:
        """One run of ``settings.calls`` calls through ``path``: "floor", "callrec", or
        "callrec-http" (callrec with its ARI requests over HTTP, not the events socket)."""
        dialled = FLOOR_NUMBER if path == "floor" else CALLREC_NUMBER
        result = RunResult(path, dialled, asdict(self.settings))
        rundir = self.workdir / f"{path}-{datetime.now():%H%M%S}"
        rundir.mkdir()
        server = None
        if path in ("callrec", "callrec-http", "callrec-encrypted"):
            config = {"callrec-http": self.http_config_path,
                      "callrec-encrypted": self.encrypted_config_path}.get(path,
                                                                           self.config_path)
            server = CallrecProcess(config, rundir / "callrec.log", self.lab)
            server.start()
        asterisk_pid = self.lab.status().pid
        if asterisk_pid is None:
            raise LabError("the lab Asterisk is not running")
        agent = self._start_agent(rundir)
        try:
            rows_initial = self._row_count() if server else 0
            if self.settings.warmup:
                # A long-running service has its caches filled and its imports done.
                self._run_caller(rundir, dialled, calls=self.settings.warmup, name="warmup")
                if server is not None:
                    self._wait_rows_final(30.0)
            self._wait_idle(30.0)
            time.sleep(1.0)
            log_offset = self.lab.messages_log.stat().st_size
            rows_before = self._row_count() if server else 0
            ast0 = cpu_seconds(asterisk_pid).total
            cr0 = cpu_seconds(server.pid) if server and server.pid else CpuSample(0.0, 0.0)
            started = time.monotonic()
            caller = self._run_caller(rundir, dialled)
            if not self._wait_idle(90.0):
                result.problems.append("channels still up 90 s after the last call")
            if server is not None and not self._wait_rows_final(60.0):
                result.problems.append("history rows not finalised within 60 s")
            result.wall_seconds = round(time.monotonic() - started, 1)
            result.asterisk_cpu_s = round(cpu_seconds(asterisk_pid).total - ast0, 2)
            if server is not None and server.pid:
                cr1 = cpu_seconds(server.pid)
                result.callrec_cpu_s = round(cr1.total - cr0.total, 2)
                result.callrec_cpu_user_s = round(cr1.user - cr0.user, 2)
                result.callrec_cpu_system_s = round(cr1.system - cr0.system, 2)
                result.callrec_peak_rss_mib = round(status_kib(server.pid, "VmHWM") / 1024, 1)
                rows = self._rows_since(rows_initial)
                measured = rows[rows_before - rows_initial:]
                result.history_rows = len(measured)
                result.history_rows_answered = sum(
                    1 for r in measured if r["outcome"] == "answered")
                if path == "callrec-encrypted":
                    result.seal_after_hangup_s = encryption.seal_delays(
                        self.lab.recordings_host_dir, measured, result.problems)
                if not self.keep_recordings:  # the warm-up calls' recordings too
                    self._remove_callrec_recordings(rows)
        finally:
            agent_stats = self._stop_agent(agent, rundir)
            if server is not None:
                server.stop()
        if caller.returncode not in (0, 1):
            result.problems.append(f"caller SIPp exited {caller.returncode}: "
                                   + _tail(rundir / "caller.out"))
        self._read_caller_stats(rundir, result)
        result.agent_answered = agent_stats - self.settings.warmup
        self._read_log(log_offset, dialled, result)
        if not self.keep_recordings and path == "floor":
            for wav in (self.lab.recordings_host_dir / "bench").glob("*.wav"):
                wav.unlink()
        return result

    def _start_agent(self, rundir: Path) -> subprocess.Popen[bytes]:
        argv = ["sipp", "127.0.0.1:5060", "-sf", str(self.workdir / "agent.xml"),
                "-i", "127.0.0.1", "-p", str(AGENT_PORT), "-mi", "127.0.0.1",
                "-mp", str(AGENT_MEDIA), "-nostdin", "-aa", "-trace_err",
                "-error_file", str(rundir / "agent.errors.log"), "-trace_stat",
                "-stf", str(rundir / "agent.stat.csv"), "-fd", "1",
                "-timeout", f"{self._caller_timeout() + 120}s"]
        with (rundir / "agent.out").open("wb") as out:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, cwd=rundir)
        time.sleep(0.5)
        if process.poll() is not None:
            raise LabError(f"bench agent SIPp exited at once: {_tail(rundir / 'agent.out')}")
        return process

    def _stop_agent(self, process: subprocess.Popen[bytes], rundir: Path) -> int:
        stop_sipp(process, timeout=10)
        rows = _read_stat(rundir / "agent.stat.csv")
        return int(rows[-1].get("SuccessfulCall(C)", 0)) if rows else 0

    def _caller_timeout(self) -> float:
        s = self.settings
        return s.calls / s.rate + s.calls / max(s.limit, 1) * 20 + notice_seconds() + 120

    def _run_caller(self, rundir: Path, dialled: str, *, calls: int | None = None,
                    name: str = "caller") -> subprocess.CompletedProcess[bytes]:
        s = self.settings
        calls = s.calls if calls is None else calls
        timeout = self._caller_timeout()
        argv = ["sipp", "127.0.0.1:5060", "-sf", str(self.workdir / "caller.xml"),
                "-s", dialled, "-i", "127.0.0.1", "-p", str(CALLER_PORT),
                "-mi", "127.0.0.1", "-mp", str(CALLER_MEDIA),
                "-r", f"{s.rate:g}", "-rp", "1000", "-l", str(s.limit), "-m", str(calls),
                "-nostdin", "-aa", "-recv_timeout", "30000",
                "-timeout", f"{timeout:.0f}s", "-timeout_error",
                "-trace_err", "-error_file", str(rundir / f"{name}.errors.log"),
                "-trace_stat", "-stf", str(rundir / f"{name}.stat.csv"), "-fd", "1"]
        if name == "caller":
            argv += ["-trace_rtt", "-rtt_freq", "1"]
        with (rundir / f"{name}.out").open("wb") as out:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, cwd=rundir, check=False,
                                  timeout=timeout + 30)

    # ---- waiting and reading ----

    def _wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.lab.cli("core show channels count")
            match = re.search(r"(\d+) active channels?", out)
            if match and int(match.group(1)) == 0:
                return True
            time.sleep(1.0)
        return False

    def _query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        database = Database.open(self.database_url)
        try:
            with database.connection() as conn:
                return [dict(row._mapping) for row in conn.execute(text(sql), params)]
        finally:
            database.dispose()

    def _row_count(self) -> int:
        return int(self._query("SELECT count(*) AS n FROM calls")[0]["n"])

    def _rows_since(self, skip: int) -> list[dict[str, Any]]:
        rows = self._query("SELECT id, outcome, recording_path, ended_at FROM calls "
                           "ORDER BY started_at, id")
        return rows[skip:]

    def _wait_rows_final(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            open_rows = self._query("SELECT count(*) AS n FROM calls WHERE ended_at IS NULL")
            if int(open_rows[0]["n"]) == 0:
                return True
            time.sleep(0.5)
        return False

    def _remove_callrec_recordings(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row["recording_path"]:
                (self.lab.recordings_host_dir / row["recording_path"]).unlink(missing_ok=True)

    @staticmethod
    def _read_caller_stats(rundir: Path, result: RunResult) -> None:
        rows = _read_stat(rundir / "caller.stat.csv")
        if rows:
            last = rows[-1]
            result.attempted = int(last.get("TotalCallCreated", 0))
            result.completed = int(last.get("SuccessfulCall(C)", 0))
            result.failed = int(last.get("FailedCall(C)", 0))
            result.peak_concurrent = max(int(r.get("CurrentCall", 0)) for r in rows)
        rtts: list[float] = []
        for rtt_file in rundir.glob("*_rtt.csv"):
            with rtt_file.open(encoding="utf-8", errors="replace") as handle:
                for row in csv.reader(handle, delimiter=";"):
                    if len(row) >= 2:
                        try:
                            rtts.append(float(row[1]))
                        except ValueError:
                            continue
        result.invite_to_200_ms = percentiles(rtts)

    def _read_log(self, offset: int, dialled: str, result: RunResult) -> None:
        with self.lab.messages_log.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", "replace")
        entry: dict[str, datetime] = {}
        notice: dict[str, datetime] = {}
        answered = 0
        for line in text.splitlines():
            match = _LOG_LINE.match(line)
            if not match:
                continue
            stamp, rest = match.groups()
            if (m := _ENTRY.search(rest)) and m.group(1) == dialled:
                entry.setdefault(m.group(2), _stamp(stamp))
            elif (m := _NOTICE.search(rest)) and m.group(1) in entry:
                notice.setdefault(m.group(1), _stamp(stamp))
            elif (m := _ANSWERED.search(rest)) and m.group(1) in entry:
                answered += 1
        gaps = [(notice[ch] - entry[ch]).total_seconds() * 1000 for ch in entry if ch in notice]
        result.entry_to_notice_ms = percentiles(gaps)
        if len(gaps) < len(entry):
            result.problems.append(f"{len(entry) - len(gaps)} calls never started the notice")
        if answered < result.completed:
            result.problems.append(f"only {answered} calls reached the agent per messages.log")


def _stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")


def _read_stat(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return list(csv.DictReader(handle, delimiter=";"))
    except OSError:
        return []


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"
