"""Rights export (``callrec rights export``) of one caller with 100 recorded calls.

A SQLite contact history gets 100 finished calls of one number, each with its own
recording (``seconds`` of 8 kHz 16-bit WAV, as MixMonitor writes them: 2.9 MB for three
minutes), plus ``other_calls`` calls of other numbers. Then the command an officer runs,
``callrec --config FILE rights export --number N --request REF --out FILE.zip``, runs as a
child process: its wall time and its peak RSS (``ru_maxrss`` from wait4) are reported.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from callrec.domain.history import CallEnd, NewCall, Outcome, RecordingFacts
from callrec.lab.callrec_process import replace_once
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.migrate import upgrade

PROJECT_DIR = Path(__file__).resolve().parents[1]
SUBJECT = "+358401230000"


@dataclass
class ExportResult:
    calls: int
    recording_seconds_each: float
    recordings_mib: float
    seconds: float
    peak_rss_mib: float
    zip_mib: float
    exit_status: int
    output: str

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _config_text(database_url: str, recordings: Path) -> str:
    example = PROJECT_DIR / "callrec.example.toml"
    return replace_once(example.read_text("utf-8"), {
        'url = "sqlite:////var/lib/callrec/callrec.db"': f'url = "{database_url}"',
        'local_dir = "/var/spool/asterisk/callrec"': f'local_dir = "{recordings}"'}, example)


def prepare(workdir: Path, calls: int, seconds: float, other_calls: int) -> Path:
    """A configuration file whose database holds the subject's calls; returns its path."""
    if workdir.exists():
        shutil.rmtree(workdir)
    recordings = workdir / "recordings"
    recordings.mkdir(parents=True, mode=0o700)
    url = f"sqlite:///{workdir / 'callrec.db'}"
    config = workdir / "callrec.toml"
    config.write_text(_config_text(url, recordings), "utf-8")
    upgrade(url)
    rate = 8000
    t = np.arange(int(seconds * rate)) / rate
    audio = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    template = workdir / "template.wav"
    soundfile.write(str(template), audio, rate, subtype="PCM_16")
    database = Database.open(url)
    history = SqlContactHistory(database)
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    try:
        for n in range(calls + other_calls):
            number = SUBJECT if n < calls else f"+35850{n:07d}"
            started = start + timedelta(hours=n)
            call_id = f"{n:032x}"
            relative = f"{started:%Y/%m/%d}/{call_id}.wav"
            history.open_call(NewCall(
                id=call_id, asterisk_id="bench", channel_id=f"ch-{n}", linkedid=f"ch-{n}",
                caller_number_raw=number, caller_number=number, caller_withheld=False,
                caller_name_raw="Bench Subject", service_number="0201234500",
                service="servicedesk", service_number_known=True, queue="servicedesk",
                language="fi", started_at=started))
            facts = None
            if n < calls:
                path = recordings / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(template, path)
                path.chmod(0o640)
                facts = RecordingFacts(relative, path.stat().st_size, seconds,
                                       hashlib.sha256(path.read_bytes()).hexdigest())
                history.notice_completed(call_id, relative)
            history.agent_connected(call_id, "agent1", "PJSIP/agent1",
                                    started + timedelta(seconds=10))
            history.finish_call(call_id, CallEnd(
                ended_at=started + timedelta(seconds=seconds + 10), outcome=Outcome.ANSWERED,
                recording=facts, end_estimated=False))
    finally:
        database.dispose()
    template.unlink()
    return config


def run_export(config: Path, out: Path) -> tuple[int, float, float, str]:
    """Run the export command; (exit status, seconds, peak RSS MiB, its output)."""
    argv = [sys.executable, "-m", "callrec", "--config", str(config), "rights", "export",
            "--number", SUBJECT, "--request", "BENCH-EXPORT-1", "--out", str(out)]
    log = out.with_suffix(".log")
    began = time.monotonic()
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink,
                                   stderr=subprocess.STDOUT, cwd=PROJECT_DIR)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - began
    return (process.returncode, seconds, usage.ru_maxrss / 1024,
            log.read_text("utf-8", "replace").strip()[-500:])


def bench_export(workdir: Path, calls: int = 100, seconds: float = 180.0,
                 other_calls: int = 1000) -> ExportResult:
    config = prepare(workdir, calls, seconds, other_calls)
    out = workdir / "export.zip"
    try:
        status, took, rss, output = run_export(config, out)
        size = out.stat().st_size / 2**20 if out.exists() else 0.0
        recordings = sum(p.stat().st_size for p in (workdir / "recordings").rglob("*.wav"))
        return ExportResult(calls, seconds, round(recordings / 2**20, 1), round(took, 2),
                            round(rss, 1), round(size, 1), status, output)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
