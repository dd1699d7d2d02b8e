"""A minimal FastAGI server for the two dialplan hooks that are cheaper than ARI.

``agent-connected``: ARI has no queue events, so ``Queue(...,agi://host:port/agent-connected)``
calls us on the caller's channel the moment a member picks up. We read the AGI environment,
ask for MEMBERINTERFACE and MEMBERNAME (queues.conf ``setinterfacevar=yes``) in one command,
close the connection at once (the caller is waiting to be bridged) and report the agent
afterwards.

``call-ended``: the hangup handler [callrec-incoming] pushes calls us when a caller callrec
has handed over to the queue hangs up. The environment is all we need: we close at once and
report the end. Hearing it here instead of through a per-call ARI subscription spares
Asterisk some ten ARI messages per call (docs/benchmarks.md).

``pause`` / ``resume``: the agent's feature codes (features.conf applicationmap, set on
the agent's channel only by [callrec-agent-features]). They run on the agent's channel; we
ask for CALLREC_CALLER, the caller's unique id that Queue's predial Gosub put there, and
close at once (the agent is out of the bridge while the AGI runs).

``auto-pause`` / ``auto-resume``: the dialplan's own hook around a step of its own (an IVR
collecting an identity number), on the caller's channel: see asterisk-config/.

Everything in the AGI environment except the unique id and the request path is ignored:
caller ids there are untrusted text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

import structlog

from callrec.config import AGENT_CONNECTED_SCRIPT, CALL_ENDED_SCRIPT
from callrec.errors import AgiProtocolError

AgentReport = Callable[[str, str, str], Coroutine[Any, Any, None]]  # channel id, agent, interface
EndReport = Callable[[str], None]  # channel id; must not block
# script, the caller's channel id, and whether the agent asked (feature code) or the dialplan
PauseReport = Callable[[str, str, bool], Coroutine[Any, Any, None]]

PAUSE_SCRIPT, RESUME_SCRIPT = "pause", "resume"
AUTO_PAUSE_SCRIPT, AUTO_RESUME_SCRIPT = "auto-pause", "auto-resume"
AGENT_SCRIPTS = (PAUSE_SCRIPT, RESUME_SCRIPT)
DIALPLAN_SCRIPTS = (AUTO_PAUSE_SCRIPT, AUTO_RESUME_SCRIPT)
CALLER_VARIABLE = "CALLREC_CALLER"

# No spaces: AGI splits a command's arguments at them.
MEMBER_EXPRESSION = "${MEMBERINTERFACE}|${MEMBERNAME}"
_MAX_LINE = 8192
_MAX_ENV_LINES = 200
_READ_TIMEOUT = 5.0
_SCRIPTS = (AGENT_CONNECTED_SCRIPT, CALL_ENDED_SCRIPT, *AGENT_SCRIPTS, *DIALPLAN_SCRIPTS)


class AgiServer:
    def __init__(self, host: str, port: int, on_agent_connected: AgentReport,
                 on_call_ended: EndReport, on_pause: PauseReport | None = None) -> None:
        self._host = host
        self._port = port
        self._report = on_agent_connected
        self._report_end = on_call_ended
        self._report_pause = on_pause
        self._server: asyncio.Server | None = None
        self._reports: set[asyncio.Task[None]] = set()
        self._log = structlog.get_logger("callrec.calls.agi")

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0 in tests)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port,
                                                  limit=_MAX_LINE)
        self._log.info("agi_listening", host=self._host, port=self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._reports:
            await asyncio.gather(*self._reports, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            env = await asyncio.wait_for(_read_environment(reader), _READ_TIMEOUT)
            script = urlsplit(env.get("agi_request", "")).path.strip("/")
            channel_id = env.get("agi_uniqueid", "")
            if script not in _SCRIPTS or not channel_id:
                self._log.warning("agi_unknown_request", script=script[:64])
                return
            if script == CALL_ENDED_SCRIPT:
                self._report_end(channel_id)
                return
            if script in AGENT_SCRIPTS + DIALPLAN_SCRIPTS:
                await self._pause_request(script, channel_id, reader, writer)
                return
            interface, name = await _member(reader, writer)
        except (AgiProtocolError, TimeoutError, OSError, ValueError) as exc:
            self._log.warning("agi_failed", error=str(exc) or type(exc).__name__)
            return
        finally:
            writer.close()
        if interface:
            self._in_background(self._report(channel_id, name or interface, interface))

    async def _pause_request(self, script: str, channel_id: str,
                             reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._report_pause is None:
            self._log.warning("pause_unavailable", script=script,
                              hint="add an [ami] section to callrec.toml")
            return
        by_agent = script in AGENT_SCRIPTS
        if by_agent:   # on the agent's channel: whose call is it?
            caller = await _get_variable(reader, writer, CALLER_VARIABLE)
            if not caller:
                self._log.warning("pause_without_caller", script=script,
                                  hint="the agent's channel lacks CALLREC_CALLER: is "
                                       "Queue's b() option in [callrec-queue]?")
                return
            channel_id = caller
        writer.close()
        self._in_background(self._report_pause(script, channel_id, by_agent))

    def _in_background(self, report: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.create_task(report)
        self._reports.add(task)
        task.add_done_callback(self._report_done)

    def _report_done(self, task: asyncio.Task[None]) -> None:
        self._reports.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("agent_report_failed", error=str(task.exception()))


async def _read_environment(reader: asyncio.StreamReader) -> dict[str, str]:
    env: dict[str, str] = {}
    for _ in range(_MAX_ENV_LINES):
        raw = await reader.readline()
        if not raw:  # Asterisk ends its environment with a blank line, never with EOF
            raise AgiProtocolError("connection closed inside the AGI environment")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            return env
        key, _, value = line.partition(": ")
        env[key] = value
    raise AgiProtocolError("AGI environment too long")


async def _member(reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> tuple[str | None, str | None]:
    """(MEMBERINTERFACE, MEMBERNAME) in one round trip: the caller waits for us."""
    writer.write(f"GET FULL VARIABLE {MEMBER_EXPRESSION}\n".encode("ascii"))
    await writer.drain()
    reply = (await asyncio.wait_for(reader.readline(), _READ_TIMEOUT)).decode("utf-8", "replace")
    return split_member(parse_get_variable(reply))


async def _get_variable(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        name: str) -> str | None:
    writer.write(f"GET VARIABLE {name}\n".encode("ascii"))
    await writer.drain()
    reply = (await asyncio.wait_for(reader.readline(), _READ_TIMEOUT)).decode("utf-8", "replace")
    return parse_get_variable(reply)


def split_member(value: str | None) -> tuple[str | None, str | None]:
    # An interface (PJSIP/agent1, Local/100@agents) has no "|"; a member's name might.
    interface, _, name = (value or "").partition("|")
    return interface or None, name or None


def parse_get_variable(reply: str) -> str | None:
    """``200 result=1 (value)`` -> value; ``200 result=0`` (unset) -> None."""
    reply = reply.strip()
    if not reply.startswith("200 "):
        raise AgiProtocolError(f"unexpected AGI reply {reply[:80]!r}")
    if not reply.startswith("200 result=1"):
        return None
    start, end = reply.find("("), reply.rfind(")")
    return reply[start + 1:end] if 0 <= start < end else None
