"""SIPp test peers for the lab: callers on the trunk and agents' phones, all on 127.0.0.1.

Each call gets its own scenario file rendered from ``scenarios/*.xml``: SIPp substitutes
no ``[keywords]`` inside ``rtp_stream`` or ``pause``, and its CSV injection (``-inf``)
splits hostile caller ids at ``;``. So the From header, the tone file and the talk time
are written into the scenario, escaped for every layer they pass through:

1. SIP (RFC 3261): the user part is percent-encoded where the grammar requires it, the
   display name is a quoted-string with ``"`` and ``\\`` escaped;
2. SIPp's message text: ``[``, ``]`` and ``\\`` become SIPp's ``\\xHH`` escapes, so no
   caller id can name a SIPp keyword, and ``]]>`` cannot end the CDATA section that holds
   the message (inside CDATA no other XML escaping applies).
"""

from __future__ import annotations

import re
import signal
import string
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType

from callrec.errors import LabError

ASTERISK_SIP = "127.0.0.1:5060"
LOOPBACK = "127.0.0.1"
WITHHELD = "anonymous"
# RFC 3261 "user": unreserved and user-unreserved characters pass, the rest is %HH. Also
# ";", "?" and "/" are escaped (RFC 3261 allows it): Asterisk cuts a number at a raw ";".
_USER_SAFE = frozenset(string.ascii_letters + string.digits + "-_.!~*'()&=+$,")
# File names go into XML attributes and SIPp's comma-separated rtp_stream value.
_SAFE_PATH = re.compile(r"[A-Za-z0-9_./-]+")
_DIALLED = re.compile(r"[0-9A-Za-z+*#._-]+")


def encode_sip_user(user: str) -> str:
    """Percent-encode ``user`` (UTF-8) for the user part of a SIP URI."""
    return "".join(
        ch if ch in _USER_SAFE else "".join(f"%{b:02X}" for b in ch.encode("utf-8"))
        for ch in user
    )


def quote_display_name(name: str) -> str:
    """``name`` as an RFC 3261 quoted-string; control characters become spaces."""
    # A quoted-pair cannot carry CR or LF: they would end the header (header injection).
    cleaned = "".join(" " if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in name)
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def from_header(caller_number: str, caller_name: str | None, host: str = LOOPBACK) -> str:
    """The From header value (without tag) a caller with this id sends."""
    if not caller_number:
        raise ValueError("caller_number is empty; use 'anonymous' for a withheld number")
    if caller_number == WITHHELD:
        uri = "sip:anonymous@anonymous.invalid"
    else:
        uri = f"sip:{encode_sip_user(caller_number)}@{host}"
    display = quote_display_name(caller_name) + " " if caller_name is not None else ""
    return f"{display}<{uri}>"


def sipp_escape(text: str) -> str:
    """Make ``text`` literal in a SIPp message: no keywords, no escapes, no CDATA end."""
    return text.replace("\\", "\\x5C").replace("[", "\\x5B").replace("]", "\\x5D")


def _checked_path(path: Path) -> str:
    text = str(path)
    if not _SAFE_PATH.fullmatch(text):
        raise ValueError(f"SIPp cannot take this file name in a scenario: {text!r}")
    return text


def _template(name: str) -> string.Template:
    text = resources.files("callrec.lab").joinpath("scenarios", name).read_text("utf-8")
    return string.Template(text)


def render_caller_scenario(caller_number: str, caller_name: str | None,
                           tone_file: Path, seconds: float) -> str:
    """The UAC scenario for one call: ``seconds`` of tone from the 200 OK, then BYE."""
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    return _template("caller.xml").substitute(
        from_header=sipp_escape(from_header(caller_number, caller_name)),
        tone_file=_checked_path(tone_file),
        talk_ms=str(round(seconds * 1000)),
    )


def render_agent_scenario(tone_file: Path) -> str:
    """The UAS scenario of an agent's phone streaming ``tone_file`` on every call."""
    return _template("agent.xml").substitute(tone_file=_checked_path(tone_file))


def make_tone(path: Path, hz: float, seconds: float) -> None:
    """An 8 kHz mono u-law WAV of a sine at ``hz`` (what SIPp's rtp_stream sends)."""
    argv = ["sox", "-R", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(path),
            "synth", f"{seconds}", "sine", f"{hz}"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        raise LabError(f"sox could not make {path}: {done.stderr.strip()} "
                       "(hint: apt-get install sox)")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass(frozen=True)
class SippResult:
    returncode: int
    message_log: Path
    error_log: Path
    output_log: Path
    message: str | None  # why SIPp failed, with its error log's tail; None when it passed

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _sipp_argv(scenario: Path, workdir: Path, name: str, port: int, media_port: int,
               ) -> list[str]:
    return ["sipp", ASTERISK_SIP, "-sf", str(scenario), "-i", LOOPBACK, "-p", str(port),
            "-mi", LOOPBACK, "-mp", str(media_port), "-nostdin", "-aa",
            "-trace_msg", "-message_file", str(workdir / f"{name}.messages.log"),
            "-trace_err", "-error_file", str(workdir / f"{name}.errors.log")]


class SippCall:
    """A running SIPp caller (see :func:`start_call`)."""

    def __init__(self, process: subprocess.Popen[bytes], workdir: Path, name: str,
                 timeout: float) -> None:
        self._process = process
        self._deadline = time.monotonic() + timeout
        self._timeout = timeout
        self.message_log = workdir / f"{name}.messages.log"
        self.error_log = workdir / f"{name}.errors.log"
        self.output_log = workdir / f"{name}.out"

    def wait(self) -> SippResult:
        """Block until SIPp ends (killed at the call's timeout) and report how it went."""
        try:
            code = self._process.wait(max(0.0, self._deadline - time.monotonic()))
            note = ""
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait()
            note = f"SIPp did not finish within {self._timeout:.0f} s and was killed. "
        message = None
        if code != 0 or note:
            message = (f"{note}SIPp caller exited with {code}; errors:\n"
                       f"{_tail(self.error_log)}\nlast messages:\n{_tail(self.message_log)}")
        return SippResult(code, self.message_log, self.error_log, self.output_log, message)


def start_call(dialled: str, caller_number: str, caller_name: str | None, tone_hz: float,
               seconds: float, *, local_port: int = 5070, media_port: int = 30000,
               workdir: Path, timeout: float) -> SippCall:
    """Call ``dialled`` on the lab's trunk and return at once; ``.wait()`` for the end."""
    if not _DIALLED.fullmatch(dialled):
        raise ValueError(f"not a dialable number: {dialled!r}")
    workdir.mkdir(parents=True, exist_ok=True)
    name = f"caller-{local_port}"
    tone = workdir / f"{name}-tone.wav"
    make_tone(tone, tone_hz, 2.0)
    scenario = workdir / f"{name}.xml"
    scenario.write_text(
        render_caller_scenario(caller_number, caller_name, tone, seconds), "utf-8")
    argv = [*_sipp_argv(scenario, workdir, name, local_port, media_port),
            "-s", dialled, "-m", "1", "-timeout", f"{round(timeout)}s", "-timeout_error"]
    with (workdir / f"{name}.out").open("wb") as out:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT)
    return SippCall(process, workdir, name, timeout + 5)


def place_call(dialled: str, caller_number: str, caller_name: str | None, tone_hz: float,
               seconds: float, *, local_port: int = 5070, media_port: int = 30000,
               workdir: Path, timeout: float) -> SippResult:
    """Call ``dialled`` on the lab's trunk, stream ``tone_hz`` for ``seconds``, hang up."""
    return start_call(dialled, caller_number, caller_name, tone_hz, seconds,
                      local_port=local_port, media_port=media_port, workdir=workdir,
                      timeout=timeout).wait()


def stop_sipp(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Stop a SIPp process; SIGUSR1 asks it to quit cleanly, flushing its logs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGUSR1)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class SippAgent:
    """An agent's phone: a SIPp UAS on 127.0.0.1:``port`` answering every call with a tone.

    Use as a context manager; :attr:`calls_answered` counts the INVITEs it answered.
    """

    def __init__(self, name: str, port: int, tone_hz: float, *, media_port: int,
                 workdir: Path) -> None:
        self.name = name
        self.port = port
        self.tone_hz = tone_hz
        self.media_port = media_port
        self.workdir = workdir
        self.message_log = workdir / f"{name}.messages.log"
        self.error_log = workdir / f"{name}.errors.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        tone = self.workdir / f"{self.name}-tone.wav"
        make_tone(tone, self.tone_hz, 2.0)
        scenario = self.workdir / f"{self.name}.xml"
        scenario.write_text(render_agent_scenario(tone), "utf-8")
        argv = _sipp_argv(scenario, self.workdir, self.name, self.port, self.media_port)
        with (self.workdir / f"{self.name}.out").open("wb") as out:
            self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT)
        time.sleep(0.5)
        if self._process.poll() is not None:
            raise LabError(f"SIPp agent {self.name} on port {self.port} exited at once "
                           f"({self._process.returncode}): {_tail(self.error_log, 5)}"
                           " (hint: is the port taken by another SIPp?)")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_sipp(process)

    @property
    def calls_answered(self) -> int:
        """INVITEs this agent answered with 200 OK, read from SIPp's message log."""
        try:
            log = self.message_log.read_text("utf-8", errors="replace")
        except OSError:
            return 0
        # By Call-ID: SIPp resends its 200 OK until the ACK arrives, and a loaded machine
        # makes it wait long enough for that (seen in the lab).
        answered: set[str] = set()
        for block in log.split("message sent")[1:]:
            lines = block.splitlines()
            first = next((line for line in lines[1:] if line.strip()), "")
            call_id = re.search(r"^Call-ID:\s*(\S+)", block, re.MULTILINE | re.IGNORECASE)
            if first.startswith("SIP/2.0 200") and call_id and re.search(
                    r"^CSeq:\s*\d+\s+INVITE", block, re.MULTILINE):
                answered.add(call_id.group(1))
        return len(answered)

    def __enter__(self) -> SippAgent:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
