"""``callrec demo``: one recorded call, end to end, on the lab Asterisk.

Brings the lab up, writes a configuration for it, migrates the database, starts
``callrec serve``, lets agent2's phone (a SIPp UAS streaming 1500 Hz) wait in the
switchboard queue, places one call (a SIPp caller streaming 440 Hz) to 0295504000, and
shows the contact-history row and what is in the recording.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import soundfile

from callrec.config import load_config
from callrec.domain.history import CallRecord
from callrec.errors import LabError
from callrec.lab.asterisk import AsteriskLab
from callrec.lab.callrec_process import CallrecProcess, encryption_section, lab_config_text
from callrec.lab.sipp import SippAgent, place_call
from callrec.recordings.audio import as_file
from callrec.recordings.configured import recording_files
from callrec.recordings.files import RecordingFiles
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.migrate import upgrade

CALLER_HZ, AGENT_HZ = 440.0, 1500.0
SERVICE_NUMBER, CALLER = "0295504000", "+358401234567"


def run_demo(project_dir: Path, workdir: Path) -> int:
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    step("bringing up the lab Asterisk (a Debian sid chroot; built once, then cached)")
    lab = AsteriskLab(project_dir)
    lab.up()
    config_path = workdir / "callrec.toml"
    config_path.write_text(lab_config_text(project_dir / "callrec.example.toml", lab,
                                           f"sqlite:///{workdir / 'callrec.db'}")
                           + encryption_section(workdir / "keys"), "utf-8")
    config = load_config(config_path)
    step(f"database {config.database_url}: migrated to {upgrade(config.database_url)}")
    server = CallrecProcess(config_path, workdir / "callrec.log", lab)
    server.start()
    step(f"callrec serve is running (pid {server.pid}), log in {server.log_path}")
    started = datetime.now(UTC)
    try:
        with SippAgent("agent2", 5081, AGENT_HZ, media_port=32000, workdir=workdir / "sipp"):
            step(f"calling {SERVICE_NUMBER} (switchboard) from {CALLER}: the caller hears "
                 "the notice, waits in the queue, agent2 answers; both talk for 6 s")
            result = place_call(SERVICE_NUMBER, CALLER, "Demo Caller", CALLER_HZ, 14.0,
                                workdir=workdir / "sipp", timeout=60)
            if result.message:
                raise LabError(result.message)
        record = _wait_for_finished_row(config.database_url, started)
    finally:
        server.stop()
    step("the contact-history row (callrec calls --since ...):")
    subprocess.run([sys.executable, "-m", "callrec", "--config", str(config_path), "calls",
                    "--since", started.isoformat()], check=True)
    files = recording_files(config)
    try:
        _show_recording(files, record)
    finally:
        files.close()
    return 0


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def _wait_for_finished_row(database_url: str, since: datetime,
                           timeout: float = 20.0) -> CallRecord:
    database = Database.open(database_url)
    try:
        history = SqlContactHistory(database)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = history.search(since=since, limit=1)
            if rows and rows[0].ended_at is not None:
                return rows[0]
            time.sleep(0.2)
    finally:
        database.dispose()
    raise LabError("the call's contact-history row was not finalised in time")


def _show_recording(files: RecordingFiles, record: CallRecord) -> None:
    """What is in the recording, read as every reader reads it: decrypted as a stream
    when sealed (``[encryption] enabled``), never written out in plaintext."""
    if record.recording_path is None:
        raise LabError(f"the call ended as {record.outcome} with no recording")
    path = files.local_path(record.recording_path)
    sealed = files.is_sealed(record.recording_path)
    with as_file(files.open_audio(record.recording_path)) as plaintext:
        audio, rate = soundfile.read(plaintext)
    spectrum = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(len(audio), 1 / rate)
    floor = float(np.median(spectrum)) or 1e-12

    def level(hz: float) -> float:
        return float(spectrum[np.abs(freqs - hz) <= 5].max()) / floor

    step(f"the recording: {path} ({'sealed: decrypted as a stream' if sealed else 'plain WAV'})")
    print(json.dumps({
        "sealed": sealed, "seconds": record.recording_seconds, "bytes": record.recording_bytes,
        "sha256": record.recording_sha256,
        "caller_tone_440Hz_vs_median": round(level(CALLER_HZ)),
        "agent_tone_1500Hz_vs_median": round(level(AGENT_HZ)),
        "control_2500Hz_vs_median": round(level(2500.0)),
    }, indent=2))
    print("Both directions are in the recording: the caller's and the agent's tones stand "
          "far above the control frequency.")
