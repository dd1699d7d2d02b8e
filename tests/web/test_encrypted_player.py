"""The player on sealed recordings: ranges decrypt to the plaintext's slice (any Range
header: the right slice or a 416, never a 500), a tampered file is a 409 and a logged
error with no audio, a destroyed key a 410, and a file tampered past the first chunk
cuts the answer short instead of completing it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callrec.recordings.files import RecordingFiles
from callrec.storage.history_dao import SqlContactHistory
from callrec.web.app import build_app
from callrec.web.context import WebContext
from tests.support.vaults import new_vault
from tests.web.world import World, write_wav

SUBJECT = "+358401234567"


def auth(world: World, username: str = "agent1") -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[username]}"}


@pytest.fixture
def sealed(world: World, tmp_path: Path) -> tuple[WebContext, bytes, Path]:
    """The world with a vault, agent1's call recorded long enough for several chunks and
    sealed; returns the context, the plaintext and the sealed file."""
    local = world.config.recordings.local_dir
    files = RecordingFiles(str(local), local, new_vault(tmp_path / "keys"))
    record = SqlContactHistory(world.database).get(world.calls["agent1"])
    assert record is not None and record.recording_path is not None
    path = files.local_path(record.recording_path)
    write_wav(path, seconds=20.0)           # 320 kB: five 64 KiB chunks
    plaintext = path.read_bytes()
    assert files.seal(record.recording_path, SUBJECT)
    return replace(world.context, recordings=files), plaintext, path


@pytest.fixture
async def sealed_client(sealed: tuple[WebContext, bytes, Path]) -> AsyncIterator[TestClient]:
    server = TestServer(build_app(sealed[0]), host="127.0.0.1", port=0)
    async with TestClient(server) as test_client:
        yield test_client


async def grant_url(client: TestClient, world: World) -> str:
    response = await client.post(f"/api/calls/{world.calls['agent1']}/listen",
                                 json={"purpose": "training"}, headers=auth(world))
    assert response.status == 201, await response.text()
    return str((await response.json())["url"])


async def test_the_whole_recording_and_ranges_are_the_plaintext(
        sealed_client: TestClient, world: World,
        sealed: tuple[WebContext, bytes, Path]) -> None:
    _, plaintext, path = sealed
    assert plaintext[1000:2000] not in path.read_bytes()
    url = await grant_url(sealed_client, world)
    whole = await sealed_client.get(url, headers=auth(world))
    assert (whole.status, await whole.read()) == (200, plaintext)
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Type"] == "audio/wav"
    middle = await sealed_client.get(url, headers={**auth(world),
                                                   "Range": "bytes=100000-200000"})
    assert middle.status == 206
    assert await middle.read() == plaintext[100000:200001]
    assert middle.headers["Content-Range"] == f"bytes 100000-200000/{len(plaintext)}"


RANGE_HEADERS = st.one_of(
    st.builds("bytes={}-{}".format, st.integers(0, 400_000), st.integers(0, 400_000)),
    st.builds("bytes={}-".format, st.integers(0, 400_000)),
    st.builds("bytes=-{}".format, st.integers(0, 400_000)),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=RANGE_HEADERS)
async def test_any_range_header_is_the_right_slice_or_a_416(
        sealed_client: TestClient, world: World, sealed: tuple[WebContext, bytes, Path],
        header: str) -> None:
    plaintext = sealed[1]
    url = await grant_url(sealed_client, world)
    response = await sealed_client.get(url, headers={**auth(world), "Range": header})
    body = await response.read()
    assert response.status in (206, 416), (header, response.status)
    if response.status == 416:
        assert body == b""
        assert response.headers["Content-Range"] == f"bytes */{len(plaintext)}"
        return
    served = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", response.headers["Content-Range"])
    assert served is not None
    start, last, total = map(int, served.groups())
    assert total == len(plaintext)
    assert body == plaintext[start:last + 1]
    first_asked = re.fullmatch(r"bytes=(\d+)-\d*", header.strip())
    if first_asked is not None:
        assert start == int(first_asked.group(1))


async def test_a_tampered_recording_is_a_409_and_a_logged_error(
        sealed_client: TestClient, world: World,
        sealed: tuple[WebContext, bytes, Path]) -> None:
    _, plaintext, path = sealed
    data = bytearray(path.read_bytes())
    data[200] ^= 0x40                         # inside the first chunk
    path.write_bytes(bytes(data))
    url = await grant_url(sealed_client, world)
    with structlog.testing.capture_logs() as logs:
        response = await sealed_client.get(url, headers=auth(world))
    body = await response.read()
    assert response.status == 409
    assert plaintext[44:200] not in body
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == [
        "recording_tampered"]


async def test_tampering_past_the_first_chunk_cuts_the_answer(
        sealed_client: TestClient, world: World,
        sealed: tuple[WebContext, bytes, Path]) -> None:
    _, plaintext, path = sealed
    data = bytearray(path.read_bytes())
    data[-1000] ^= 0x01                       # in the last chunk
    path.write_bytes(bytes(data))
    url = await grant_url(sealed_client, world)
    with structlog.testing.capture_logs() as logs:
        response = await sealed_client.get(url, headers=auth(world))
        assert response.status == 200
        received = b""
        with pytest.raises(aiohttp.ClientPayloadError):
            received = await response.read()
    assert len(received) < len(plaintext)
    assert "recording_failed_mid_stream" in [entry["event"] for entry in logs]


async def test_a_destroyed_key_is_a_410(sealed_client: TestClient, world: World,
                                        sealed: tuple[WebContext, bytes, Path]) -> None:
    context = sealed[0]
    record = SqlContactHistory(world.database).get(world.calls["agent1"])
    assert record is not None and record.recording_path is not None
    assert context.recordings.destroy_key(record.recording_path)
    url = await grant_url(sealed_client, world)
    response = await sealed_client.get(url, headers=auth(world))
    assert response.status == 410
    assert b"RIFF" not in await response.read()
