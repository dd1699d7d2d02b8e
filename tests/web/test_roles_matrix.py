"""Every role against every endpoint: what each may see, hear and read, and the same 404
for a call outside the scope as for one that does not exist."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient

from callrec.access.roles import CallFilters, Principal, Role, scope_for
from callrec.storage.tables import ObjectionRow
from callrec.web.server import build_context
from tests.web.world import USERS, World

CALL_LABELS = ("agent1", "agent2", "restricted", "objector", "unrecorded")
# What each role's search and lookups must reveal (None: the role has no access to calls).
VISIBLE: dict[str, set[str] | None] = {
    "agent1": {"agent1", "unrecorded"},
    "agent2": {"agent2", "objector"},
    "sup": {"agent1", "objector", "unrecorded"},
    "qa": {"agent1", "agent2", "unrecorded"},
    "maint": {"agent1", "agent2", "objector", "unrecorded"},
    "dpo": {"agent1", "agent2", "restricted", "objector", "unrecorded"},
    "admin": None,
}
USERNAMES = [user[0] for user in USERS]
MADE_UP = "0123456789abcdef0123456789abcdef"


def bearer(world: World, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[username]}"}


def test_the_matrix_covers_every_role() -> None:
    assert set(VISIBLE) == set(USERNAMES)


@pytest.mark.parametrize("username", USERNAMES)
async def test_search_shows_exactly_the_scope(client: TestClient, world: World,
                                              username: str) -> None:
    response = await client.get("/api/calls", headers=bearer(world, username))
    expected = VISIBLE[username]
    if expected is None:
        assert response.status == 403
        return
    assert response.status == 200
    ids = {call["id"] for call in (await response.json())["calls"]}
    assert ids == {world.calls[label] for label in expected}


@pytest.mark.parametrize("username", USERNAMES)
async def test_showing_a_call_is_allowed_exactly_in_scope(client: TestClient, world: World,
                                                          username: str) -> None:
    made_up = await client.get(f"/api/calls/{MADE_UP}", headers=bearer(world, username))
    expected = VISIBLE[username]
    if expected is None:
        assert made_up.status == 403
        return
    assert made_up.status == 404
    not_found = await made_up.read()
    for label in CALL_LABELS:
        response = await client.get(f"/api/calls/{world.calls[label]}",
                                    headers=bearer(world, username))
        if label in expected:
            assert response.status == 200, label
            assert (await response.json())["id"] == world.calls[label]
        else:
            assert response.status == 404, label
            assert await response.read() == not_found, label


@pytest.mark.parametrize("username", USERNAMES)
async def test_listening_is_allowed_exactly_in_scope_and_logged(
        client: TestClient, world: World, username: str) -> None:
    expected = VISIBLE[username] or set()
    body = {"purpose": "quality", "note": "INC-1234"}
    for label in CALL_LABELS:
        before = len(world.context.access_log.entries())
        response = await client.post(f"/api/calls/{world.calls[label]}/listen", json=body,
                                     headers=bearer(world, username))
        after = world.context.access_log.entries()
        if VISIBLE[username] is None:
            assert response.status == 403, label
        elif label in expected and label != "unrecorded":
            assert response.status == 201, label
            grant = await response.json()
            assert len(after) == before + 1
            assert (after[0].seq, after[0].event.username, after[0].event.call_id) == (
                grant["access_seq"], username, world.calls[label])
            audio = await client.get(grant["url"], headers=bearer(world, username))
            assert audio.status == 200
            assert audio.headers["Content-Type"] == "audio/wav"
            assert (await audio.read())[:4] == b"RIFF"
            continue
        else:
            assert response.status == 404, label
        assert len(after) == before, f"{label}: a refused listen was logged"


@pytest.mark.parametrize("username", USERNAMES)
async def test_access_log_is_for_the_dpo_only(client: TestClient, world: World,
                                              username: str) -> None:
    response = await client.get("/api/access-log", headers=bearer(world, username))
    assert response.status == (200 if username == "dpo" else 403)


@pytest.mark.parametrize("username", USERNAMES)
async def test_user_list_is_for_admin_and_dpo(client: TestClient, world: World,
                                              username: str) -> None:
    response = await client.get("/api/users", headers=bearer(world, username))
    assert response.status == (200 if username in ("admin", "dpo") else 403)
    if response.status == 200:
        names = {user["username"] for user in (await response.json())["users"]}
        assert names == set(USERNAMES)


@pytest.mark.parametrize("username", USERNAMES)
async def test_me_names_the_token_owner(client: TestClient, world: World,
                                        username: str) -> None:
    response = await client.get("/api/me", headers=bearer(world, username))
    assert response.status == 200
    assert (await response.json())["username"] == username


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/me"), ("GET", "/api/calls"), ("GET", f"/api/calls/{MADE_UP}"),
    ("POST", f"/api/calls/{MADE_UP}/listen"), ("GET", "/api/listen/abcdefghijklmnopqrstuvwx"),
    ("GET", "/api/access-log"), ("GET", "/api/users"),
])
@pytest.mark.parametrize("credentials", ["none", "wrong token", "not bearer"])
async def test_every_api_endpoint_wants_credentials(client: TestClient, method: str, path: str,
                                                    credentials: str) -> None:
    headers = {"none": {}, "wrong token": {"Authorization": "Bearer crt_nope"},
               "not bearer": {"Authorization": "Basic YWRtaW46YWRtaW4="}}[credentials]
    response = await client.request(method, path, headers=headers, json={"purpose": "quality"})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "error" in await response.json()


async def test_maintainers_must_say_why(client: TestClient, world: World) -> None:
    path = f"/api/calls/{world.calls['agent1']}/listen"
    response = await client.post(path, json={"purpose": "technical"},
                                 headers=bearer(world, "maint"))
    assert response.status == 400
    assert "note" in (await response.json())["error"]
    assert world.context.access_log.entries() == []
    response = await client.post(path, json={"purpose": "technical", "note": "INC-7"},
                                 headers=bearer(world, "maint"))
    assert response.status == 201
    assert world.context.access_log.entries()[0].event.note == "INC-7"


async def test_openapi_description_is_public(client: TestClient) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    assert (await response.json())["openapi"].startswith("3.")


async def test_a_download_is_logged_as_one_and_served_as_an_attachment(
        client: TestClient, world: World) -> None:
    call_id = world.calls["agent2"]
    response = await client.post(f"/api/calls/{call_id}/listen",
                                 json={"purpose": "complaint", "download": True},
                                 headers=bearer(world, "qa"))
    assert response.status == 201
    grant = await response.json()
    assert grant["action"] == "download"
    [entry] = world.context.access_log.entries()
    assert (entry.event.action, entry.event.purpose, entry.event.role) == (
        "download", "complaint", "quality")
    audio = await client.get(grant["url"], headers=bearer(world, "qa"))
    assert audio.headers["Content-Disposition"] == f'attachment; filename="{call_id}.wav"'
    assert (await audio.read())[:4] == b"RIFF"


def test_quality_scope_uses_the_rights_register(world: World) -> None:
    """Wired without a stand-in, the scope reads objections from the rights tables."""
    context = build_context(world.config, world.database)
    quality = scope_for(Principal(1, "qa", Role.QUALITY))
    everyone = {world.calls[label] for label in ("agent1", "agent2", "objector",
                                                  "unrecorded")}
    assert {c.id for c in context.calls.search(quality, CallFilters())} == everyone
    with world.database.session() as session:
        session.add(ObjectionRow(subject_number="+358409999999", objected_at=datetime.now(UTC),
                                 request_reference="REQ-1", actor="dpo"))
    assert {c.id for c in context.calls.search(quality, CallFilters())} == \
        everyone - {world.calls["objector"]}
    assert context.calls.get(quality, world.calls["objector"]) is None
