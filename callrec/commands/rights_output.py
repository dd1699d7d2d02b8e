"""How ``callrec rights`` shows what it found: text for a terminal, JSON for tools.

Caller-controlled text reaches the terminal only through ``terminal_safe``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callrec.commands.calls import format_table, record_to_json, terminal_safe
from callrec.config import Config
from callrec.rights.model import RightsRequest
from callrec.rights.service import ExportResult, Findings

_REQUEST_COLUMNS = ("reference", "kind", "subject", "received", "due", "status", "handler",
                    "outcome")


def findings_text(found: Findings, config: Config) -> str:
    restricted = sum(1 for call in found.calls if call.restricted_at is not None)
    recordings = sum(1 for call in found.calls
                     if call.recording_path and call.recording_deleted_at is None)
    lines = [f"{found.number}: {len(found.calls)} calls, {recordings} recordings, "
             f"{restricted} restricted, {len(found.corrections)} corrections; "
             f"objected: {'yes' if found.objected else 'no'}"]
    if found.calls:
        lines += ["", format_table(found.calls, config.timezone)]
        lines += ["", "call ids and recordings:"]
        lines += [f"  {call.id}  {_recording(call.recording_path, call.recording_deleted_at)}"
                  f"{'  restricted' if call.restricted_at else ''}" for call in found.calls]
    if found.requests:
        lines += ["", "requests:", requests_text(found.requests, config.timezone,
                                                 datetime.now(UTC))]
    return "\n".join(lines)


def _recording(path: str | None, deleted: datetime | None) -> str:
    if path is None:
        return "no recording"
    return f"{path} (deleted by retention)" if deleted else path


def findings_json(found: Findings) -> str:
    return json.dumps({
        "number": found.number,
        "objected": found.objected,
        "calls": [record_to_json(call) for call in found.calls],
        "corrections": [_jsonable(asdict(correction)) for correction in found.corrections],
        "requests": [request_json(request) for request in found.requests],
    }, indent=2)


def export_text(out: Path, result: ExportResult) -> str:
    lines = [f"wrote {out}: {result.calls} calls, {result.recordings} recordings"]
    lines += [f"warning: call {call_id}: the history names a recording but its file is "
              "missing" for call_id in result.missing]
    lines += [f"warning: call {call_id}: the file's SHA-256 differs from the one stored "
              "at hangup" for call_id in result.checksum_mismatches]
    return "\n".join(lines)


def request_json(request: RightsRequest, now: datetime | None = None) -> dict[str, Any]:
    fields = _jsonable(asdict(request))
    if now is not None:
        fields["overdue"] = request.overdue(now)
    return fields


def requests_json(requests: list[RightsRequest], now: datetime) -> str:
    return json.dumps([request_json(request, now) for request in requests], indent=2)


def requests_text(requests: list[RightsRequest], zone: ZoneInfo, now: datetime) -> str:
    if not requests:
        return "no requests"
    rows = [_REQUEST_COLUMNS, *(_request_row(request, zone, now) for request in requests)]
    widths = [max(len(row[index]) for row in rows) for index in range(len(_REQUEST_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                        strict=True)).rstrip()
                     for row in rows)


def _request_row(request: RightsRequest, zone: ZoneInfo, now: datetime) -> tuple[str, ...]:
    status = request.status.value + (" OVERDUE" if request.overdue(now) else "")
    return (request.reference, request.kind.value, request.subject_number,
            local_date(request.received_at, zone), local_date(request.due_at, zone), status,
            terminal_safe(request.handler or "-", 24), terminal_safe(request.outcome or "-", 48))


def local_date(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d")


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    for key, value in fields.items():
        if isinstance(value, datetime):
            fields[key] = value.astimezone(UTC).isoformat()
        elif isinstance(value, Enum):
            fields[key] = value.value
    return fields
