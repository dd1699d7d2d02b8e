"""The secure pause on the real lab: Asterisk 22, callrec serve, SIPp caller and agent.

The caller streams one file: tone A (440 Hz), then tone B (2500 Hz), then A again. The
agent (1000 Hz) presses *7 before B begins and *8 after it ends. B must be absent from the
recording, A and the agent present before and after the pause, and the recording must be
digital silence exactly where the stored pause says (within 100 ms).
"""

from __future__ import annotations

import string
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

from callrec.lab.asterisk import AsteriskLab
from callrec.lab.sipp import SippCall, _sipp_argv, from_header, sipp_escape, stop_sipp
from callrec.pause.model import Pause, PauseMethod
from callrec.storage.db import Database
from callrec.storage.pauses_dao import SqlPauses
from tests.integration import test_recorded_calls as recorded
from tests.integration.conftest import AGENT1_PORT, Agents
from tests.integration.test_recorded_calls import Callrec, notice_seconds
from tests.support.audio import assert_tones

# The recorded-call tests' fixtures: callrec as an admin runs it, against the lab.
start_callrec, callrec_sqlite = recorded.start_callrec, recorded.callrec_sqlite
# On each database backend (an SQLite file, the real PostgreSQL), for the main proof.
callrec = recorded.callrec
A_HZ, B_HZ, AGENT_HZ, NOBODY_HZ = 440.0, 2500.0, 1000.0, 1500.0
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SILENT = 1e-4          # |sample| below this is MixMonitor's digital silence
WINDOW = 160           # 20 ms at 8 kHz


# In-dialog SIP INFO carrying one DTMF digit (res_pjsip_dtmf_info), CSeq 11 on (the
# caller's BYE is 99). The agent (UAS) names
# the parties it read from the INVITE; the caller (UAC) those of its last 200 OK.
_INFO = """  <send retrans="500">
    <![CDATA[
      INFO sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {parties}
      [last_Call-ID:]
      CSeq: {cseq} INFO
      Contact: <sip:phone@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration=160
    ]]>
  </send>
  <recv response="200"/>"""
AGENT_PARTIES = ("From: [$local_party];tag=[pid]SIPpTag01[call_number]\n"
                 "      To: [$remote_party]")
CALLER_PARTIES = "[last_From:]\n      [last_To:]"


def steps(parties: str, *items: tuple[str, str | int]) -> str:
    """SIPp steps: ("pause", ms) or ("dtmf", digits), each digit an INFO request."""
    out, cseq = [], 10
    for kind, value in items:
        if kind == "pause":
            out.append(f'  <pause milliseconds="{int(value)}"/>')
            continue
        for digit in str(value):
            cseq += 1
            out.append(_INFO.format(parties=parties, cseq=cseq, digit=digit))
    return "\n".join(out)


def sox(*args: str) -> None:
    subprocess.run(["sox", *args], check=True, capture_output=True, timeout=60)


def tone_file(path: Path, parts: list[tuple[float, float]]) -> Path:
    """An 8 kHz u-law WAV of (hz, seconds) parts in a row."""
    pieces = []
    for i, (hz, seconds) in enumerate(parts):
        piece = path.with_name(f"{path.stem}-{i}.wav")
        sox("-R", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(piece), "synth",
            f"{seconds}", "sine", f"{hz}")
        pieces.append(str(piece))
    sox(*pieces, str(path)) if len(pieces) > 1 else Path(pieces[0]).rename(path)
    return path


@dataclass
class Phones:
    workdir: Path
    processes: list[subprocess.Popen[bytes]]

    def agent(self, actions: str, name: str = "agent1", port: int = AGENT1_PORT,
              media_port: int = 31000) -> None:
        tone = tone_file(self.workdir / f"{name}-tone.wav", [(AGENT_HZ, 2.0)])
        scenario = self.workdir / f"{name}.xml"
        scenario.write_text(string.Template((SCENARIOS / "pause_agent.xml").read_text())
                            .substitute(tone_file=tone, steps=actions))
        argv = _sipp_argv(scenario, self.workdir, name, port, media_port)
        self.processes.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                               stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        time.sleep(0.5)

    def call(self, dialled: str, tone: Path, actions: str, timeout: float) -> SippCall:
        scenario = self.workdir / "caller.xml"
        scenario.write_text(string.Template((SCENARIOS / "pause_caller.xml").read_text())
                            .substitute(tone_file=tone, steps=actions,
                                        from_header=sipp_escape(from_header("0401234567",
                                                                            None))))
        argv = [*_sipp_argv(scenario, self.workdir, "caller", 5070, 30000), "-s", dialled,
                "-m", "1", "-timeout", f"{round(timeout)}s", "-timeout_error"]
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        self.processes.append(process)
        return SippCall(process, self.workdir, "caller", timeout + 5)


@pytest.fixture
def phones(lab: AsteriskLab, tmp_path: Path) -> Iterator[Phones]:
    workdir = tmp_path / "sipp"
    workdir.mkdir()
    phones = Phones(workdir, [])
    yield phones
    # A failed scenario can leave its call up in Asterisk, and agent1 "in use" for the
    # next test: the lab is ours alone (flock), so clear it, while the phones still
    # answer the BYEs (or Asterisk resends them into the next test's phones).
    lab.cli("channel request hangup all")
    time.sleep(0.5)
    for process in phones.processes:
        stop_sipp(process)


def pauses_of(callrec: Callrec, call_id: str) -> list[Pause]:
    database = Database.open(callrec.database_url)
    try:
        return SqlPauses(database).of_calls([call_id]).get(call_id, [])
    finally:
        database.dispose()


def silent_spans(path: Path, min_seconds: float = 0.5) -> list[tuple[int, int]]:
    """(start ms, end ms) of every run of digital silence at least ``min_seconds`` long."""
    samples, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    mono = samples.mean(axis=1)
    windows = mono[:mono.size // WINDOW * WINDOW].reshape(-1, WINDOW)
    quiet = np.abs(windows).max(axis=1) < SILENT
    spans, start = [], None
    for i, flag in enumerate([*quiet, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if (i - start) * WINDOW >= min_seconds * rate:
                spans.append((start * WINDOW * 1000 // rate, i * WINDOW * 1000 // rate))
            start = None
    return spans


def segment(path: Path, start_ms: int, end_ms: int, out: Path) -> Path:
    samples, rate = soundfile.read(str(path), dtype="float64")
    soundfile.write(str(out), samples[start_ms * rate // 1000:end_ms * rate // 1000], rate)
    return out


@pytest.fixture
def callrec_short(start_callrec: Callable[..., Callrec], tmp_path: Path) -> Callrec:
    """callrec on SQLite whose pauses end by themselves after 6 s."""
    return start_callrec(f"sqlite:///{tmp_path / 'state' / 'callrec.db'}",
                         lambda text: text.replace("max_minutes = 3", "max_minutes = 0.1"))


def test_agent_pause_keeps_tone_b_out_and_the_timeline(
        callrec: Callrec, phones: Phones, tmp_path: Path) -> None:
    notice = notice_seconds("fi")
    # The agent is rung as the notice ends: pause ~2.5 s and resume ~8.5 s after that; B
    # plays from 4 s to 6.5 s after the notice, well inside the pause.
    phones.agent(steps(AGENT_PARTIES, ("pause", 2000), ("dtmf", "*7"), ("pause", 6000),
                       ("dtmf", "*8")))
    caller_tone = tone_file(tmp_path / "caller.wav", [(A_HZ, notice + 4), (B_HZ, 2.5),
                                                      (A_HZ, 30)])
    talk_ms = round((notice + 13) * 1000)
    caller = steps(CALLER_PARTIES, ("pause", talk_ms))
    result = phones.call("0201234500", caller_tone, caller, 60).wait()
    assert result.message is None, result.message
    row = callrec.one_finished_row()
    assert row.agent == "agent1"
    (pause,) = pauses_of(callrec, row.id)
    assert (pause.paused_by, pause.method, pause.resumed_by, pause.resume_method) == (
        "agent1", PauseMethod.DTMF, "agent1", PauseMethod.DTMF)
    assert not pause.auto_resumed and pause.end_offset_ms is not None
    recording = callrec.recording(row)

    (silence,) = silent_spans(recording)
    assert abs(silence[0] - pause.start_offset_ms) <= 100, (silence, pause)
    assert abs(silence[1] - pause.end_offset_ms) <= 100, (silence, pause)
    assert_tones(recording, present=[A_HZ, AGENT_HZ], absent=[B_HZ, NOBODY_HZ])
    before = segment(recording, 200, silence[0] - 100, tmp_path / "before.wav")
    after = segment(recording, silence[1] + 100, silence[1] + 3000, tmp_path / "after.wav")
    for part in (before, after):
        assert_tones(part, present=[A_HZ, AGENT_HZ], absent=[B_HZ, NOBODY_HZ])


def test_caller_dtmf_pauses_nothing(callrec_sqlite: Callrec, phones: Phones, agents: Agents,
                                    tmp_path: Path) -> None:
    notice = notice_seconds("fi")   # agents: the plain phones, agent1 at 1000 Hz
    caller_tone = tone_file(tmp_path / "caller.wav", [(A_HZ, 60)])
    # The caller keys *7 (Asterisk answers each INFO with 200: the digits arrived) while
    # talking to the agent, and *8 later: the codes live on the agent's channel only.
    caller = steps(CALLER_PARTIES, ("pause", round((notice + 2) * 1000)), ("dtmf", "*7"),
                   ("pause", 3000), ("dtmf", "*8"), ("pause", 3000))
    result = phones.call("0201234500", caller_tone, caller, 60).wait()
    assert result.message is None, result.message
    row = callrec_sqlite.one_finished_row()
    assert row.agent == "agent1"
    assert pauses_of(callrec_sqlite, row.id) == []
    recording = callrec_sqlite.recording(row)
    assert silent_spans(recording, min_seconds=0.3) == []
    assert_tones(recording, present=[A_HZ, AGENT_HZ], absent=[B_HZ, NOBODY_HZ])
    assert '"recording_paused"' not in callrec_sqlite.process.log_path.read_text()


def test_a_forgotten_pause_resumes_by_itself(callrec_short: Callrec, phones: Phones,
                                            tmp_path: Path) -> None:
    notice = notice_seconds("fi")
    phones.agent(steps(AGENT_PARTIES, ("pause", 2000), ("dtmf", "*7")))   # and no *8
    caller_tone = tone_file(tmp_path / "caller.wav", [(A_HZ, 60)])
    caller = steps(CALLER_PARTIES, ("pause", round((notice + 14) * 1000)))
    result = phones.call("0201234500", caller_tone, caller, 60).wait()
    assert result.message is None, result.message
    row = callrec_short.one_finished_row()
    (pause,) = pauses_of(callrec_short, row.id)
    assert pause.auto_resumed and pause.resumed_by is None and pause.resume_method is None
    assert pause.end_offset_ms is not None
    # [pause] max_minutes = 0.1: six seconds, ended by the once-a-second loop.
    assert 6000 <= pause.end_offset_ms - pause.start_offset_ms <= 7200, pause
    recording = callrec_short.recording(row)
    (silence,) = silent_spans(recording)
    assert abs(silence[0] - pause.start_offset_ms) <= 100, (silence, pause)
    assert abs(silence[1] - pause.end_offset_ms) <= 100, (silence, pause)
    after = segment(recording, silence[1] + 100, silence[1] + 3000, tmp_path / "after.wav")
    assert_tones(after, present=[A_HZ, AGENT_HZ], absent=[B_HZ, NOBODY_HZ])



def test_dialplan_hook_pauses_around_an_ivr_step(
        start_callrec: Callable[..., Callrec], phones: Phones, agents: Agents,
        tmp_path: Path) -> None:
    callrec = start_callrec(
        f"sqlite:///{tmp_path / 'state' / 'callrec.db'}",
        lambda text: text.replace('queue_context = "callrec-queue"',
                                  'queue_context = "callrec-queue-ivr"'))
    notice = notice_seconds("fi")
    # After the notice the IVR step reads digits with the recording paused: the caller
    # sends B meanwhile and keys 4# at 4 s; then the queue, agent1 and A again.
    caller_tone = tone_file(tmp_path / "caller.wav", [(A_HZ, notice + 1.5), (B_HZ, 2),
                                                      (A_HZ, 60)])
    caller = steps(CALLER_PARTIES, ("pause", round((notice + 4) * 1000)), ("dtmf", "4#"),
                   ("pause", 6000))
    result = phones.call("0201234500", caller_tone, caller, 60).wait()
    assert result.message is None, result.message
    row = callrec.one_finished_row()
    assert row.agent == "agent1"
    (pause,) = pauses_of(callrec, row.id)
    assert (pause.paused_by, pause.method, pause.resumed_by, pause.resume_method) == (
        "dialplan", PauseMethod.AUTOMATIC, "dialplan", PauseMethod.AUTOMATIC)
    assert pause.end_offset_ms is not None and pause.start_offset_ms < 500
    recording = callrec.recording(row)
    (silence,) = silent_spans(recording)
    assert abs(silence[0] - pause.start_offset_ms) <= 100, (silence, pause)
    assert abs(silence[1] - pause.end_offset_ms) <= 100, (silence, pause)
    assert_tones(recording, present=[A_HZ, AGENT_HZ], absent=[B_HZ, NOBODY_HZ])
