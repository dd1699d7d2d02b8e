from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callrec.cli import main
from callrec.commands.calls import display_width, terminal_safe
from callrec.domain.history import CallEnd, Outcome, RecordingFacts
from callrec.pause.model import PauseEnd, PauseMethod, PauseStart
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.migrate import head_revision
from callrec.storage.pauses_dao import SqlPauses
from tests.conftest import NewCallFactory

EXAMPLE = Path(__file__).resolve().parents[2] / "callrec.example.toml"
JSON_KEYS = {
    "id", "caller_number", "caller_number_raw", "caller_withheld", "caller_name",
    "service_number", "service", "service_number_known", "queue", "language", "agent",
    "started_at", "answered_at", "ended_at", "outcome", "notice_completed", "recording_path",
    "recording_bytes", "recording_seconds", "recording_sha256", "channel_id", "linkedid",
    "end_estimated",
}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")
HELSINKI = ZoneInfo("Europe/Helsinki")  # the example configuration's zone
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]")


@pytest.fixture
def config_path(tmp_path: Path, database_url: str) -> Path:
    """The example configuration, pointed at the test database."""
    text = EXAMPLE.read_text(encoding="utf-8")
    old = 'url = "sqlite:////var/lib/callrec/callrec.db"'
    assert old in text
    path = tmp_path / "callrec.toml"
    path.write_text(text.replace(old, f"url = {json.dumps(database_url)}"), encoding="utf-8")
    return path


@pytest.fixture
def cli(config_path: Path, capsys: pytest.CaptureFixture[str]
        ) -> Callable[..., tuple[int, str, str]]:
    def run(*args: str) -> tuple[int, str, str]:
        status = main(["--config", str(config_path), *args])
        captured = capsys.readouterr()
        return status, captured.out, captured.err
    return run


def run_json(cli: Callable[..., tuple[int, str, str]], *args: str) -> list[dict[str, Any]]:
    status, out, err = cli("calls", "--json", *args)
    assert (status, err) == (0, "")
    parsed = json.loads(out)
    assert isinstance(parsed, list)
    return parsed


def test_db_commands_and_refusal_before_upgrade(cli: Callable[..., tuple[int, str, str]]
                                                ) -> None:
    head = head_revision()
    assert cli("db", "current") == (1, "none\n", f"callrec: this callrec needs schema {head}: "
                                    "run `callrec db upgrade`\n")
    status, out, err = cli("calls")
    assert (status, out) == (1, "")
    assert err == ("callrec: database schema is at nothing (empty database), this callrec "
                   f"needs {head}: run `callrec db upgrade`\n")
    assert cli("db", "upgrade") == (0, f"database schema upgraded from nothing to {head}\n", "")
    assert cli("db", "upgrade") == (0, f"database schema already at {head}\n", "")
    assert cli("db", "current") == (0, f"{head}\n", "")
    assert cli("calls") == (0, "no calls found\n", "")
    assert run_json(cli) == []


def test_json_lists_every_field_newest_first(cli: Callable[..., tuple[int, str, str]],
                                             history: SqlContactHistory,
                                             make_call: NewCallFactory) -> None:
    older, newer = make_call(), make_call(caller_number_raw=None, caller_number=None,
                                          caller_withheld=True, caller_name_raw=None)
    for call in (older, newer):
        history.open_call(call)
    history.agent_connected(older.id, "Anna", "PJSIP/anna", older.started_at)
    history.finish_call(older.id, CallEnd(
        ended_at=datetime(2026, 11, 24, 22, 8, 14, 123456, tzinfo=UTC),
        outcome=Outcome.ANSWERED,
        recording=RecordingFacts(path="2026/11/24/a.wav", bytes=10, seconds=1.5,
                                 sha256="b" * 64)))
    first, second = run_json(cli)
    assert set(first) >= JSON_KEYS and set(second) >= JSON_KEYS
    assert (first["id"], first["caller_withheld"], first["caller_number"]) == (
        newer.id, True, None)
    assert (first["ended_at"], first["outcome"], first["agent"]) == (None, None, None)
    assert second["id"] == older.id
    assert second["ended_at"] == "2026-11-24T22:08:14.123456+00:00"
    assert ISO_UTC.match(second["started_at"]) and ISO_UTC.match(second["answered_at"])
    assert (second["caller_number"], second["caller_number_raw"], second["caller_name"]) == (
        "+358401234567", "0401234567", "Matti Meikäläinen")
    assert (second["outcome"], second["agent"], second["recording_bytes"],
            second["recording_seconds"], second["recording_sha256"]) == (
        "answered", "Anna", 10, 1.5, "b" * 64)


def test_filters(cli: Callable[..., tuple[int, str, str]], history: SqlContactHistory,
                 make_call: NewCallFactory) -> None:
    mine = [make_call() for _ in range(3)]
    other = make_call(caller_number_raw="0501112222", caller_number="+358501112222")
    for call in (*mine, other):
        history.open_call(call)
    assert [row["id"] for row in run_json(cli, "--number", "040-123 4567")] == [
        call.id for call in reversed(mine)]
    assert [row["id"] for row in run_json(cli, "--number", "+358 50 111 2222")] == [other.id]
    assert len(run_json(cli, "--limit", "2")) == 2
    naive_utc = mine[1].started_at.replace(tzinfo=None).isoformat()
    assert {row["id"] for row in run_json(cli, "--since", naive_utc)} == {
        mine[1].id, mine[2].id, other.id}
    helsinki = (mine[2].started_at + timedelta(hours=2)).replace(tzinfo=None).isoformat()
    assert {row["id"] for row in run_json(cli, "--since", helsinki + "+02:00")} == {
        mine[2].id, other.id}
    assert run_json(cli, "--since", "2027-01-01") == []


@pytest.mark.parametrize(("args", "named"), [
    (("--number", "not a number"), "'not a number'"),
    (("--number", "$(reboot)"), "'$(reboot)'"),
    (("--since", "yesterday"), "--since 'yesterday'"),
    (("--since", "2026-13-01"), "--since '2026-13-01'"),
    (("--limit", "0"), "--limit '0'"),
    (("--limit", "100001"), "--limit '100001'"),
    (("--limit", "ten"), "--limit 'ten'"),
])
def test_bad_input_exits_2_with_one_line(cli: Callable[..., tuple[int, str, str]],
                                         args: tuple[str, ...], named: str) -> None:
    status, out, err = cli("calls", *args)
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1 and err.startswith("callrec: ")
    assert named in err


def test_hostile_caller_ids_round_trip_through_json(
        cli: Callable[..., tuple[int, str, str]], history: SqlContactHistory,
        make_call: NewCallFactory, hostile_caller_ids: tuple[str, ...]) -> None:
    calls = {text: make_call(caller_number_raw=text, caller_number=None,
                             caller_name_raw=text) for text in hostile_caller_ids}
    for call in calls.values():
        history.open_call(call)
    status, out, _ = cli("calls", "--json")
    assert status == 0
    assert out.isascii(), "JSON output should escape everything outside ASCII"
    rows = {row["caller_number_raw"]: row for row in json.loads(out)}
    assert set(rows) == set(hostile_caller_ids)
    for text, row in rows.items():
        assert (row["caller_name"], row["id"]) == (text, calls[text].id)


def test_table_is_aligned_and_terminal_safe(cli: Callable[..., tuple[int, str, str]],
                                            history: SqlContactHistory,
                                            make_call: NewCallFactory,
                                            hostile_caller_ids: tuple[str, ...]) -> None:
    for text in hostile_caller_ids:
        history.open_call(make_call(caller_number_raw=text, caller_number=None))
    finished = make_call()
    history.open_call(finished)
    history.finish_call(finished.id, CallEnd(ended_at=finished.started_at + timedelta(
        seconds=3725), outcome=Outcome.ABANDONED, recording=None))
    status, out, err = cli("calls")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == len(hostile_caller_ids) + 2
    assert lines[0].split() == ["started", "caller", "service", "queue", "agent", "outcome",
                                "duration"]
    assert not CONTROL.search(out), "a control character reached the terminal"
    assert "\\x1b[31mred\\x1b[0m" in out and "line\\x0abreak\\x0d\\x09and\\x7f" in out
    assert "9" * 31 + "…" in out and "9" * 32 not in out
    # Newest first: the finished call, started last, leads, in the configured time zone.
    assert lines[1].split()[:2] == [
        finished.started_at.astimezone(HELSINKI).strftime("%Y-%m-%d"),
        finished.started_at.astimezone(HELSINKI).strftime("%H:%M:%S")]
    assert lines[1].split()[-2:] == ["abandoned", "1:02:05"]
    service_column = display_width(lines[0][:lines[0].index("service")])
    for line in lines[1:]:
        assert display_width(line[:line.rindex("servicedesk  servicedesk")]) == service_column


def test_subprocess_json(config_path: Path, history: SqlContactHistory,
                         make_call: NewCallFactory,
                         hostile_caller_ids: tuple[str, ...]) -> None:
    for text in hostile_caller_ids:
        history.open_call(make_call(caller_number_raw=text, caller_name_raw=text))
    executable = Path(sys.executable).with_name("callrec")
    assert executable.exists(), f"{executable} missing: pip install -e . into the venv"
    result = subprocess.run([str(executable), "--config", str(config_path), "calls", "--json"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stderr) == (0, "")
    rows = json.loads(result.stdout)
    assert sorted(row["caller_number_raw"] for row in rows) == sorted(hostile_caller_ids)
    assert all(row["caller_name"] == row["caller_number_raw"] for row in rows)



@pytest.mark.parametrize(("text", "shown"), [
    ("plain", "plain"),
    ("\x1b[2J", "\\x1b[2J"),
    ("a\u202eb", "a\\u202eb"),
    ("a\u2028b", "a\\u2028b"),
    ("\x9b31m", "\\x9b31m"),
    ("Пётр 李 محمد 😀", "Пётр 李 محمد 😀"),
    ("x" * 40, "x" * 31 + "…"),
    ("李" * 20, "李" * 15 + "…"),
])
def test_terminal_safe(text: str, shown: str) -> None:
    assert terminal_safe(text) == shown
    assert display_width(terminal_safe(text)) <= 32


def test_json_shows_each_calls_pauses_oldest_first(
        cli: Callable[..., tuple[int, str, str]], history: SqlContactHistory,
        database: Database, make_call: NewCallFactory) -> None:
    paused, plain = make_call(), make_call()
    for call in (paused, plain):
        history.open_call(call)
    pauses = SqlPauses(database)
    at = paused.started_at + timedelta(seconds=40)
    first = pauses.open_or_renew(PauseStart(paused.id, at, 30_000, "anna", PauseMethod.DTMF,
                                            at + timedelta(minutes=3)))
    pauses.close(first.id, PauseEnd(at + timedelta(seconds=12), 42_000, None, None,
                                    auto_resumed=True))
    later = at + timedelta(seconds=60)
    pauses.open_or_renew(PauseStart(paused.id, later, 90_000, "anna", PauseMethod.WEB,
                                    later + timedelta(minutes=3)))
    rows = {row["id"]: row for row in run_json(cli)}
    assert rows[plain.id]["pauses"] == []
    done, still_open = rows[paused.id]["pauses"]
    assert (done["start_offset_ms"], done["end_offset_ms"], done["method"],
            done["auto_resumed"], done["resumed_by"]) == (30_000, 42_000, "dtmf", True, None)
    assert ISO_UTC.match(done["started_at"]) and ISO_UTC.match(done["ended_at"])
    assert (still_open["method"], still_open["ended_at"], still_open["end_offset_ms"]) == (
        "web", None, None)
