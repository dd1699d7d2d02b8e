"""The recorded call path on a real Asterisk 22 with real SIP peers (SIPp).

callrec runs as an admin would run it (``callrec --config FILE serve``). Callers stream
440 Hz; agent1 (servicedesk queue) answers with 1000 Hz, agent2 (switchboard) with
1500 Hz, so the recording's spectrum tells whether both directions were kept.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import soundfile

from callrec.domain.history import CallRecord, Outcome
from callrec.lab.asterisk import AsteriskLab
from callrec.lab.callrec_process import CallrecProcess, lab_config_text
from callrec.lab.sipp import place_call, start_call
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.migrate import upgrade
from tests.integration.conftest import PROJECT_DIR, Agents
from tests.support.audio import assert_tones

CALLER_HZ, AGENT1_HZ, AGENT2_HZ, NOBODY_HZ = 440.0, 1000.0, 1500.0, 2500.0
TALK = 4.0


def notice_seconds(language: str) -> float:
    path = PROJECT_DIR / "sounds" / language / "callrec" / "notice.wav"
    return float(soundfile.info(str(path)).duration)


class Callrec:
    """A running callrec against the lab, and a view of its contact history."""

    def __init__(self, lab: AsteriskLab, workdir: Path, database_url: str,
                 edit_config: Callable[[str], str] = lambda text: text) -> None:
        self.lab = lab
        self.workdir = workdir
        self.config_path = workdir / "callrec.toml"
        self.config_path.write_text(edit_config(lab_config_text(
            PROJECT_DIR / "callrec.example.toml", lab, database_url)))
        self.database_url = database_url
        upgrade(database_url)
        self.process = CallrecProcess(self.config_path, workdir / "callrec.log", lab)
        self.since = datetime.now(UTC)

    def rows(self) -> list[CallRecord]:
        database = Database.open(self.database_url)
        try:
            return SqlContactHistory(database).search(since=self.since, limit=50)
        finally:
            database.dispose()

    def wait_for(self, check: Callable[[list[CallRecord]], bool], what: str,
                 timeout: float = 30.0) -> list[CallRecord]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.rows()
            if check(rows):
                return rows
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; rows: {self.rows()}\n"
                             f"callrec log:\n{self.process.log_tail()}")

    def wait_for_log(self, event: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while f'"msg": "{event}"' not in self.process.log_path.read_text("utf-8", "replace"):
            if time.monotonic() > deadline:
                raise AssertionError(f"callrec never logged {event}:\n"
                                     f"{self.process.log_tail()}")
            time.sleep(0.1)

    def one_finished_row(self) -> CallRecord:
        rows = self.wait_for(lambda rows: len(rows) == 1 and rows[0].ended_at is not None,
                             "one finished contact-history row")
        return rows[0]

    def recording(self, row: CallRecord) -> Path:
        assert row.recording_path is not None, row
        return self.lab.recordings_host_dir / row.recording_path


@pytest.fixture
def start_callrec(lab: AsteriskLab, tmp_path: Path) -> Iterator[Callable[..., Callrec]]:
    started: list[Callrec] = []

    def start(database_url: str,
              edit_config: Callable[[str], str] = lambda text: text) -> Callrec:
        running = Callrec(lab, tmp_path, database_url, edit_config)
        running.process.start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.process.stop()


@pytest.fixture
def callrec(start_callrec: Callable[[str], Callrec], database_url: str) -> Callrec:
    """callrec on each database backend (SQLite file, real PostgreSQL)."""
    return start_callrec(database_url)


@pytest.fixture
def callrec_sqlite(start_callrec: Callable[[str], Callrec], tmp_path: Path) -> Callrec:
    return start_callrec(f"sqlite:///{tmp_path / 'state' / 'callrec.db'}")


def call(dialled: str, number: str, name: str | None, seconds: float, workdir: Path) -> None:
    result = place_call(dialled, number, name, CALLER_HZ, seconds, workdir=workdir,
                        timeout=seconds + 30)
    assert result.message is None, result.message


def end_reports_since(lab: AsteriskLab, offset: int) -> int:
    """How many times Asterisk ran the [callrec-ended] hangup handler's FastAGI."""
    with lab.messages_log.open("rb") as log:
        log.seek(offset)
        text = log.read().decode("utf-8", "replace")
    return len(re.findall(r"AGI Script agi://127\.0\.0\.1:\d+/call-ended completed", text))


def test_answered_call_keeps_both_directions_and_a_complete_row(
        callrec: Callrec, agents: Agents, tmp_path: Path) -> None:
    log_start = callrec.lab.messages_log.stat().st_size
    call("0201234500", "0401234567", "Matti Meikäläinen", notice_seconds("fi") + 1 + TALK,
         tmp_path / "sipp")
    row = callrec.one_finished_row()

    assert (row.caller_number, row.caller_number_raw, row.caller_name_raw) == (
        "+358401234567", "0401234567", "Matti Meikäläinen")
    assert (row.service_number, row.service, row.queue, row.language) == (
        "0201234500", "servicedesk", "servicedesk", "fi")
    assert (row.outcome, row.agent, row.agent_interface) == (Outcome.ANSWERED, "agent1",
                                                             "PJSIP/agent1")
    assert row.notice_completed and not row.end_estimated
    assert row.started_at < row.answered_at < row.ended_at  # type: ignore[operator]
    assert row.channel_id and row.asterisk_id
    assert row.linkedid == row.channel_id  # a trunk call's channel is the first of its call

    path = callrec.recording(row)
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/[0-9a-f]{32}\.wav", row.recording_path or "")
    assert row.recording_bytes == path.stat().st_size
    assert row.recording_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert row.recording_seconds == pytest.approx(soundfile.info(str(path)).duration, abs=0.01)
    assert TALK - 1 < (row.recording_seconds or 0) < TALK + 4
    assert_tones(path, present=[CALLER_HZ, AGENT1_HZ], absent=[AGENT2_HZ, NOBODY_HZ])
    assert path.stat().st_mode & 0o777 == 0o640
    assert callrec.lab.recordings_host_dir.stat().st_mode & 0o007 == 0, "others kept out"
    assert agents.agent1.calls_answered == 1 and agents.agent2.calls_answered == 0
    # Asterisk 22.10 answers REST requests on the events socket: callrec moved onto it.
    assert "ari_requests_over_websocket" in callrec.process.log_path.read_text()
    # The end came from the hangup handler (exact, above), not from an ARI subscription.
    assert end_reports_since(callrec.lab, log_start) == 1
    assert "call_end_not_reported" not in callrec.process.log_path.read_text()

    listed = subprocess.run(
        [sys.executable, "-m", "callrec", "--config", str(callrec.config_path), "calls",
         "--json", "--number", "+358 40 123 4567"],
        capture_output=True, text=True, check=True, env={**os.environ})
    (item,) = [entry for entry in json.loads(listed.stdout) if entry["id"] == row.id]
    assert item["recording_sha256"] == row.recording_sha256
    assert (item["caller_number"], item["agent"], item["outcome"]) == (
        "+358401234567", "agent1", "answered")


def test_hangup_during_the_notice_leaves_a_row_and_no_recording(
        callrec_sqlite: Callrec, agents: Agents, tmp_path: Path) -> None:
    log_start = callrec_sqlite.lab.messages_log.stat().st_size
    call("0201234500", "0401234567", None, 2.0, tmp_path / "sipp")
    row = callrec_sqlite.one_finished_row()
    assert row.outcome is Outcome.NOTICE_HANGUP and not row.notice_completed
    assert not row.end_estimated
    # Not handed over yet: the hangup handler ran and reported nothing (StasisEnd did).
    assert end_reports_since(callrec_sqlite.lab, log_start) == 0
    assert row.recording_path is None and row.recording_bytes is None
    assert not list(callrec_sqlite.lab.recordings_host_dir.rglob(f"{row.id}*"))
    assert agents.agent1.calls_answered == 0


def test_second_service_number_reaches_its_queue_in_its_language(
        callrec_sqlite: Callrec, agents: Agents, tmp_path: Path, lab: AsteriskLab) -> None:
    log_start = lab.messages_log.stat().st_size
    call("0295504001", "+358501112233", "Sven", notice_seconds("sv") + 1 + TALK,
         tmp_path / "sipp")
    row = callrec_sqlite.one_finished_row()
    assert (row.service, row.queue, row.language, row.agent) == (
        "switchboard", "switchboard", "sv", "agent2")
    assert_tones(callrec_sqlite.recording(row), present=[CALLER_HZ, AGENT2_HZ],
                 absent=[AGENT1_HZ, NOBODY_HZ])
    with lab.messages_log.open("rb") as log:
        log.seek(log_start)
        played = log.read().decode("utf-8", "replace")
    assert re.search(r"Playing 'callrec/notice\.\w+' \(language 'sv'\)", played), played[-2000:]


def test_withheld_caller_on_an_unknown_number_goes_to_the_default_service(
        callrec_sqlite: Callrec, agents: Agents, tmp_path: Path) -> None:
    call("0999888777", "anonymous", None, notice_seconds("fi") + 1 + TALK, tmp_path / "sipp")
    row = callrec_sqlite.one_finished_row()
    assert row.caller_withheld and row.caller_number is None
    assert (row.service_number, row.service, row.service_number_known) == (
        "0999888777", "servicedesk", False)
    assert row.outcome is Outcome.ANSWERED and row.agent == "agent1"


def test_caller_giving_up_in_the_queue_is_abandoned_and_recorded(
        callrec_sqlite: Callrec, lab: AsteriskLab, tmp_path: Path) -> None:
    # No agents' phones run: the queue rings nobody who answers.
    call("0201234500", "0401234567", None, notice_seconds("fi") + 3, tmp_path / "sipp")
    row = callrec_sqlite.one_finished_row()
    assert row.outcome is Outcome.ABANDONED and row.agent is None and row.notice_completed
    assert not row.end_estimated, "the hangup handler reported the end"
    assert_tones(callrec_sqlite.recording(row), present=[CALLER_HZ],
                 absent=[AGENT1_HZ, AGENT2_HZ])


def test_callrec_killed_mid_call_the_call_goes_on_and_the_row_is_finalised(
        callrec_sqlite: Callrec, agents: Agents, tmp_path: Path) -> None:
    handle = start_call("0201234500", "0401234567", None, CALLER_HZ,
                        notice_seconds("fi") + 1 + 12, workdir=tmp_path / "sipp",
                        timeout=60)
    callrec_sqlite.wait_for(lambda rows: bool(rows) and rows[0].agent is not None,
                            "the agent to answer")
    callrec_sqlite.process.kill()  # a crash: no drain, no goodbye
    time.sleep(2)
    callrec_sqlite.process.start()
    result = handle.wait()
    assert result.message is None, result.message  # the call itself was not disturbed
    row = callrec_sqlite.one_finished_row()
    assert row.outcome is Outcome.ANSWERED and row.agent == "agent1"
    assert not row.end_estimated, "callrec was back before the hangup: the end is exact"
    assert_tones(callrec_sqlite.recording(row), present=[CALLER_HZ, AGENT1_HZ],
                 absent=[AGENT2_HZ, NOBODY_HZ])
    assert (row.recording_seconds or 0) > 10


HOSTILE = [
    ("$(reboot)", "Robert'); DROP TABLE calls;--"),
    ("0401234567;rm -rf /", "`id` $(id) ${EXTEN}"),
    ("'; DROP TABLE calls; --", "Пётр Чайковский 李小龍 محمد"),
    ("9" * 300, "x" * 300),
    ("+358401234567\"<sip:evil@127.0.0.1>", "\"quoted\" \\back\\slash"),
]


def ari_caller_ids(lab: AsteriskLab) -> list[tuple[str, str]]:
    token = base64.b64encode(f"{lab.ari_username}:{lab.ari_password}".encode()).decode()
    request = urllib.request.Request(f"{lab.ari_url}/ari/channels",
                                     headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return [(c["caller"]["number"], c["caller"]["name"]) for c in json.load(response)]


@pytest.mark.parametrize(("number", "name"), HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_caller_ids_reach_the_database_intact_and_nothing_else(
        callrec_sqlite: Callrec, lab: AsteriskLab, tmp_path: Path, number: str,
        name: str) -> None:
    log_start = lab.messages_log.stat().st_size
    handle = start_call("0201234500", number, name, CALLER_HZ, 3.0,
                        workdir=tmp_path / "sipp", timeout=30)
    deadline, seen = time.monotonic() + 5, []
    while not seen and time.monotonic() < deadline:
        seen = ari_caller_ids(lab)
        time.sleep(0.1)
    assert handle.wait().message is None
    row = callrec_sqlite.one_finished_row()

    (delivered,) = seen  # what Asterisk itself made of the SIP From header
    assert (row.caller_number_raw, row.caller_name_raw) == delivered
    # Asterisk itself cuts a caller number at ';' and at 80 characters, and hands a quoted
    # display name over with its backslash escapes. What it delivers is what is stored.
    assert row.caller_number_raw and number.startswith(row.caller_number_raw)
    if len(name.encode()) < 200 and '"' not in name:
        assert row.caller_name_raw == name
    assert row.outcome is Outcome.NOTICE_HANGUP
    assert row.caller_number in (None, "+358401234567")
    for path in lab.recordings_host_dir.rglob("*"):
        assert path.is_dir() or re.fullmatch(r"[0-9a-f]{32}\.wav|[0-9.]+\.wav", path.name)
    with lab.messages_log.open("rb") as log:
        log.seek(log_start)
        executed = [line for line in log.read().decode("utf-8", "replace").splitlines()
                    if "Executing [" in line]
    assert executed, "the dialplan ran"
    for line in executed:
        assert number not in line and (len(name) < 3 or name not in line), line


def test_objection_is_honoured_per_service_on_later_calls(
        start_callrec: Callable[..., Callrec], lab: AsteriskLab, agents: Agents,
        tmp_path: Path) -> None:
    def servicedesk_does_not_record_objectors(text: str) -> str:
        # The example's first on_objection line belongs to [services.servicedesk].
        return text.replace('on_objection = "record"', 'on_objection = "do_not_record"', 1)

    running = start_callrec(f"sqlite:///{tmp_path / 'state' / 'callrec.db'}",
                            servicedesk_does_not_record_objectors)
    subprocess.run([sys.executable, "-m", "callrec", "--config", str(running.config_path),
                    "rights", "object", "--number", "040 123 4567", "--request", "OBJ-1"],
                   check=True, capture_output=True)
    log_start = lab.messages_log.stat().st_size

    call("0201234500", "0401234567", None, 1 + TALK, tmp_path / "sipp1")
    unrecorded = running.one_finished_row()
    assert (unrecorded.service, unrecorded.recording_skipped_reason) == ("servicedesk",
                                                                          "objection")
    assert unrecorded.recording_path is None and not unrecorded.notice_completed
    assert unrecorded.outcome is Outcome.ANSWERED and unrecorded.agent == "agent1"
    assert not list(lab.recordings_host_dir.rglob(f"{unrecorded.id}*"))
    with lab.messages_log.open("rb") as log:
        log.seek(log_start)
        seen = log.read().decode("utf-8", "replace")
    assert "MixMonitor(" not in seen and "Playing 'callrec/notice" not in seen, seen[-3000:]

    running.since = datetime.now(UTC)
    call("0295504000", "0401234567", None, notice_seconds("fi") + 1 + TALK, tmp_path / "sipp2")
    recorded = running.one_finished_row()  # switchboard records objectors anyway
    assert recorded.service == "switchboard" and recorded.recording_skipped_reason is None
    assert_tones(running.recording(recorded), present=[CALLER_HZ, AGENT2_HZ],
                 absent=[AGENT1_HZ, NOBODY_HZ])
