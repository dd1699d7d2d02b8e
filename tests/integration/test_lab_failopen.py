"""Fail-open: with callrec down, Asterisk alone still tells, records and queues callers.

No callrec runs here, so Stasis(callrec) fails at once and extensions.conf takes the
fail-open path: notice in the number's language, MixMonitor into .../callrec/failopen/,
then the number's queue. SIPp callers stream 440 Hz; agent1 (servicedesk) streams
1000 Hz and agent2 (switchboard) 1500 Hz, so the recording's spectrum shows who talked.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from pathlib import Path

import soundfile

from callrec.lab.asterisk import AsteriskLab
from callrec.lab.sipp import encode_sip_user, place_call
from tests.integration.conftest import PROJECT_DIR, Agents
from tests.support.audio import assert_tones

CALLER_HZ = 440.0
TALK_SECONDS = 8.0
HOSTILE_NUMBER = "$(reboot)\"; ' OR 1=1 -- [service] <sip:x@y>"
HOSTILE_NAME = "Пётр 李 \"\\\" ]]> [call_id] \r\nX-Injected: yes;" + "x" * 300


def notice_seconds(language: str) -> float:
    info = soundfile.info(str(PROJECT_DIR / "sounds" / language / "callrec" / "notice.wav"))
    return float(info.duration)


def assert_callrec_not_running(lab: AsteriskLab) -> None:
    credentials = base64.b64encode(f"{lab.ari_username}:{lab.ari_password}".encode())
    request = urllib.request.Request(f"{lab.ari_url}/ari/applications",
                                     headers={"Authorization": b"Basic " + credentials})
    with urllib.request.urlopen(request, timeout=5) as response:
        apps = {app["name"] for app in json.load(response)}
    assert "callrec" not in apps, "a callrec is connected to the lab: stop it for this test"


def failopen_files(lab: AsteriskLab) -> set[Path]:
    return set((lab.recordings_host_dir / "failopen").glob("*.wav"))


def new_recording(lab: AsteriskLab, before: set[Path]) -> Path:
    """The one recording made since ``before``, once MixMonitor has closed it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        new = failopen_files(lab) - before
        if new:
            assert len(new) == 1, f"one call made several recordings: {sorted(new)}"
            path = new.pop()
            size = path.stat().st_size
            time.sleep(0.5)
            if path.stat().st_size == size and size > 44:
                return path
        time.sleep(0.2)
    raise AssertionError(f"no recording appeared in {lab.recordings_host_dir / 'failopen'}"
                         f"; Asterisk's log: {lab.messages_log}")


def call_and_record(lab: AsteriskLab, tmp_path: Path, dialled: str, language: str
                    ) -> Path:
    assert_callrec_not_running(lab)
    before = failopen_files(lab)
    seconds = notice_seconds(language) + TALK_SECONDS
    result = place_call(dialled, "0401234567", "Lab Caller", CALLER_HZ, seconds,
                        workdir=tmp_path / "caller", timeout=seconds + 30)
    assert result.ok, result.message
    return new_recording(lab, before)


def test_failopen_servicedesk_records_both_directions(
        lab: AsteriskLab, agents: Agents, tmp_path: Path) -> None:
    recording = call_and_record(lab, tmp_path, "0201234500", "fi")

    assert agents.agent1.calls_answered == 1
    assert agents.agent2.calls_answered == 0
    assert_tones(recording, present=[CALLER_HZ, 1000.0], absent=[1500.0, 2500.0])
    # Recording starts after the notice: the file holds about the talk time, not more.
    duration = soundfile.info(str(recording)).duration
    assert TALK_SECONDS - 2 < duration < TALK_SECONDS + 2, duration
    assert (lab.recordings_host_dir / "failopen").stat().st_mode & 0o777 == 0o750


def test_failopen_switchboard_swedish_reaches_agent2(
        lab: AsteriskLab, agents: Agents, tmp_path: Path) -> None:
    log_start = lab.messages_log.stat().st_size
    recording = call_and_record(lab, tmp_path, "0295504001", "sv")

    assert agents.agent2.calls_answered == 1
    assert agents.agent1.calls_answered == 0
    assert_tones(recording, present=[CALLER_HZ, 1500.0], absent=[1000.0, 2500.0])
    with lab.messages_log.open("rb") as log:
        log.seek(log_start)
        new_log = log.read().decode(errors="replace")
    assert "Playing 'callrec/notice.slin' (language 'sv')" in new_log


def test_hostile_caller_hanging_up_during_notice_is_not_recorded(
        lab: AsteriskLab, agents: Agents, tmp_path: Path) -> None:
    assert_callrec_not_running(lab)
    before = failopen_files(lab)
    result = place_call("0201234500", HOSTILE_NUMBER, HOSTILE_NAME, CALLER_HZ, 1.5,
                        workdir=tmp_path / "caller", timeout=30)
    assert result.ok, result.message
    time.sleep(1.0)

    assert failopen_files(lab) == before, "a caller who left during the notice was recorded"
    assert agents.agent1.calls_answered == 0
    sent = result.message_log.read_text(errors="replace")
    assert f"<sip:{encode_sip_user(HOSTILE_NUMBER)}@127.0.0.1>" in sent
    assert "\nX-Injected" not in sent, "the hostile name broke into the headers"
