"""Hostile and malformed requests: path traversal, SQL metacharacters, oversized and broken
bodies and headers. Each gets a clean 4xx, serves no recording bytes and logs nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from callrec.storage.tables import CallRow
from tests.web.world import World

TRAVERSALS = ("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "....//....//etc/passwd",
              "/etc/passwd", "..\\..\\windows\\win.ini", "%2e%2e%2f%2e%2e%2fetc%2fpasswd")
SQL = ("'; DROP TABLE calls; --", "1' OR '1'='1", "x\" OR 1=1 --", "%' OR 1=1 --",
       "agent1' UNION SELECT * FROM users --")


def auth(world: World, username: str = "dpo") -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[username]}"}


def search_cases() -> list[tuple[str, str]]:
    cases = [(key, value) for key in ("number", "service", "queue", "agent", "from", "to")
             for value in (*TRAVERSALS, *SQL)]
    cases += [("limit", value) for value in ("0", "-1", "501", "1e3", "abc", "1;--", "９")]
    cases += [("from", "2026-13-01"), ("number", "\x00"), ("agent", "a" * 300),
              ("path", "../../etc/passwd"), ("queue[]", "x")]
    return cases


@pytest.fixture
def assert_nothing_served(world: World) -> Callable[[], None]:
    def check() -> None:
        assert world.context.access_log.entries() == []
        with world.database.session() as session:
            assert session.scalar(select(func.count()).select_from(CallRow)) == 5
    return check


@pytest.mark.parametrize(("key", "value"), search_cases())
async def test_bad_search_parameters_are_refused(client: TestClient, world: World, key: str,
                                                 value: str, assert_nothing_served) -> None:
    response = await client.get("/api/calls", params={key: value}, headers=auth(world))
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]
    assert_nothing_served()


async def test_a_repeated_parameter_is_refused(client: TestClient, world: World) -> None:
    response = await client.get("/api/calls?queue=servicedesk&queue=switchboard",
                                headers=auth(world))
    assert response.status == 400


async def test_search_still_works_after_all_that(client: TestClient, world: World) -> None:
    response = await client.get("/api/calls", params={"queue": "servicedesk",
                                                      "agent": "agent1", "limit": "10"},
                                headers=auth(world))
    assert response.status == 200
    ids = {call["id"] for call in (await response.json())["calls"]}
    assert ids == {world.calls[label] for label in ("agent1", "restricted", "unrecorded")}


@pytest.mark.parametrize("path", [
    *(f"/api/calls/{t}" for t in TRAVERSALS), *(f"/api/calls/{s}" for s in SQL),
    "/api/calls/0123456789ABCDEF0123456789ABCDEF", "/api/calls/%00",
    *(f"/api/listen/{t}" for t in TRAVERSALS), "/api/listen/' OR '1'='1",
    *(f"/calls/{t}" for t in TRAVERSALS),
])
async def test_bad_ids_in_paths_are_not_found(client: TestClient, world: World, path: str,
                                              assert_nothing_served) -> None:
    response = await client.get(path, headers=auth(world))
    assert response.status == 404, path
    assert b"RIFF" not in await response.read()
    assert_nothing_served()


@pytest.mark.parametrize("path", ["/static/../callrec/config.py", "/static/..%2f..%2fapp.py",
                                  "/static/%2e%2e/web/app.py", "/static/../../pyproject.toml"])
async def test_static_files_stay_in_their_directory(client: TestClient, path: str) -> None:
    response = await client.get(path)
    assert response.status in (403, 404)
    body = await response.read()
    assert b"import" not in body and b"[project]" not in body


LISTEN_BODIES = [
    ("text/plain", b'{"purpose": "quality"}', 415),
    ("application/json", b"{", 400),
    ("application/json", b"\xff\xfe", 400),
    ("application/json", b"[]", 400),
    ("application/json", b'"quality"', 400),
    ("application/json", b'{"purpose": "../../etc/passwd"}', 400),
    ("application/json", b'{"purpose": "quality\'; DROP TABLE access_log; --"}', 400),
    ("application/json", b'{"purpose": "quality", "path": "/etc/passwd"}', 400),
    ("application/json", b'{"purpose": "quality", "download": "yes"}', 400),
    ("application/json", b'{"purpose": "quality", "note": 5}', 400),
    ("application/json", b'{"purpose": "quality", "note": "line\\nbreak\\u001b[31m"}', 400),
    ("application/json", b'{"purpose": "quality", "note": "' + b"x" * 300 + b'"}', 400),
    ("application/json", b'{"purpose": "quality", "note": "' + b"x" * 100_000 + b'"}', 413),
    ("application/json", b"{}", 400),
]


@pytest.mark.parametrize(("content_type", "body", "status"), LISTEN_BODIES)
async def test_bad_listen_bodies_are_refused(client: TestClient, world: World,
                                             content_type: str, body: bytes, status: int,
                                             assert_nothing_served) -> None:
    response = await client.post(f"/api/calls/{world.calls['agent1']}/listen", data=body,
                                 headers={**auth(world, "agent1"),
                                          "Content-Type": content_type})
    assert response.status == status
    assert "error" in await response.json()
    assert_nothing_served()


@pytest.mark.parametrize("header", ["Cookie", "X-Padding", "Authorization"])
async def test_oversized_headers_are_refused(client: TestClient, header: str) -> None:
    value = "Bearer " + "a" * 20_000 if header == "Authorization" else "a" * 20_000
    response = await client.get("/api/me", headers={header: value})
    assert 400 <= response.status < 500


async def test_an_oversized_url_is_refused(client: TestClient, world: World) -> None:
    response = await client.get("/api/calls?agent=" + "a" * 20_000, headers=auth(world))
    assert 400 <= response.status < 500


async def test_a_method_that_does_not_exist_here(client: TestClient, world: World) -> None:
    response = await client.delete(f"/api/calls/{world.calls['agent1']}", headers=auth(world))
    assert response.status == 405
    assert "error" in await response.json()


async def grant_url(client: TestClient, world: World, username: str = "agent1") -> str:
    response = await client.post(f"/api/calls/{world.calls['agent1']}/listen",
                                 json={"purpose": "training"}, headers=auth(world, username))
    assert response.status == 201
    return str((await response.json())["url"])


async def test_ranges_are_served_without_new_log_entries(client: TestClient,
                                                          world: World) -> None:
    url = await grant_url(client, world)
    assert len(world.context.access_log.entries()) == 1
    whole = await client.get(url, headers=auth(world, "agent1"))
    data = await whole.read()
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = await client.get(url, headers={**auth(world, "agent1"), "Range": "bytes=0-3"})
    assert part.status == 206
    assert await part.read() == data[:4] == b"RIFF"
    assert part.headers["Content-Range"] == f"bytes 0-3/{len(data)}"
    tail = await client.get(url, headers={**auth(world, "agent1"), "Range": "bytes=-10"})
    assert (tail.status, await tail.read()) == (206, data[-10:])
    beyond = await client.get(url, headers={**auth(world, "agent1"),
                                            "Range": f"bytes={len(data) + 10}-"})
    assert beyond.status == 416
    assert len(world.context.access_log.entries()) == 1


@pytest.mark.parametrize("value", ["bytes=abc", "bytes=5-1", "lines=0-3", "bytes=0-3,x",
                                   "bytes=0-3,5-7"])
async def test_malformed_or_multiple_ranges_are_not_satisfiable(client: TestClient,
                                                                world: World,
                                                                value: str) -> None:
    url = await grant_url(client, world)
    response = await client.get(url, headers={**auth(world, "agent1"), "Range": value})
    assert response.status == 416
    assert await response.read() == b""
    assert len(world.context.access_log.entries()) == 1


async def test_a_grant_belongs_to_its_user_and_expires(client: TestClient,
                                                       world: World) -> None:
    url = await grant_url(client, world)
    for other in ("agent2", "dpo"):
        stolen = await client.get(url, headers=auth(world, other))
        assert stolen.status == 404
        assert b"RIFF" not in await stolen.read()
    world.clock.offset = timedelta(minutes=11)
    expired = await client.get(url, headers=auth(world, "agent1"))
    assert expired.status == 404
    assert len(world.context.access_log.entries()) == 1


async def test_a_grant_dies_with_the_scope(client: TestClient, world: World) -> None:
    url = await grant_url(client, world, "sup")
    world.context.users.change_access("sup", world.clock(), "tester",
                                      queues=("switchboard",))
    # The old token is revoked; a new one with the new queues cannot use the old grant.
    response = await client.get(url, headers=auth(world, "sup"))
    assert response.status == 401


async def test_many_concurrent_bad_requests_leave_the_service_working(
        client: TestClient, world: World) -> None:
    bad = [client.get("/api/calls", params={"number": value}, headers=auth(world))
           for value in SQL * 4]
    statuses = {response.status for response in await asyncio.gather(*bad)}
    assert statuses == {400}
    good = await client.get("/api/calls", headers=auth(world))
    assert good.status == 200
