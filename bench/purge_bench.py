"""Benchmark of ``callrec purge``: N expired recordings (small files) with their rows.

    .venv/bin/python -m bench.purge_bench --n 100000 --n 1000000

For each N it builds a fresh database and recordings directory, runs ``callrec purge
--json`` in a child process (so the seeding's memory is not counted), and prints
recordings purged per second (from the run's own elapsed time, which includes the
directory scan) and the child's peak RSS. Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from callrec.storage.db import Database
from callrec.storage.migrate import upgrade
from callrec.storage.tables import CallRow

STARTED = datetime(2025, 1, 1, tzinfo=UTC)
PER_DAY = 1000            # files per YYYY/MM/DD directory
CHUNK = 20_000
WAV = b"RIFF" + b"\0" * 40   # a 44-byte header: small, like a recording that never began


def seed(database: Database, recordings: Path, count: int) -> None:
    for first in range(0, count, CHUNK):
        rows = [_row(index) for index in range(first, min(count, first + CHUNK))]
        for row in rows:
            target = recordings / row["recording_path"]
            if not target.parent.is_dir():
                target.parent.mkdir(parents=True)
            target.write_bytes(WAV)
        with database.session() as session:
            session.execute(insert(CallRow), rows)


def _row(index: int) -> dict[str, Any]:
    call_id = uuid.uuid4().hex
    started = STARTED + timedelta(days=index // PER_DAY, seconds=index % PER_DAY)
    return {
        "id": call_id, "asterisk_id": "bench", "channel_id": f"b.{index}",
        "linkedid": f"b.{index}", "caller_number_raw": "0401234567",
        "caller_number": "+358401234567", "caller_withheld": False, "caller_name_raw": None,
        "service_number": "0201234500", "service": "servicedesk",
        "service_number_known": True, "queue": "servicedesk", "language": "fi",
        "started_at": started, "notice_completed": True,
        "recording_path": f"{started:%Y/%m/%d}/{call_id}.wav", "answered_at": started,
        "agent": "agent1", "agent_interface": "PJSIP/agent1",
        "ended_at": started + timedelta(minutes=3), "outcome": "answered",
        "recording_bytes": len(WAV), "recording_seconds": 0.0,
        "recording_sha256": "0" * 64, "end_estimated": False, "legal_hold": False,
    }


def write_config(work: Path, url: str, recordings: Path) -> Path:
    example = Path(__file__).resolve().parents[1] / "callrec.example.toml"
    text = example.read_text(encoding="utf-8")
    text = text.replace('url = "sqlite:////var/lib/callrec/callrec.db"', f"url = {json.dumps(url)}")
    text = text.replace('"/var/spool/asterisk/callrec"', json.dumps(str(recordings)))
    text = text.replace('level = "info"', 'level = "warning"')
    path = work / "callrec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_once(count: int, work: Path) -> dict[str, Any]:
    recordings = work / "recordings"
    recordings.mkdir()
    url = f"sqlite:///{work / 'callrec.db'}"
    upgrade(url)
    database = Database.open(url)
    began = time.monotonic()
    seed(database, recordings, count)
    database.dispose()
    seeded = time.monotonic() - began
    config = write_config(work, url, recordings)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    began = time.monotonic()
    # Every seeded call is past its 2 months at this instant.
    now = STARTED + timedelta(days=count // PER_DAY + 90)
    result = subprocess.run([sys.executable, "-m", "callrec", "--config", str(config),
                             "purge", "--json", "--now", now.isoformat()],
                            capture_output=True, text=True, check=False)
    wall = time.monotonic() - began
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if result.returncode != 0:
        raise SystemExit(f"purge failed ({result.returncode}): {result.stderr[-2000:]}")
    summary = json.loads(result.stdout)
    deleted = summary["totals"]["recordings_deleted"]
    if deleted != count or any(recordings.rglob("*.wav")):
        raise SystemExit(f"purge deleted {deleted} of {count}, or left files behind")
    return {"n": count, "seed_seconds": round(seeded, 1), "deleted": deleted,
            "elapsed": summary["elapsed_seconds"], "wall": round(wall, 2),
            "per_second": round(deleted / summary["elapsed_seconds"]),
            # ru_maxrss of children is a running maximum: only meaningful if it grew.
            "peak_rss_mib": round(peak_kib / 1024, 1) if peak_kib > before else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append",
                        help="recordings to purge (repeatable; default 100000 and 1000000)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to build the test data (default: a temporary directory)")
    args = parser.parse_args()
    counts = args.n or [100_000, 1_000_000]
    print("| N | seeding s | purge s (run) | purge s (process) | recordings/s | peak RSS MiB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for count in sorted(counts):
        work = Path(tempfile.mkdtemp(prefix="callrec-bench-", dir=args.dir))
        try:
            row = run_once(count, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"| {row['n']:,} | {row['seed_seconds']} | {row['elapsed']} | {row['wall']} | "
              f"{row['per_second']:,} | {row['peak_rss_mib']} |", flush=True)


if __name__ == "__main__":
    main()
