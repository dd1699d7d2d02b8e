"""The access / portability bundle (art. 15 and 20): manifest.json, summary.txt, audio.

Deterministic by construction: the same calls, corrections and request give the same
bytes. ``generated_at`` is the moment the request was *received* (as the register keeps
it), not the moment the file was written: the bundle answers that request, and exporting
again for it reproduces the bundle exactly. When a file was actually written is in the
audit log. The schema is docs/export-manifest.schema.json.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from callrec.domain.history import CallRecord
from callrec.pause.model import Pause
from callrec.rights.model import Correction, RightsRequest

SCHEMA = "callrec-export-manifest"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
SUMMARY = "summary.txt"


@dataclass(frozen=True)
class BundledRecording:
    name: str          # inside the bundle, e.g. recordings/<call id>.wav
    bytes: int
    sha256: str        # of the bundled file, as read now


def recording_name(call: CallRecord) -> str:
    # The call id is generated (alphanumeric), never caller data: safe as a file name.
    return f"recordings/{call.id}.wav"


def recording_status(call: CallRecord, bundled: BundledRecording | None) -> str:
    """included | none (never recorded) | deleted (retention ended) | missing (no file)."""
    if bundled is not None:
        return "included"
    if call.recording_path is None:
        return "none"
    return "deleted" if call.recording_deleted_at is not None else "missing"


def manifest(request: RightsRequest, calls: Sequence[CallRecord],
             corrections: Sequence[Correction], recordings: Mapping[str, BundledRecording],
             objected: bool,
             pauses: Mapping[str, Sequence[Pause]] | None = None) -> dict[str, Any]:
    by_call: dict[str, list[Correction]] = {}
    for correction in sorted(corrections, key=lambda c: (c.corrected_at, c.id)):
        by_call.setdefault(correction.call_id, []).append(correction)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "subject_number": request.subject_number,
        "request_reference": request.reference,
        "request_kind": request.kind.value,
        "generated_at": _iso(request.received_at),
        "objected": objected,
        "calls": [_call_entry(call, recordings.get(call.id), by_call.get(call.id, []),
                              (pauses or {}).get(call.id, ()))
                  for call in sorted(calls, key=lambda c: (c.started_at, c.id))],
    }


def manifest_bytes(document: Mapping[str, Any]) -> bytes:
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def _call_entry(call: CallRecord, bundled: BundledRecording | None,
                corrections: Sequence[Correction], pauses: Sequence[Pause]) -> dict[str, Any]:
    fields = {key: _plain(value) for key, value in asdict(call).items()}
    fields["caller_name"] = fields.pop("caller_name_raw")
    fields["restricted"] = call.restricted_at is not None
    fields["recording_status"] = recording_status(call, bundled)
    fields["recording"] = None if bundled is None else {
        "file": bundled.name, "bytes": bundled.bytes, "sha256": bundled.sha256}
    fields["corrections"] = [
        {"field": c.field, "old_value": c.old_value, "new_value": c.new_value,
         "reason": c.reason, "request_reference": c.request_reference,
         "corrected_at": _iso(c.corrected_at)}
        for c in corrections]
    # The spans of the recording that hold silence on purpose, and who asked for them.
    fields["pauses"] = [
        {"started_at": _iso(p.started_at), "ended_at": None if p.ended_at is None
         else _iso(p.ended_at), "start_offset_ms": p.start_offset_ms,
         "end_offset_ms": p.end_offset_ms, "paused_by": p.paused_by,
         "method": p.method.value, "resumed_by": p.resumed_by,
         "resume_method": None if p.resume_method is None else p.resume_method.value,
         "auto_resumed": p.auto_resumed}
        for p in sorted(pauses, key=lambda p: (p.started_at, p.id))]
    return fields


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return _iso(value)
    return value.value if isinstance(value, Enum) else value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def summary(document: Mapping[str, Any], zone: ZoneInfo) -> bytes:
    """A short text for the person, in Finnish and English; only fields callrec itself wrote
    (times, services, outcomes), so nothing a caller sent can disguise it."""
    calls = document["calls"]
    recorded = sum(1 for call in calls if call["recording"] is not None)
    received = _local(document["generated_at"], zone)
    lines = [
        "Puhelutallenteet ja yhteyshistoria / Call recordings and contact history",
        "",
        f"Puhelinnumero / Phone number: {document['subject_number']}",
        f"Pyyntö / Request: {document['request_reference']} ({document['request_kind']})",
        f"Tiedot pyynnön saapuessa / Data as at the request: {received}",
        f"Puheluita / Calls: {len(calls)}; tallenteita / recordings: {recorded}",
        "",
        "Tämä paketti sisältää kaikki tiedot, jotka puhelutallennusrekisterissä on tästä "
        "numerosta soitetuista puheluista. manifest.json on koneluettava kuvaus (JSON) "
        "jokaisesta puhelusta; recordings-hakemistossa ovat äänitallenteet (WAV) ja "
        "manifest.json kertoo kunkin SHA-256-tarkistussumman.",
        "",
        "This bundle holds everything the call-recording register keeps about calls from "
        "this number. manifest.json describes every call in machine-readable form (JSON); "
        "the recordings folder holds the audio (WAV), and manifest.json gives the SHA-256 "
        "checksum of each file.",
        "",
        "Puhelut / Calls:",
    ]
    lines += [_summary_line(call, zone) for call in calls] or ["-"]
    return ("\n".join(lines) + "\n").encode()


def _summary_line(call: Mapping[str, Any], zone: ZoneInfo) -> str:
    recording = call["recording"]["file"] if call["recording"] else call["recording_status"]
    flags = " [restricted / käsittely rajoitettu]" if call["restricted"] else ""
    return (f"- {_local(call['started_at'], zone)}  {call['service']}  "
            f"{call['outcome'] or 'in progress'}  {recording}{flags}")


def _local(iso: str, zone: ZoneInfo) -> str:
    return datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
