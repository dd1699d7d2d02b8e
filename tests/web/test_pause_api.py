"""POST /api/calls/{id}/pause and /resume: who may, what is stored and logged, and the
statuses (404 outside the scope, 403 by the rule, 409 by the call's state). The muter is
a stand-in here; tests/integration/test_pause.py mutes a real MixMonitor over AMI."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from callrec.domain.history import NewCall
from callrec.storage.pauses_dao import SqlPauses
from tests.web.world import World, open_live_call

Client = TestClient[web.Request, web.Application]

def bearer(world: World, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[username]}"}


@pytest.fixture
def live(world: World, make_call: Callable[..., NewCall]) -> NewCall:
    return open_live_call(world, make_call)


async def test_the_agent_pauses_and_resumes_their_live_call(
        client: Client, world: World, live: NewCall) -> None:
    response = await client.post(f"/api/calls/{live.id}/pause", headers=bearer(world, "agent1"))
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["paused"] is True and body["call_id"] == live.id
    assert body["pause"]["method"] == "api" and body["pause"]["paused_by"] == "agent1"
    assert 19_000 <= body["pause"]["start_offset_ms"] <= 25_000
    assert world.muter.muted == {live.channel_id}

    response = await client.post(f"/api/calls/{live.id}/resume",
                                 headers=bearer(world, "agent1"))
    assert response.status == 200
    assert (await response.json())["paused"] is False
    assert world.muter.muted == set()
    (pause,) = SqlPauses(world.database).of_calls([live.id])[live.id]
    assert (pause.resumed_by, pause.auto_resumed) == ("agent1", False)
    logged = [(e.event.username, e.event.action, e.event.purpose)
              for e in world.context.access_log.entries(call_id=live.id)]
    assert sorted(logged) == [("agent1", "pause", "api"), ("agent1", "resume", "api")]


async def test_another_agent_cannot_see_let_alone_pause_the_call(
        client: Client, world: World, live: NewCall) -> None:
    response = await client.post(f"/api/calls/{live.id}/pause", headers=bearer(world, "agent2"))
    assert response.status == 404
    assert world.muter.asked == []
    assert world.context.access_log.entries(call_id=live.id) == []


async def test_a_supervisor_may_resume_but_not_pause(
        client: Client, world: World, live: NewCall) -> None:
    response = await client.post(f"/api/calls/{live.id}/pause", headers=bearer(world, "sup"))
    assert response.status == 403
    assert world.muter.asked == []
    await client.post(f"/api/calls/{live.id}/pause", headers=bearer(world, "agent1"))
    response = await client.post(f"/api/calls/{live.id}/resume", headers=bearer(world, "sup"))
    assert response.status == 200
    assert world.muter.muted == set()
    (pause,) = SqlPauses(world.database).of_calls([live.id])[live.id]
    assert pause.resumed_by == "sup"


@pytest.mark.parametrize("username", ["qa", "maint", "dpo"])
async def test_other_roles_may_not_pause_a_call_they_can_see(
        client: Client, world: World, live: NewCall, username: str) -> None:
    response = await client.post(f"/api/calls/{live.id}/pause",
                                 headers=bearer(world, username))
    assert response.status == 403 and world.muter.asked == []


async def test_the_calls_state_refuses_with_409(client: Client, world: World,
                                                live: NewCall) -> None:
    response = await client.post(f"/api/calls/{live.id}/resume",
                                 headers=bearer(world, "agent1"))
    assert response.status == 409            # not paused
    ended = world.calls["agent1"]              # a finished call of agent1's
    response = await client.post(f"/api/calls/{ended}/pause", headers=bearer(world, "agent1"))
    assert response.status == 409
    assert world.muter.asked == []
