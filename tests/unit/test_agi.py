"""The FastAGI hook: protocol parsing and hostile or broken peers."""

from __future__ import annotations

import asyncio

import pytest

from callrec.calls.agi import AgiServer, parse_get_variable, split_member
from callrec.errors import AgiProtocolError


@pytest.mark.parametrize(("reply", "value"), [
    ("200 result=1 (PJSIP/agent1)\n", "PJSIP/agent1"),
    ("200 result=1 (Agent (Smith))\n", "Agent (Smith)"),
    ("200 result=0\n", None),
])
def test_get_variable_replies_are_read(reply: str, value: str | None) -> None:
    assert parse_get_variable(reply) == value


@pytest.mark.parametrize(("value", "member"), [
    ("PJSIP/agent1|agent1", ("PJSIP/agent1", "agent1")),
    ("PJSIP/agent1|Smith | Jones", ("PJSIP/agent1", "Smith | Jones")),
    ("PJSIP/agent1|", ("PJSIP/agent1", None)),
    ("|", (None, None)),
    (None, (None, None)),
])
def test_member_expression_is_split_at_the_first_bar(
        value: str | None, member: tuple[str | None, str | None]) -> None:
    assert split_member(value) == member


def test_an_error_reply_is_a_protocol_error() -> None:
    with pytest.raises(AgiProtocolError):
        parse_get_variable("510 Invalid or unknown command\n")


async def start_server() -> tuple[AgiServer, list[tuple[str, ...]]]:
    """A server whose agent reports are (channel, agent, interface) and whose end
    reports are ("ended", channel), in one list, in the order they came."""
    reports: list[tuple[str, ...]] = []

    async def report(channel_id: str, agent: str, interface: str) -> None:
        reports.append((channel_id, agent, interface))

    server = AgiServer("127.0.0.1", 0, report, lambda channel_id: reports.append(
        ("ended", channel_id)))
    await server.start()
    return server, reports


async def talk(port: int, env: bytes, replies: list[bytes]) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(env)
    asked = b""
    for reply in replies:
        asked += await reader.readline()
        writer.write(reply)
    await writer.drain()
    asked += await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return asked


async def test_agent_connected_is_reported_with_member_name() -> None:
    server, reports = await start_server()
    env = (b"agi_network: yes\nagi_request: agi://127.0.0.1/agent-connected\n"
           b"agi_uniqueid: 1700.9\nagi_callerid: \"$(reboot)\" <';--\n\n")
    asked = await talk(server.port, env, [b"200 result=1 (PJSIP/agent1|Agent One)\n"])
    await server.close()
    assert asked == b"GET FULL VARIABLE ${MEMBERINTERFACE}|${MEMBERNAME}\n"
    assert reports == [("1700.9", "Agent One", "PJSIP/agent1")]


async def test_member_without_name_is_reported_by_interface() -> None:
    server, reports = await start_server()
    env = b"agi_request: agi://127.0.0.1/agent-connected\nagi_uniqueid: 1700.9\n\n"
    await talk(server.port, env, [b"200 result=1 (PJSIP/agent1|)\n"])
    await server.close()
    assert reports == [("1700.9", "PJSIP/agent1", "PJSIP/agent1")]


async def test_call_ended_is_reported_at_once_and_asks_asterisk_nothing() -> None:
    server, reports = await start_server()
    # As a hangup handler sends it: a dead channel, hostile caller id and all.
    env = (b"agi_network: yes\nagi_network_script: call-ended\n"
           b"agi_request: agi://127.0.0.1:4573/call-ended\nagi_channel: PJSIP/trunk-1\n"
           b"agi_uniqueid: 1700.9\nagi_callerid: \"$(reboot)\" <';--\n"
           b"agi_context: callrec-ended\n\n")
    asked = await talk(server.port, env, [])
    await server.close()
    assert asked == b""
    assert reports == [("ended", "1700.9")]


@pytest.mark.parametrize("env", [
    b"agi_request: agi://127.0.0.1/call-ended\n\n",                     # no unique id
    b"agi_request: agi://127.0.0.1/call-ended/../agent-connected\nagi_uniqueid: 1\n\n",
    b"agi_request: agi://127.0.0.1/CALL-ENDED\nagi_uniqueid: 1\n\n",
    b"agi_request: agi://127.0.0.1/call-ended\nagi_uniqueid: 1\n",       # no end of env
])
async def test_bad_end_reports_are_dropped(env: bytes) -> None:
    server, reports = await start_server()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(env)
    await writer.drain()
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), 8) == b""
    writer.close()
    await server.close()
    assert reports == []


@pytest.mark.parametrize("env", [
    b"agi_request: agi://127.0.0.1/format-disk\nagi_uniqueid: 1\n\n",   # unknown script
    b"agi_request: agi://127.0.0.1/agent-connected\n\n",               # no unique id
    b"agi_request: agi://127.0.0.1/agent-connected\n" + b"x: y\n" * 300,  # endless env
    b"agi_request: agi://127.0.0.1/agent-connected\nagi_uniqueid: " + b"9" * 20000 + b"\n\n",
])
async def test_bad_requests_are_dropped_without_a_report(env: bytes) -> None:
    server, reports = await start_server()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(env)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    await server.close()
    assert reports == []


async def test_error_reply_from_asterisk_gives_no_report() -> None:
    server, reports = await start_server()
    env = b"agi_request: agi://127.0.0.1/agent-connected\nagi_uniqueid: 1\n\n"
    await talk(server.port, env, [b"520 Invalid command syntax\n"])
    await server.close()
    assert reports == []
