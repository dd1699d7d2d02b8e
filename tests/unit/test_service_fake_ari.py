"""callrec serve end to end against a fake ARI: the composition root, reconnects, restarts.

The real-Asterisk tier proves the call path; these inject what Asterisk will not do on
demand: a socket dropped mid-notice, a hangup while callrec is away, a replaced app.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile

from callrec.app import serve
from callrec.config import Config, parse_config
from callrec.domain.history import CallRecord, Outcome
from callrec.errors import ApplicationReplaced, AriCredentialsRejected
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.migrate import upgrade
from tests.support.fake_ari import FakeAri, FakeChannel

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_config(tmp_path: Path, ari: FakeAri, password: str = "secret",
                requests: str = "websocket") -> Config:
    raw = tomllib.loads((ROOT / "callrec.example.toml").read_text())
    raw["ari"].update(url=ari.url, password=password, requests=requests)
    raw["agi"]["port"] = free_port()
    raw["database"]["url"] = f"sqlite:///{tmp_path / 'callrec.db'}"
    (tmp_path / "rec").mkdir(exist_ok=True)
    raw["recordings"].update(asterisk_dir="/asterisk/rec", local_dir=str(tmp_path / "rec"))
    config = parse_config(raw)
    upgrade(config.database_url)
    return config


async def eventually(check: Callable[[], object], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.02)


async def settled(ari: FakeAri) -> None:
    """callrec has connected, resynced and probed the socket: a call now starts fresh."""
    await eventually(lambda: ari.socket_requests)


@contextlib.asynccontextmanager
async def running(config: Config,
                  sweep_seconds: float = 60.0) -> AsyncIterator[asyncio.Task[int]]:
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, stop=stop, sweep_seconds=sweep_seconds))
    try:
        yield task
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 20)


@pytest.fixture
async def ari() -> AsyncIterator[FakeAri]:
    fake = FakeAri()
    await fake.start()
    yield fake
    await fake.stop()


def rows(config: Config) -> list[CallRecord]:
    database = Database.open(config.database_url)
    try:
        return SqlContactHistory(database).search(limit=100)
    finally:
        database.dispose()


def handover(channel: FakeChannel) -> list[str]:
    """The fields the dialplan CUTs from CALLREC_CALL: queue, language, agent AGI,
    recording, end AGI."""
    fields = channel.variables["CALLREC_CALL"].split("|")
    assert len(fields) == 5
    return fields


def write_recording(config: Config, channel: FakeChannel, seconds: float = 2.0) -> Path:
    relative = handover(channel)[3].removeprefix("/asterisk/rec/")
    path = config.recordings.local_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(8000 * seconds)) / 8000)
    soundfile.write(str(path), tone, 8000, subtype="PCM_16")
    return path


async def agi_agent_connected(config: Config, channel_id: str, interface: str,
                              name: str) -> None:
    """Play Asterisk's side of Queue's AGI hook, hostile caller id included."""
    reader, writer = await asyncio.open_connection("127.0.0.1", config.agi.port)
    env = (f"agi_request: {config.agi.agent_connected_url}\nagi_uniqueid: {channel_id}\n"
           "agi_callerid: $(reboot)'; DROP TABLE calls; --\n\n")
    writer.write(env.encode())
    assert (await reader.readline()).startswith(b"GET FULL VARIABLE ")
    writer.write(f"200 result=1 ({interface}|{name})\n".encode())
    await writer.drain()
    assert await reader.read() == b""  # callrec hangs up the AGI at once
    writer.close()


async def test_a_call_goes_through_notice_queue_agent_and_hangup(
        tmp_path: Path, ari: FakeAri) -> None:
    config = make_config(tmp_path, ari)
    async with running(config):
        await settled(ari)
        channel = await ari.new_caller("1700.1", "0401234567", "0295504001", "Maija")
        await eventually(lambda: channel.continued_to is not None)
        assert channel.continued_to == ("callrec-queue", "s", 1)
        queue, language, agi_url, recording, ended_url = handover(channel)
        assert (queue, language, agi_url, ended_url) == (
            "switchboard", "sv", config.agi.agent_connected_url, config.agi.call_ended_url)
        assert recording.startswith("/asterisk/rec/") and recording.endswith(".wav")
        assert set(channel.variables) == {"CALLREC_CALL"}, "one variable: one request"
        assert not channel.subscribed, "the end comes over FastAGI, not a subscription"
        path = write_recording(config, channel)
        await agi_agent_connected(config, "1700.1", "PJSIP/agent2", "agent2")
        await eventually(lambda: rows(config)[0].agent == "agent2")
        await ari.hang_up("1700.1")
        await eventually(lambda: rows(config)[0].ended_at is not None)
    (row,) = rows(config)
    assert ari.ended_reports[-1:] == ["1700.1"]
    assert (row.outcome, row.caller_number, row.service, row.language) == (
        Outcome.ANSWERED, "+358401234567", "switchboard", "sv")
    assert not row.end_estimated
    assert row.recording_bytes == path.stat().st_size and row.recording_seconds == 2.0
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize(("args", "stored", "asked"), [
    (["linkedid=1700.40"], "1700.40", False),       # what [callrec-incoming] passes
    ([], "1700.41", True),                          # an older dialplan: callrec asks
    (["linkedid=$(reboot);x"], "1700.42", True),    # not a linkedid: ignored, asked
])
async def test_linkedid_comes_from_the_stasis_arguments_when_given(
        tmp_path: Path, ari: FakeAri, args: list[str], stored: str, asked: bool) -> None:
    config = make_config(tmp_path, ari)
    channel_id = stored if asked else "1700.4"
    async with running(config):
        await settled(ari)
        await ari.new_caller(channel_id, "0401234567", "0201234500", args=args)
        await eventually(lambda: ari.channels[channel_id].continued_to is not None)
        write_recording(config, ari.channels[channel_id])
        await ari.hang_up(channel_id)
        await eventually(lambda: rows(config)[0].ended_at is not None)
    (row,) = rows(config)
    assert row.linkedid == stored
    lookups = [r for r in ari.requests if r == ("GET", f"/ari/channels/{channel_id}/variable")]
    assert bool(lookups) is asked


async def test_hangup_during_the_notice_ends_the_call_at_stasis_end(
        tmp_path: Path, ari: FakeAri) -> None:
    ari.notice_seconds = 5.0
    config = make_config(tmp_path, ari)
    async with running(config):
        await settled(ari)
        await ari.new_caller("1700.8", "0401234567", "0201234500")
        await eventually(lambda: ari.playbacks)
        await ari.hang_up("1700.8")  # Asterisk sends no ChannelDestroyed after StasisEnd
        await eventually(lambda: rows(config)[0].ended_at is not None)
    (row,) = rows(config)
    assert row.outcome is Outcome.NOTICE_HANGUP and row.recording_path is None


async def test_events_socket_dropped_mid_notice_the_call_still_reaches_the_queue(
        tmp_path: Path, ari: FakeAri) -> None:
    ari.notice_seconds = 0.5
    config = make_config(tmp_path, ari)
    async with running(config):
        await settled(ari)
        channel = await ari.new_caller("1700.2", "0401234567", "0201234500")
        await eventually(lambda: ari.playbacks)
        await ari.drop_sockets()  # the PlaybackFinished event will be lost
        await eventually(lambda: ari.connections >= 2, seconds=10)
        await eventually(lambda: channel.continued_to is not None, seconds=10)
        write_recording(config, channel)
        await ari.hang_up("1700.2")
        await eventually(lambda: rows(config)[0].ended_at is not None)
    (row,) = rows(config)
    assert row.outcome is Outcome.ABANDONED and row.notice_completed


async def hang_up_while_the_events_socket_is_down(config: Config, ari: FakeAri) -> CallRecord:
    """A queued caller hangs up while callrec's events socket is down; the finished row."""
    async with running(config):
        await settled(ari)
        channel = await ari.new_caller("1700.3", "0401234567", "0201234500")
        await eventually(lambda: channel.continued_to is not None)
        # The socket goes down after callrec has its answer to `continue` (dropped before,
        # the request fails and the call takes the fail-over path: another test's case).
        await eventually(lambda: not ari.rest_over_websocket or any(
            uri.startswith("channels/1700.3/continue") for uri in ari.socket_answered))
        write_recording(config, channel)
        await ari.drop_sockets()
        await ari.hang_up("1700.3")
        await eventually(lambda: rows(config)[0].ended_at is not None, seconds=10)
    (row,) = rows(config)
    return row


async def test_hangup_while_the_events_socket_is_down_is_still_reported_exactly(
        tmp_path: Path, ari: FakeAri) -> None:
    # The hangup handler's FastAGI does not need ARI.
    row = await hang_up_while_the_events_socket_is_down(make_config(tmp_path, ari), ari)
    assert not row.end_estimated and row.outcome is Outcome.ABANDONED
    assert ari.ended_reports == ["1700.3"]


async def test_an_unreported_hangup_while_disconnected_is_estimated_after_reconnect(
        tmp_path: Path, ari: FakeAri) -> None:
    ari.hangup_handlers = False  # the report cannot reach callrec: the resync finds it
    row = await hang_up_while_the_events_socket_is_down(make_config(tmp_path, ari), ari)
    assert row.end_estimated and row.outcome is Outcome.ABANDONED
    assert ari.connections >= 2 and ari.ended_reports == []


async def test_an_end_never_reported_is_found_by_the_sweep(
        tmp_path: Path, ari: FakeAri, capsys: pytest.CaptureFixture[str]) -> None:
    ari.hangup_handlers = False  # an older dialplan without [callrec-ended]
    config = make_config(tmp_path, ari)
    async with running(config, sweep_seconds=0.2):
        await settled(ari)
        gone = await ari.new_caller("1700.31", "0401234567", "0201234500")
        still_here = await ari.new_caller("1700.32", "0401234568", "0201234500")
        await eventually(lambda: gone.continued_to and still_here.continued_to)
        recording = write_recording(config, gone)
        await ari.hang_up("1700.31")
        await eventually(lambda: any(r.ended_at for r in rows(config)), seconds=10)
        await asyncio.sleep(0.5)  # more sweeps: the caller still in the queue stays open
        ended = {row.channel_id: row for row in rows(config) if row.ended_at is not None}
    assert set(ended) == {"1700.31"}
    row = ended["1700.31"]
    assert row.end_estimated and row.outcome is Outcome.ABANDONED
    # The made-up end is the recording's last write, not the moment of the sweep.
    assert abs(row.ended_at.timestamp() - recording.stat().st_mtime) < 0.01
    assert "call_end_not_reported" in capsys.readouterr().out


async def test_restart_mid_call_adopts_the_channel_and_finalises_it(
        tmp_path: Path, ari: FakeAri) -> None:
    config = make_config(tmp_path, ari)
    async with running(config):
        await settled(ari)
        channel = await ari.new_caller("1700.4", "0401234567", "0201234500")
        await eventually(lambda: channel.continued_to is not None)
        write_recording(config, channel)
        channel.variables.update(MEMBERINTERFACE="PJSIP/agent1", MEMBERNAME="agent1")
    async with running(config):
        await eventually(lambda: rows(config)[0].agent == "agent1")
        await ari.hang_up("1700.4")  # reported to the new process
        await eventually(lambda: rows(config)[0].ended_at is not None)
    (row,) = rows(config)
    assert row.outcome is Outcome.ANSWERED and not row.end_estimated
    assert ari.ended_reports[-1:] == ["1700.4"] and not channel.subscribed


async def test_caller_in_stasis_while_callrec_was_down_is_taken_over(
        tmp_path: Path, ari: FakeAri) -> None:
    config = make_config(tmp_path, ari)
    channel = await ari.new_caller("1700.5", "anonymous", "0295504000")  # nobody listening
    async with running(config):
        await eventually(lambda: channel.continued_to is not None)
        write_recording(config, channel)
        await ari.hang_up("1700.5")
        await eventually(lambda: rows(config) and rows(config)[0].ended_at is not None)
    (row,) = rows(config)
    assert row.caller_withheld and row.caller_number is None and row.service == "switchboard"


async def test_channels_callrec_created_itself_are_ignored(tmp_path: Path, ari: FakeAri) -> None:
    config = make_config(tmp_path, ari)
    async with running(config):
        await settled(ari)
        internal = await ari.new_caller("1700.6", "", "s", args=["callrec-internal"])
        real = await ari.new_caller("1700.7", "0401234567", "0201234500")
        await eventually(lambda: real.continued_to is not None)
        assert not internal.answered and internal.continued_to is None
    assert [row.channel_id for row in rows(config)] == ["1700.7"]


async def test_application_replaced_stops_this_instance(tmp_path: Path, ari: FakeAri) -> None:
    config = make_config(tmp_path, ari)
    async with running(config) as task:
        await settled(ari)
        await ari.send({"type": "ApplicationReplaced"})
        with pytest.raises(ApplicationReplaced):
            await asyncio.wait_for(task, 5)


async def test_wrong_ari_password_is_a_clear_fatal_error(tmp_path: Path, ari: FakeAri) -> None:
    config = make_config(tmp_path, ari, password="wrong")
    async with running(config) as task:
        with pytest.raises(AriCredentialsRejected, match="check \\[ari\\] username/password"):
            await asyncio.wait_for(task, 5)


async def test_ari_down_at_start_is_retried_until_it_appears(tmp_path: Path) -> None:
    port = free_port()
    late = FakeAri()
    late.port = port
    config = make_config(tmp_path, late)
    async with running(config):
        await asyncio.sleep(1.0)
        await late.start(port)
        try:
            await eventually(lambda: late.sockets, seconds=15)
        finally:
            await late.stop()


CALL_PATH = {("POST", "answer"), ("POST", "play"), ("POST", "variable"), ("POST", "continue")}


def call_path_requests(requests: list[tuple[str, str]], channel_id: str) -> set[tuple[str, str]]:
    """The call's own requests as (method, kind), whichever way they were written down."""
    found = set()
    for method, path in requests:
        parts = path.removeprefix("/ari/").split("?")[0].split("/")
        if channel_id in path and len(parts) >= 3:
            found.add((method, parts[2]))
    return found


async def place_one_call(config: Config, ari: FakeAri, channel_id: str) -> CallRecord:
    channel = await ari.new_caller(channel_id, "0401234567", "0201234500",
                                   args=[f"linkedid={channel_id}"])
    await eventually(lambda: channel.continued_to is not None)
    write_recording(config, channel)
    await ari.hang_up(channel_id)
    await eventually(lambda: rows(config) and rows(config)[0].ended_at is not None)
    return rows(config)[0]


async def test_once_asterisk_answers_on_the_events_socket_the_call_goes_over_it(
        tmp_path: Path, ari: FakeAri) -> None:
    config = make_config(tmp_path, ari)
    async with running(config):
        await settled(ari)
        row = await place_one_call(config, ari, "1800.1")
    assert row.outcome is Outcome.ABANDONED and row.notice_completed
    assert call_path_requests(ari.socket_requests, "1800.1") == CALL_PATH
    assert call_path_requests(ari.http_requests, "1800.1") == set()


async def test_an_asterisk_silent_on_the_socket_is_spoken_to_over_http(
        tmp_path: Path) -> None:
    old = FakeAri(rest_over_websocket=False)  # as an Asterisk before 20.14/21.9/22.4
    await old.start()
    try:
        config = make_config(tmp_path, old)
        async with running(config):
            await settled(old)
            row = await place_one_call(config, old, "1800.2")
    finally:
        await old.stop()
    assert row.outcome is Outcome.ABANDONED and row.notice_completed
    assert old.socket_requests == [("GET", "asterisk/info")]  # the probe, unanswered
    assert call_path_requests(old.http_requests, "1800.2") == CALL_PATH


async def test_requests_http_in_the_config_keeps_every_request_off_the_socket(
        tmp_path: Path, ari: FakeAri) -> None:
    config = make_config(tmp_path, ari, requests="http")
    async with running(config):
        await eventually(lambda: ("GET", "/ari/channels") in ari.http_requests)
        row = await place_one_call(config, ari, "1800.3")
    assert row.outcome is Outcome.ABANDONED
    assert ari.socket_requests == []
    assert call_path_requests(ari.http_requests, "1800.3") == CALL_PATH
