"""Logging in: cookie flags, CSRF, slow and locked failures, expiry, logout, and the
revocation of sessions and tokens when a user's access changes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from callrec.access.roles import Role
from callrec.domain.history import NewCall
from callrec.storage.db import Database
from callrec.storage.tables import LoginAttemptRow
from callrec.web.app import build_app
from tests.web.world import PASSWORD, World, build_world

TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


async def login(client: TestClient, username: str, password: str = PASSWORD,
                token: str | None = None) -> ClientResponse:
    client.session.cookie_jar.clear()      # a fresh browser
    form = await client.get("/login")
    found = TOKEN_FIELD.search(await form.text())
    assert found is not None
    data = {"csrf_token": found.group(1) if token is None else token,
            "username": username, "password": password}
    return await client.post("/login", data=data, allow_redirects=False)


async def csrf_of(client: TestClient) -> str:
    page = await client.get("/calls")
    found = CSRF_META.search(await page.text())
    assert found is not None and found.group(1)
    return found.group(1)


async def me(client: TestClient) -> int:
    return (await client.get("/api/me")).status


async def test_login_gives_a_strict_httponly_cookie(client: TestClient) -> None:
    response = await login(client, "agent1")
    assert response.status == 303
    assert response.headers["Location"] == "/"
    cookie = next(value for value in response.headers.getall("Set-Cookie")
                  if value.startswith("callrec_session="))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= flags
    assert "SameSite=Strict" in cookie
    assert "Max-Age=28800" in cookie      # the example's 480 minutes
    whoami = await client.get("/api/me")
    assert (await whoami.json())["username"] == "agent1"


async def test_the_login_form_needs_its_own_token(client: TestClient) -> None:
    response = await login(client, "agent1", token="forged")
    assert response.status == 403
    assert await me(client) == 401


async def test_a_login_from_another_site_is_refused(client: TestClient) -> None:
    form = await client.get("/login")
    token = TOKEN_FIELD.search(await form.text())
    assert token is not None
    response = await client.post("/login", allow_redirects=False,
                                 headers={"Origin": "http://evil.example"},
                                 data={"csrf_token": token.group(1), "username": "agent1",
                                       "password": PASSWORD})
    assert response.status == 403
    assert await me(client) == 401


async def test_wrong_password_and_unknown_user_look_the_same(client: TestClient,
                                                             world: World) -> None:
    wrong = await login(client, "agent1", "not the password")
    unknown = await login(client, "nobody", "not the password")
    assert wrong.status == unknown.status == 401
    message = re.compile(r'id="login-message">([^<]*)<')
    assert message.search(await wrong.text()).group(1) == \
        message.search(await unknown.text()).group(1) == "Wrong user name or password."
    with world.database.session() as session:
        failures = session.scalar(select(func.count()).select_from(LoginAttemptRow)
                                  .where(LoginAttemptRow.succeeded.is_(False)))
    assert failures == 2
    assert await me(client) == 401


async def test_repeated_failures_lock_the_name_until_the_window_passes(
        client: TestClient, world: World) -> None:
    for _ in range(world.config.web.lockout_failures):
        assert (await login(client, "agent1", "guess")).status == 401
    locked = await login(client, "agent1")          # even the right password
    assert locked.status == 429
    assert locked.headers["Retry-After"] == str(world.config.web.lockout_minutes * 60)
    assert await me(client) == 401
    assert (await login(client, "agent2")).status == 303   # other names are not locked
    world.clock.offset = timedelta(minutes=world.config.web.lockout_minutes, seconds=1)
    assert (await login(client, "agent1")).status == 303


async def test_unknown_names_lock_too(client: TestClient, world: World) -> None:
    for _ in range(world.config.web.lockout_failures):
        assert (await login(client, "ghost", "guess")).status == 401
    assert (await login(client, "ghost", "guess")).status == 429


async def test_failed_logins_are_slowed(tmp_path: Path, database: Database,
                                        database_url: str,
                                        make_call: Callable[..., NewCall]) -> None:
    world = build_world(tmp_path, database, database_url, make_call,
                        failed_login_delay_ms=300)
    async with TestClient(TestServer(build_app(world.context), host="127.0.0.1")) as client:
        started = time.monotonic()
        assert (await login(client, "agent1", "guess")).status == 401
        slow = time.monotonic() - started
        started = time.monotonic()
        assert (await login(client, "agent1")).status == 303
        fast = time.monotonic() - started
    assert slow >= 0.3 > fast


async def test_a_session_ends_when_its_lifetime_does(client: TestClient,
                                                     world: World) -> None:
    assert (await login(client, "qa")).status == 303
    assert await me(client) == 200
    world.clock.offset = timedelta(minutes=world.config.web.session_minutes, seconds=1)
    assert await me(client) == 401
    page = await client.get("/calls", allow_redirects=False)
    assert (page.status, page.headers["Location"]) == (303, "/login")


async def test_logout_ends_the_session_on_the_server(client: TestClient) -> None:
    assert (await login(client, "qa")).status == 303
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["callrec_session"]
    csrf = await csrf_of(client)
    response = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/login")
    replay = await client.get("/api/me", cookies={"callrec_session": cookie.value})
    assert replay.status == 401


async def test_session_writes_need_the_csrf_token(client: TestClient, world: World) -> None:
    assert (await login(client, "agent1")).status == 303
    path = f"/api/calls/{world.calls['agent1']}/listen"
    body = {"purpose": "complaint"}
    assert (await client.post(path, json=body)).status == 403
    assert (await client.post(path, json=body, headers={"X-CSRF-Token": "x" * 64})).status \
        == 403
    csrf = await csrf_of(client)
    cross = await client.post(path, json=body, headers={"X-CSRF-Token": csrf,
                                                        "Origin": "http://evil.example"})
    assert cross.status == 403
    assert world.context.access_log.entries() == []
    allowed = await client.post(path, json=body, headers={"X-CSRF-Token": csrf})
    assert allowed.status == 201
    assert len(world.context.access_log.entries()) == 1


async def test_a_disabled_user_is_out_at_once(client: TestClient, world: World) -> None:
    assert (await login(client, "agent1")).status == 303
    world.context.users.set_disabled("agent1", True, world.clock())
    assert await me(client) == 401
    token = {"Authorization": f"Bearer {world.tokens['agent1']}"}
    assert (await client.get("/api/me", headers=token)).status == 401
    world.context.users.set_disabled("agent1", False, world.clock())
    assert (await client.get("/api/me", headers=token)).status == 401  # tokens stay revoked
    assert (await login(client, "agent1")).status == 303


@pytest.mark.parametrize("change", [
    {"role": Role.SUPERVISOR, "queues": ("switchboard",)},
    {"queues": ("switchboard",)},
    {"agent_name": "agent9"},
])
async def test_a_change_of_access_revokes_sessions_and_tokens_and_opens_a_review(
        client: TestClient, world: World, change: dict[str, object]) -> None:
    username = "sup" if "queues" in change and "role" not in change else "agent1"
    token = {"Authorization": f"Bearer {world.tokens[username]}"}
    assert (await login(client, username)).status == 303
    assert await me(client) == 200
    assert (await client.get("/api/me", headers=token)).status == 200
    users = world.context.users
    _, what = users.change_access(username, world.clock(), "tester", **change)
    assert what
    assert await me(client) == 401
    assert (await client.get("/api/me", headers=token)).status == 401
    _, entries = users.review_due(world.clock() - timedelta(days=90))
    assert [(e.username, e.opened_by) for e in entries] == [(username, "tester")]
    assert (await login(client, username)).status == 303      # a fresh login works
    assert await me(client) == 200


async def test_a_change_to_the_same_access_revokes_nothing(client: TestClient,
                                                           world: World) -> None:
    assert (await login(client, "sup")).status == 303
    _, what = world.context.users.change_access("sup", world.clock(), "tester",
                                                queues=("servicedesk",))
    assert what == ""
    assert await me(client) == 200
    assert world.context.users.review_due(world.clock() - timedelta(days=90))[1] == []
