"""The export bundle on its own: deterministic bytes, manifest and summary contents."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callrec.domain.history import CallRecord, Outcome
from callrec.errors import AccessDenied, InputError, RecordingError
from callrec.pause.model import Pause, PauseMethod
from callrec.recordings.files import RecordingFiles
from callrec.rights import bundle, export
from callrec.rights.files import LocalRecordingArchive
from callrec.rights.model import Correction, RequestKind, RequestStatus, RightsRequest
from callrec.rights.ports import RecordingCopy
from callrec.rights.service import Actor, RightsService
from tests.support.memory_rights import MemoryArchive, MemoryBundle, MemoryRights

HELSINKI = ZoneInfo("Europe/Helsinki")
RECEIVED = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
REQUEST = RightsRequest("DPO-7", RequestKind.PORTABILITY, "+358401234567", RECEIVED,
                        RECEIVED + timedelta(days=30), RequestStatus.OPEN, "dpo", None, None)


def call(call_id: str, minute: int, **changes: Any) -> CallRecord:
    started = datetime(2026, 11, 20, 10, minute, tzinfo=UTC)
    record = CallRecord(
        id=call_id, asterisk_id="a", channel_id="c", linkedid="l",
        caller_number_raw="0401234567", caller_number="+358401234567", caller_withheld=False,
        caller_name_raw="\x1b[2JEvil\nname", service_number="0201234500",
        service="servicedesk", service_number_known=True, queue="servicedesk", language="fi",
        started_at=started, notice_completed=True, recording_path=f"2026/11/20/{call_id}.wav",
        answered_at=started, agent="Anna", agent_interface="PJSIP/anna",
        ended_at=started + timedelta(seconds=61), outcome=Outcome.ANSWERED,
        recording_bytes=10, recording_seconds=1.0, recording_sha256="0" * 64,
        end_estimated=False, recording_deleted_at=None, restricted_at=None, legal_hold=False)
    return replace(record, **changes)


def test_manifest_is_independent_of_input_order() -> None:
    calls = [call("b" * 32, 2), call("a" * 32, 1), call("c" * 32, 1, recording_path=None)]
    fix = Correction(2, "a" * 32, "agent", "Bea", "Anna", "wrong", "R-2",
                     RECEIVED - timedelta(days=1), "dpo")
    first = Correction(1, "a" * 32, "agent", "Cid", "Bea", "typo", "R-1",
                       RECEIVED - timedelta(days=2), "dpo")
    recordings = {"a" * 32: export.BundledRecording("recordings/" + "a" * 32 + ".wav", 3,
                                                    "f" * 64)}
    one = export.manifest(REQUEST, calls, [fix, first], recordings, objected=True)
    two = export.manifest(REQUEST, list(reversed(calls)), [first, fix], recordings, True)
    assert export.manifest_bytes(one) == export.manifest_bytes(two)
    assert [entry["id"] for entry in one["calls"]] == ["a" * 32, "c" * 32, "b" * 32]
    assert one["generated_at"] == "2026-11-24T08:00:00+00:00"
    assert (one["request_kind"], one["objected"]) == ("portability", True)
    assert [c["reason"] for c in one["calls"][0]["corrections"]] == ["typo", "wrong"]
    assert "actor" not in one["calls"][0]["corrections"][0]
    statuses = [entry["recording_status"] for entry in one["calls"]]
    assert statuses == ["included", "none", "missing"]
    assert json.loads(export.manifest_bytes(one))["calls"][0]["caller_name"] == (
        "\x1b[2JEvil\nname")


def test_summary_is_bilingual_and_holds_no_caller_text() -> None:
    calls = [call("a" * 32, 1, restricted_at=RECEIVED)]
    document = export.manifest(REQUEST, calls, [], {}, objected=False)
    text = export.summary(document, HELSINKI).decode()
    assert "Puhelinnumero / Phone number: +358401234567" in text
    assert "Tämä paketti" in text and "This bundle" in text
    assert "2026-11-20 12:01:00 EET  servicedesk  answered  missing [restricted" in text
    assert "Evil" not in text and "\x1b" not in text
    assert export.summary(document, HELSINKI) == text.encode()


def on_disk(directory: Path) -> LocalRecordingArchive:
    return LocalRecordingArchive(RecordingFiles(str(directory), directory))


def write(tmp_path: Path, name: str, audio: dict[str, bytes], order: list[str]) -> bytes:
    files = {}
    for entry in order:
        relative = f"{entry.replace('/', '_')}.src"
        (tmp_path / relative).write_bytes(audio[entry])
        files[entry] = RecordingCopy(relative, len(audio[entry]),
                                     hashlib.sha256(audio[entry]).hexdigest())
    out = tmp_path / name
    bundle.write_bundle(out, {"summary.txt": b"hei\n", "manifest.json": b"{}\n"}, files,
                        on_disk(tmp_path))
    return out.read_bytes()


def test_bundle_bytes_depend_only_on_contents(tmp_path: Path) -> None:
    audio = {"recordings/b.wav": b"RIFF" + b"\1" * 500, "recordings/a.wav": b"RIFF" + b"\2" * 9}
    one = write(tmp_path, "one.zip", audio, ["recordings/b.wav", "recordings/a.wav"])
    two = write(tmp_path, "two.zip", audio, ["recordings/a.wav", "recordings/b.wav"])
    assert one == two
    archive = zipfile.ZipFile(io.BytesIO(one))
    assert archive.namelist() == ["manifest.json", "recordings/a.wav", "recordings/b.wav",
                                  "summary.txt"]
    assert archive.read("recordings/b.wav") == audio["recordings/b.wav"]
    assert {(i.date_time, i.compress_type, i.create_system) for i in archive.infolist()} == {
        ((1980, 1, 1, 0, 0, 0), zipfile.ZIP_STORED, 3)}
    changed = write(tmp_path, "three.zip", {**audio, "recordings/a.wav": b"RIFF"},
                    ["recordings/a.wav", "recordings/b.wav"])
    assert changed != one


def test_a_file_that_changed_leaves_no_bundle(tmp_path: Path) -> None:
    source = tmp_path / "x.wav"
    source.write_bytes(b"RIFF now")
    out = tmp_path / "out.zip"
    with pytest.raises(RecordingError, match="changed while"):
        bundle.ZipBundle(out).write({}, {"recordings/x.wav": RecordingCopy("x.wav", 8,
                                                                           "0" * 64)},
                                    on_disk(tmp_path))
    assert list(tmp_path.iterdir()) == [source]


def test_existing_output_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "out.zip"
    out.write_bytes(b"precious")
    with pytest.raises(InputError, match="exists"):
        bundle.ZipBundle(out).write({"a": b"b"}, {}, MemoryArchive({}))
    assert out.read_bytes() == b"precious"
    bundle.ZipBundle(out, overwrite=True).write({"a": b"b"}, {}, MemoryArchive({}))
    assert zipfile.ZipFile(out).read("a") == b"b"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


DPO = Actor("dpo", officers=("dpo",))


def in_memory(calls: list[CallRecord], recordings: dict[str, bytes],
              actor: Actor = DPO) -> tuple[RightsService, MemoryRights]:
    store = MemoryRights(calls)
    return RightsService(store, MemoryArchive(recordings), actor, HELSINKI,
                         clock=lambda: RECEIVED), store


def test_export_reports_missing_and_changed_recordings_through_the_port() -> None:
    """The service on in-memory ports: no database, no file system."""
    audio = {"kept": b"RIFF kept", "changed": b"RIFF changed since hangup"}
    kept = call("a" * 32, 1, recording_sha256=sha256(audio["kept"]))
    changed = call("b" * 32, 2, recording_sha256=sha256(b"RIFF as at hangup"))
    lost = call("c" * 32, 3)
    purged = call("d" * 32, 4, recording_deleted_at=RECEIVED)
    unrecorded = call("e" * 32, 5, recording_path=None)
    calls = [kept, changed, lost, purged, unrecorded]
    service, store = in_memory(calls, {str(kept.recording_path): audio["kept"],
                                       str(changed.recording_path): audio["changed"]})
    written = MemoryBundle()
    result = service.export("+358401234567", "DPO-8", written)
    assert (result.calls, result.recordings, result.missing, result.checksum_mismatches) == (
        5, 2, [lost.id], [changed.id])
    assert written.files is not None
    assert written.files[f"recordings/{kept.id}.wav"] == audio["kept"]
    assert written.files[f"recordings/{changed.id}.wav"] == audio["changed"]
    assert sorted(written.files) == ["manifest.json", f"recordings/{kept.id}.wav",
                                     f"recordings/{changed.id}.wav", "summary.txt"]
    entries = json.loads(written.files["manifest.json"])["calls"]
    assert [entry["recording_status"] for entry in entries] == [
        "included", "included", "missing", "deleted", "none"]
    assert entries[1]["recording"] == {"file": f"recordings/{changed.id}.wav",
                                       "bytes": len(audio["changed"]),
                                       "sha256": sha256(audio["changed"])}
    [audit] = store.entries
    assert (audit.action, audit.details["recordings"], audit.details["missing"]) == (
        "rights.export", 2, 1)
    request = store.request("DPO-8")
    assert request is not None and request.status is RequestStatus.CLOSED


def test_export_of_restricted_calls_needs_an_officer() -> None:
    calls = [call("a" * 32, 1, restricted_at=RECEIVED)]
    recordings = {str(calls[0].recording_path): b"RIFF"}
    service, store = in_memory(calls, recordings, Actor("clerk", officers=("dpo",)))
    written = MemoryBundle()
    with pytest.raises(AccessDenied, match="restricted"):
        service.export("+358401234567", "DPO-9", written)
    assert (written.files, store.entries) == (None, [])
    officer, _ = in_memory(calls, recordings, DPO)
    assert officer.export("+358401234567", "DPO-9", written).recordings == 1


SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "export-manifest.schema.json"
_TYPES: dict[str, Any] = {"object": dict, "array": list, "string": str, "boolean": bool,
                          "null": type(None), "integer": int, "number": (int, float)}


def violations(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """The parts of JSON Schema docs/export-manifest.schema.json uses, checked strictly."""
    found = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        ok = any(isinstance(value, _TYPES[name]) and not (
            name in ("integer", "number") and isinstance(value, bool)) for name in names)
        if not ok:
            return [f"{where}: {value!r} is not {names}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in enum")
    if isinstance(value, str) and not re.search(str(schema.get("pattern", "")), value):
        found.append(f"{where}: {value!r} does not match")
    if isinstance(value, dict):
        properties: dict[str, dict[str, Any]] = schema.get("properties", {})
        found += [f"{where}: {key} missing" for key in schema.get("required", [])
                  if key not in value]
        for key, item in value.items():
            if key in properties:
                found += violations(item, properties[key], f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{where}: unexpected {key}")
            else:
                found.append(f"{where}: {key} is not documented")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += violations(item, schema["items"], f"{where}[{index}]")
    return found


def test_manifest_follows_its_documented_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    fix = Correction(1, "a" * 32, "agent", None, "Anna", "typo", "R-1", RECEIVED, "dpo")
    calls = [call("a" * 32, 1), call("b" * 32, 2, recording_path=None, outcome=None,
                                     ended_at=None, caller_number_raw=None)]
    recordings = {"a" * 32: export.BundledRecording("recordings/" + "a" * 32 + ".wav", 3,
                                                    "f" * 64)}
    at = calls[0].started_at
    pauses = {"a" * 32: [
        Pause(2, "a" * 32, at + timedelta(seconds=50), None, 50_000, None, "dialplan",
              PauseMethod.AUTOMATIC, None, None, False, at + timedelta(minutes=4)),
        Pause(1, "a" * 32, at, at + timedelta(seconds=9), 1_000, 10_000, "Anna",
              PauseMethod.DTMF, None, None, True, at + timedelta(minutes=3))]}
    document = json.loads(export.manifest_bytes(
        export.manifest(REQUEST, calls, [fix], recordings, objected=False, pauses=pauses)))
    assert violations(document, schema) == []
    assert [(p["method"], p["ended_at"]) for p in document["calls"][0]["pauses"]] == [
        ("dtmf", _iso(at + timedelta(seconds=9))), ("automatic", None)]
    assert document["calls"][1]["pauses"] == []
    assert schema["properties"]["schema_version"]["const"] == export.SCHEMA_VERSION
    # The checker itself can fail:
    broken = {**document, "schema_version": 2, "extra": 1}
    broken["calls"] = [{**document["calls"][0], "recording": {"file": "../x"}}]
    assert len(violations(broken, schema)) >= 4


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
