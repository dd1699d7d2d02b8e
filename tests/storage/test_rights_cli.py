"""``callrec rights``: find, export, rectify, restrict, object and the request register,
on SQLite and PostgreSQL, with real WAV files."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from callrec.commands.calls import record_to_json
from callrec.storage.audit_dao import SqlAuditLog
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.rights_dao import SqlRights
from callrec.storage.tables import CallRow
from tests.support.rights import (
    OTHER,
    SPELLINGS,
    SUBJECT,
    Cli,
    Seeder,
    cli,
    config_path,
    disk,
    dump,
    my_login,
    recordings,
    seeder,
    write_config,
)

# Fixtures, which pytest finds by name in this module.
__all__ = ["cli", "config_path", "recordings", "seeder"]


def find_json(cli: Cli, number: str) -> dict[str, Any]:
    status, out, err = cli("rights", "find", "--json", "--number", number)
    assert (status, err) == (0, "")
    found: dict[str, Any] = json.loads(out)
    return found


def export(cli: Cli, out: Path, reference: str = "REQ-1", *extra: str) -> zipfile.ZipFile:
    status, stdout, err = cli("rights", "export", "--number", SPELLINGS[1], "--request",
                              reference, "--out", str(out), *extra)
    assert (status, err) == (0, ""), err
    assert stdout.startswith(f"wrote {out}: ")
    return zipfile.ZipFile(io.BytesIO(out.read_bytes()))


def restricted(history: SqlContactHistory, call_id: str) -> bool:
    stored = history.get(call_id)
    assert stored is not None
    return stored.restricted_at is not None


def test_all_three_spellings_find_the_same_calls(cli: Cli, seeder: Seeder) -> None:
    mine = [seeder.call() for _ in range(3)]
    seeder.call(OTHER)
    seeder.call(None, caller_withheld=True)
    results = [find_json(cli, spelling) for spelling in SPELLINGS]
    for found in results:
        assert found["number"] == SUBJECT
        assert [call["id"] for call in found["calls"]] == [call.id for call in mine]
        assert all(call["recording_path"] for call in found["calls"])
    status, out, _ = cli("rights", "find", "--number", SPELLINGS[2])
    assert status == 0
    assert out.startswith(f"{SUBJECT}: 3 calls, 3 recordings, 0 restricted")
    assert all(call.id in out for call in mine)


def test_export_matches_the_database_and_the_audio(
        cli: Cli, seeder: Seeder, history: SqlContactHistory, database: Database,
        recordings: Path, tmp_path: Path) -> None:
    recorded = [seeder.call(), seeder.call()]
    unrecorded = seeder.call(recorded=False)
    purged = seeder.call()
    with database.session() as session:
        session.execute(update(CallRow).where(CallRow.id == purged.id)
                        .values(recording_deleted_at=purged.started_at))
    seeder.call(OTHER)
    assert cli("rights", "rectify", "--call", recorded[0].id, "--field", "caller_name",
               "--value", "Maija", "--reason", "misheard", "--request", "REC-1")[0] == 0
    bundle = export(cli, tmp_path / "bundle.zip")
    names = bundle.namelist()
    assert names == sorted(names)
    assert set(names) == {"manifest.json", "summary.txt",
                          *(f"recordings/{call.id}.wav" for call in recorded)}
    for info in bundle.infolist():
        assert (info.date_time, info.compress_type) == ((1980, 1, 1, 0, 0, 0),
                                                        zipfile.ZIP_STORED)
    manifest = json.loads(bundle.read("manifest.json"))
    assert (manifest["schema"], manifest["schema_version"]) == ("callrec-export-manifest", 1)
    assert (manifest["subject_number"], manifest["request_reference"],
            manifest["request_kind"]) == (SUBJECT, "REQ-1", "access")
    request = SqlRights(database).request("REQ-1")
    assert request is not None and request.status.value == "closed"
    assert manifest["generated_at"] == request.received_at.isoformat()
    entries = {entry["id"]: entry for entry in manifest["calls"]}
    assert list(entries) == [recorded[0].id, recorded[1].id, unrecorded.id, purged.id]
    for call_id, entry in entries.items():
        stored = history.get(call_id)
        assert stored is not None
        for key, value in record_to_json(stored).items():
            assert entry[key] == value, key
    for call in recorded:
        entry = entries[call.id]
        audio = bundle.read(entry["recording"]["file"])
        on_disk = (recordings / entry["recording_path"]).read_bytes()
        assert audio == on_disk
        assert entry["recording"]["sha256"] == hashlib.sha256(audio).hexdigest() \
            == entry["recording_sha256"]
        assert entry["recording"]["bytes"] == len(audio) == entry["recording_bytes"]
        assert entry["recording_status"] == "included"
    assert entries[unrecorded.id]["recording_status"] == "none"
    assert entries[purged.id]["recording_status"] == "deleted"
    assert entries[purged.id]["recording"] is None
    assert entries[recorded[0].id]["caller_name"] == "Maija"
    assert [(c["field"], c["old_value"], c["new_value"], c["reason"])
            for c in entries[recorded[0].id]["corrections"]] == [
        ("caller_name", "Matti Meikäläinen", "Maija", "misheard")]
    summary = bundle.read("summary.txt").decode()
    assert "Puhelinnumero / Phone number: +358401234567" in summary
    assert "Puheluita / Calls: 4; tallenteita / recordings: 2" in summary
    assert stat.S_IMODE((tmp_path / "bundle.zip").stat().st_mode) == 0o600
    [audit] = SqlAuditLog(database).entries(action="rights.export")
    assert (audit.request_reference, audit.details["calls"]) == ("REQ-1", 4)


def test_export_is_byte_for_byte_reproducible(cli: Cli, seeder: Seeder,
                                              tmp_path: Path) -> None:
    first = seeder.call()
    seeder.call()
    export(cli, tmp_path / "a.zip")
    export(cli, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    status, _, err = cli("rights", "export", "--number", SUBJECT, "--request", "REQ-1",
                         "--out", str(tmp_path / "a.zip"))
    assert (status, "exists" in err) == (2, True)
    # Changed data, changed bundle: the comparison above can fail.
    cli("rights", "rectify", "--call", first.id, "--field", "agent", "--value", "Bea",
        "--reason", "wrong agent", "--request", "REC-2")
    export(cli, tmp_path / "a.zip", "REQ-1", "--force")
    assert (tmp_path / "a.zip").read_bytes() != (tmp_path / "b.zip").read_bytes()


def test_export_warns_of_missing_and_changed_files(
        cli: Cli, seeder: Seeder, database: Database, recordings: Path,
        tmp_path: Path) -> None:
    kept, lost, tampered = seeder.call(), seeder.call(), seeder.call()
    by_id = {call.id: call for call in SqlRights(database).calls_of(SUBJECT)}
    (recordings / str(by_id[lost.id].recording_path)).unlink()
    changed = recordings / str(by_id[tampered.id].recording_path)
    changed.write_bytes(changed.read_bytes() + b"\0")
    out = tmp_path / "warned.zip"
    status, stdout, err = cli("rights", "export", "--number", SUBJECT, "--request", "W-1",
                              "--out", str(out))
    assert (status, err) == (0, "")
    assert stdout == (
        f"wrote {out}: 3 calls, 2 recordings\n"
        f"warning: call {lost.id}: the history names a recording but its file is missing\n"
        f"warning: call {tampered.id}: the file's SHA-256 differs from the one stored at "
        "hangup\n")
    bundle = zipfile.ZipFile(out)
    entries = {entry["id"]: entry for entry in json.loads(bundle.read("manifest.json"))["calls"]}
    assert [entries[call.id]["recording_status"] for call in (kept, lost, tampered)] == [
        "included", "missing", "included"]
    audio = bundle.read(f"recordings/{tampered.id}.wav")
    assert audio == changed.read_bytes()
    assert entries[tampered.id]["recording"]["sha256"] == hashlib.sha256(audio).hexdigest()
    assert entries[tampered.id]["recording_sha256"] != hashlib.sha256(audio).hexdigest()
    [audit] = SqlAuditLog(database).entries(action="rights.export")
    assert (audit.details["recordings"], audit.details["missing"]) == (2, 1)


def test_rectify_keeps_the_old_value(cli: Cli, seeder: Seeder, history: SqlContactHistory,
                                     database: Database) -> None:
    call = seeder.call()
    status, out, err = cli("rights", "rectify", "--call", call.id, "--field", "outcome",
                           "--value", "abandoned", "--reason", "the caller hung up first",
                           "--request", "REC-9")
    assert (status, err) == (0, ""), err
    assert out == f"call {call.id}: outcome corrected (the old value is kept in the " \
        "correction record)\n"
    stored = history.get(call.id)
    assert stored is not None and stored.outcome is not None
    assert stored.outcome.value == "abandoned"
    [correction] = SqlRights(database).corrections([call.id])
    assert (correction.field, correction.old_value, correction.new_value,
            correction.request_reference, correction.actor) == (
        "outcome", "answered", "abandoned", "REC-9", SqlAuditLog(database).entries()[0].actor)
    request = SqlRights(database).request("REC-9")
    assert request is not None
    assert (request.kind.value, request.subject_number, request.status.value) == (
        "rectification", SUBJECT, "closed")
    [audit] = SqlAuditLog(database).entries(action="rights.rectify")
    assert (audit.call_id, audit.details) == (call.id, {"field": "outcome"})


def test_restriction_blocks_export_except_for_an_officer(
        cli: Cli, seeder: Seeder, database: Database, tmp_path: Path,
        database_url: str, recordings: Path) -> None:
    calls = [seeder.call(), seeder.call()]
    other = seeder.call(OTHER)
    status, out, _ = cli("rights", "restrict", "--number", SPELLINGS[0], "--request", "RES-1")
    assert (status, out.split(":")[0]) == (0, "restricted")
    history = SqlContactHistory(database)
    assert [restricted(history, call.id) for call in (*calls, other)] == [True, True, False]
    status, out, err = cli("rights", "export", "--number", SUBJECT, "--request", "ACC-1",
                           "--out", str(tmp_path / "no.zip"))
    assert (status, out) == (3, "")
    assert "restricted" in err and "officer" in err
    assert not (tmp_path / "no.zip").exists()
    assert SqlRights(database).request("ACC-1") is None
    officer = write_config(tmp_path / "dpo.toml", database_url, recordings, (my_login(),))
    status, _, err = cli("rights", "export", "--number", SUBJECT, "--request", "ACC-1",
                         "--out", str(tmp_path / "yes.zip"), config=officer)
    assert (status, err) == (0, "")
    manifest = json.loads(zipfile.ZipFile(tmp_path / "yes.zip").read("manifest.json"))
    assert [entry["restricted"] for entry in manifest["calls"]] == [True, True]
    assert cli("rights", "unrestrict", "--number", SUBJECT, "--request", "RES-1")[0] == 0
    assert [restricted(history, call.id) for call in calls] == [False, False]
    assert cli("rights", "export", "--number", SUBJECT, "--request", "ACC-2",
               "--out", str(tmp_path / "now.zip"))[0] == 0


def test_objection(cli: Cli, seeder: Seeder, database: Database) -> None:
    seeder.call()
    rights = SqlRights(database)
    assert not rights.has_objected(SUBJECT)
    assert cli("rights", "object", "--number", SPELLINGS[2], "--request", "OBJ-1") == (
        0, "objection recorded\n", "")
    assert rights.has_objected(SUBJECT) and not rights.has_objected(OTHER)
    assert rights.objected_numbers() == {SUBJECT}
    assert cli("rights", "object", "--number", SUBJECT, "--request", "OBJ-1")[1] == (
        "this number had already objected\n")
    assert find_json(cli, SUBJECT)["objected"] is True
    request = rights.request("OBJ-1")
    assert request is not None and (request.kind.value, request.status.value) == (
        "objection", "closed")


def test_request_register(cli: Cli, database: Database) -> None:
    assert cli("rights", "receive", "--request", "A-1", "--kind", "access", "--number",
               SUBJECT, "--received", "2026-01-31") == (0, "request A-1 registered, due "
                                                          "2026-02-28\n", "")
    assert cli("rights", "receive", "--request", "E-1", "--kind", "erasure", "--number",
               OTHER)[0] == 0
    status, out, err = cli("rights", "receive", "--request", "A-1", "--kind", "access",
                           "--number", SUBJECT)
    assert (status, "already" in err) == (2, True)
    status, out, _ = cli("rights", "requests", "--json")
    listed = {row["reference"]: row for row in json.loads(out)}
    assert (listed["A-1"]["status"], listed["A-1"]["overdue"]) == ("open", True)
    assert listed["A-1"]["due_at"] == "2026-02-27T22:00:00+00:00"  # Helsinki midnight
    assert (listed["E-1"]["kind"], listed["E-1"]["overdue"]) == ("erasure", False)
    overdue = json.loads(cli("rights", "requests", "--overdue", "--json")[1])
    assert [row["reference"] for row in overdue] == ["A-1"]
    assert "OVERDUE" in cli("rights", "requests", "--overdue")[1]
    # An action answering a registered request must match its kind and number.
    status, _, err = cli("rights", "restrict", "--number", SUBJECT, "--request", "A-1")
    assert (status, "access request" in err) == (2, True)
    status, _, err = cli("rights", "object", "--number", SUBJECT, "--request", "E-1")
    assert status == 2
    assert cli("rights", "close", "--request", "A-1", "--outcome", "withdrawn by phone")[0] == 0
    assert json.loads(cli("rights", "requests", "--overdue", "--json")[1]) == []
    closed = SqlRights(database).request("A-1")
    assert closed is not None and (closed.status.value, closed.outcome) == (
        "closed", "withdrawn by phone")
    actions = [entry.action for entry in SqlAuditLog(database).entries()]
    assert actions.count("rights.request.received") == 2
    assert "rights.request.closed" in actions


@pytest.mark.parametrize("args", [
    ("find", "--number", "not a number"),
    ("export", "--number", "040;1234567", "--request", "R", "--out", "{tmp}/x.zip"),
    ("export", "--number", SUBJECT, "--out", "{tmp}/x.zip"),
    ("export", "--number", SUBJECT, "--request", "bad ref", "--out", "{tmp}/x.zip"),
    ("export", "--number", SUBJECT, "--request", "R", "--out", "{tmp}/nodir/x.zip"),
    ("rectify", "--call", "nosuchcall", "--field", "agent", "--value", "x", "--reason", "r",
     "--request", "R"),
    ("rectify", "--call", "{call}", "--field", "caller_number", "--value", "x", "--reason",
     "r", "--request", "R"),
    ("rectify", "--call", "{call}", "--field", "outcome", "--value", "exploded", "--reason",
     "r", "--request", "R"),
    ("rectify", "--call", "{call}", "--field", "agent", "--value", "x", "--reason", "r"),
    ("erase", "--number", "$(reboot)", "--request", "R"),
    ("erase", "--number", SUBJECT),
    ("erase", "--number", SUBJECT, "--request", ""),
    ("erase", "--number", SUBJECT, "--request", "R", "--call", "nosuchcall"),
    ("erase", "--number", OTHER, "--request", "R", "--call", "{call}"),
    ("erase", "--number", SUBJECT, "--request", "R", "--refuse"),
    ("erase", "--number", SUBJECT, "--request", "R", "--justification", "why"),
    ("restrict", "--number", "12", "--request", "R"),
    ("restrict", "--number", SUBJECT),
    ("unrestrict", "--number", SUBJECT),
    ("object", "--number", "abc", "--request", "R"),
    ("object", "--number", SUBJECT, "--request", "x" * 65),
    ("receive", "--number", SUBJECT, "--request", "R", "--kind", "access", "--received",
     "yesterday"),
    ("receive", "--number", SUBJECT, "--request", "R", "--kind", "access", "--received",
     "2999-01-01"),
    ("close", "--request", "NOPE", "--outcome", "x"),
])
def test_bad_input_exits_2_and_changes_nothing(
        cli: Cli, seeder: Seeder, database: Database, recordings: Path, tmp_path: Path,
        args: tuple[str, ...]) -> None:
    call = seeder.call()
    seeder.call(OTHER)
    before, files = dump(database), disk(recordings)
    filled = [arg.format(tmp=tmp_path, call=call.id) for arg in args]
    status, out, err = cli("rights", *filled)
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1 and err.startswith("callrec: "), err
    assert dump(database) == before
    assert disk(recordings) == files
    assert not list(tmp_path.glob("*.zip")) and not list(tmp_path.glob(".*.partial"))


def test_restriction_and_open_requests_block_the_purge(
        cli: Cli, seeder: Seeder, database: Database, recordings: Path) -> None:
    """The retention purge keeps restricted calls and calls with an open request; once
    lifted or answered, the same purge deletes them (so the first check can fail)."""
    restricted = seeder.call()
    requested = seeder.call(OTHER)
    unprotected = seeder.call("+358451234567")
    cli("rights", "restrict", "--number", SUBJECT, "--request", "RES-P")
    cli("rights", "receive", "--request", "ACC-P", "--kind", "access", "--number", OTHER)
    history = SqlContactHistory(database)

    def purge_and_see() -> dict[str, bool]:
        status, _, err = cli("purge", "--now", "2030-01-01T00:00:00+00:00", "--json")
        assert status == 0, err
        kept = {}
        for call in (restricted, requested, unprotected):
            stored = history.get(call.id)
            assert stored is not None and stored.recording_path is not None
            on_disk = (recordings / stored.recording_path).exists()
            assert on_disk == (stored.recording_deleted_at is None)
            kept[call.id] = on_disk
        return kept

    assert purge_and_see() == {restricted.id: True, requested.id: True,
                               unprotected.id: False}
    cli("rights", "unrestrict", "--number", SUBJECT, "--request", "RES-P")
    cli("rights", "close", "--request", "ACC-P", "--outcome", "answered by letter")
    assert purge_and_see() == {restricted.id: False, requested.id: False,
                               unprotected.id: False}


def test_export_carries_each_calls_recording_pauses(cli: Cli, seeder: Seeder,
                                                    database: Database, tmp_path: Path) -> None:
    from datetime import timedelta

    from callrec.pause.model import PauseEnd, PauseMethod, PauseStart
    from callrec.storage.pauses_dao import SqlPauses

    paused, plain = seeder.call(), seeder.call()
    pauses = SqlPauses(database)
    at = paused.started_at + timedelta(seconds=12)
    opened = pauses.open_or_renew(PauseStart(paused.id, at, 4_000, "Anna", PauseMethod.DTMF,
                                             at + timedelta(minutes=3)))
    pauses.close(opened.id, PauseEnd(at + timedelta(seconds=9), 13_000, "Anna",
                                     PauseMethod.DTMF, auto_resumed=False))
    manifest = json.loads(export(cli, tmp_path / "bundle.zip").read("manifest.json"))
    by_id = {entry["id"]: entry for entry in manifest["calls"]}
    assert by_id[plain.id]["pauses"] == []
    assert by_id[paused.id]["pauses"] == [{
        "started_at": at.isoformat(),
        "ended_at": (at + timedelta(seconds=9)).isoformat(),
        "start_offset_ms": 4_000, "end_offset_ms": 13_000, "paused_by": "Anna",
        "method": "dtmf", "resumed_by": "Anna", "resume_method": "dtmf",
        "auto_resumed": False}]
