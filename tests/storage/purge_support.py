"""Helpers for the purge tests (and the benchmark): configs, calls with files, invariants."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from callrec.storage.db import Database
from callrec.storage.tables import CallRow, RightsRequestRow

EXAMPLE = Path(__file__).resolve().parents[2] / "callrec.example.toml"
WAV_BYTES = b"RIFF" + b"\0" * 96   # contents do not matter to the purge: only existence


def write_config(directory: Path, database_url: str, *, replace: Iterable[tuple[str, str]] = (),
                 append: str = "") -> Path:
    """The example configuration on this database and a recordings dir under ``directory``."""
    text = EXAMPLE.read_text(encoding="utf-8")
    recordings = directory / "recordings"
    recordings.mkdir(exist_ok=True)
    edits = [('url = "sqlite:////var/lib/callrec/callrec.db"',
              f"url = {json.dumps(database_url)}"),
             ('"/var/spool/asterisk/callrec"', json.dumps(str(recordings))), *replace]
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = directory / "callrec.toml"
    path.write_text(text + append, encoding="utf-8")
    return path


@dataclass
class Seeder:
    database: Database
    recordings: Path

    def call(self, started_at: datetime, service: str = "servicedesk", *, file: bool = True,
             caller: str | None = "+358401234567", **columns: Any) -> str:
        call_id = uuid.uuid4().hex
        self.rows([call_id], [started_at], service, file=file, caller=caller, **columns)
        return call_id

    def rows(self, ids: list[str], starts: list[datetime], service: str, *, file: bool = True,
             caller: str | None = "+358401234567", **columns: Any) -> None:
        values = []
        for call_id, started in zip(ids, starts, strict=True):
            path = recording_path(call_id, started)
            if file:
                target = self.recordings / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(WAV_BYTES)
            values.append(_row(call_id, started, service, path, caller) | columns)
        with self.database.session() as session:
            session.execute(insert(CallRow), values)

    def open_request(self, number: str, status: str = "open") -> None:
        now = datetime.now(UTC)
        with self.database.session() as session:
            session.add(RightsRequestRow(reference=uuid.uuid4().hex, kind="access",
                                         subject_number=number, received_at=now,
                                         due_at=now + timedelta(days=30), status=status))

    def set(self, call_id: str, **values: Any) -> None:
        with self.database.session() as session:
            session.execute(update(CallRow).where(CallRow.id == call_id).values(**values))


def recording_path(call_id: str, started: datetime) -> str:
    return f"{started.astimezone(UTC):%Y/%m/%d}/{call_id}.wav"


def _row(call_id: str, started: datetime, service: str, path: str,
         caller: str | None) -> dict[str, Any]:
    return {
        "id": call_id, "asterisk_id": "00:11:22:33:44:55", "channel_id": f"c.{call_id}",
        "linkedid": f"c.{call_id}", "caller_number_raw": caller, "caller_number": caller,
        "caller_withheld": caller is None, "caller_name_raw": None,
        "service_number": "0201234500", "service": service, "service_number_known": True,
        "queue": service, "language": "fi", "started_at": started, "notice_completed": True,
        "recording_path": path, "answered_at": started, "agent": "agent1",
        "agent_interface": "PJSIP/agent1", "ended_at": started + timedelta(minutes=3),
        "outcome": "answered", "recording_bytes": len(WAV_BYTES), "recording_seconds": 1.0,
        "recording_sha256": "0" * 64, "end_estimated": False, "legal_hold": False,
    }


@dataclass(frozen=True)
class Snapshot:
    live: set[str]            # rows whose recording is live and whose file exists
    deleted: set[str]         # rows recorded as deleted whose file is gone
    marked: set[str]          # rows a purge marked and has not settled
    rows: set[str]
    inconsistent: list[str]   # anything else: the states a purge must never leave behind
    files: set[str]


def snapshot(database: Database, recordings: Path) -> Snapshot:
    files = {str(path.relative_to(recordings)) for path in recordings.rglob("*")
             if path.is_file()}
    live: set[str] = set()
    deleted: set[str] = set()
    marked: set[str] = set()
    inconsistent: list[str] = []
    query = select(CallRow.id, CallRow.recording_path, CallRow.recording_deleted_at,
                   CallRow.recording_purge_started_at)
    with database.session() as session:
        rows = list(session.execute(query))
    known_files = set()
    for row in rows:
        present = row.recording_path in files
        if row.recording_purge_started_at is not None:
            marked.add(row.id)
        elif row.recording_deleted_at is None and present:
            live.add(row.id)
        elif row.recording_deleted_at is not None and not present:
            deleted.add(row.id)
        else:
            inconsistent.append(f"{row.id}: deleted_at={row.recording_deleted_at} "
                                f"file present={present}")
        if present:
            known_files.add(row.recording_path)
    inconsistent += [f"file without a row: {path}" for path in files - known_files
                     if not path.startswith("failopen/")]
    return Snapshot(live, deleted, marked, {row.id for row in rows}, inconsistent, files)


def age(path: Path, days: float) -> None:
    """Make a file look ``days`` old (by its modification time)."""
    stamp = datetime.now(UTC).timestamp() - days * 86400
    os.utime(path, (stamp, stamp))
