"""The errors middleware answers each error of the tree with the status of its table: JSON
under /api/, the error page elsewhere, details in the log and never in the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from callrec.errors import (
    AccessDenied,
    AriConnectionError,
    CallrecError,
    ConfigError,
    InputError,
    RecordingError,
    StorageError,
)
from callrec.web.middleware import errors
from callrec.web.render import TEMPLATES, environment

Client = TestClient[web.Request, web.Application]
# Each handler raises one of these; the words in capitals must never reach the client.
RAISED: dict[str, CallrecError] = {
    "denied": AccessDenied("SECRET 3 of these calls are restricted (art. 18)"),
    "input": InputError("'limit' must be a whole number 1-500"),
    "storage": StorageError("SECRET database postgresql://callrec@db.internal/callrec"),
    "config": ConfigError("recordings.local_dir", "SECRET /srv/recordings does not exist"),
    "recording": RecordingError("SECRET cannot measure recording 2026/11/x.wav"),
    "ari": AriConnectionError("SECRET no connection to ARI at 127.0.0.1:8088"),
}


async def raise_named(request: web.Request) -> web.StreamResponse:
    raise RAISED[request.match_info["name"]]


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    """Only the errors middleware and the templates: no database, no login."""
    app = web.Application(middlewares=[errors])
    app[TEMPLATES] = environment(ZoneInfo("UTC"))
    app.router.add_get("/api/fail/{name}", raise_named)
    app.router.add_get("/fail/{name}", raise_named)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as test_client:
        yield test_client


@pytest.mark.parametrize(("name", "status"), [
    ("denied", 403), ("input", 400), ("storage", 503), ("config", 500), ("recording", 500),
    ("ari", 503)])
async def test_api_answers_json_with_the_mapped_status(
        client: Client, name: str, status: int) -> None:
    response = await client.get(f"/api/fail/{name}")
    body = await response.json()
    assert (response.status, list(body)) == (status, ["error"])
    assert "SECRET" not in body["error"]


async def test_access_denied_is_a_short_403_without_details(client: Client) -> None:
    response = await client.get("/api/fail/denied")
    assert (response.status, await response.json()) == (
        403, {"error": "you are not allowed to do this"})


async def test_access_denied_on_a_page_is_the_403_page(client: Client) -> None:
    response = await client.get("/fail/denied")
    html = await response.text()
    assert (response.status, response.content_type) == (403, "text/html")
    assert "Not allowed" in html and "you are not allowed to do this" in html
    assert "SECRET" not in html and "restricted" not in html


async def test_input_error_tells_the_user_what_was_wrong(client: Client) -> None:
    response = await client.get("/api/fail/input")
    assert (response.status, await response.json()) == (
        400, {"error": "'limit' must be a whole number 1-500"})


async def test_storage_error_is_a_503_page_and_logged(client: Client) -> None:
    with capture_logs() as logs:
        response = await client.get("/fail/storage")
        html = await response.text()
    assert (response.status, "SECRET" in html) == (503, False)
    assert [(entry["event"], entry["log_level"], entry["path"]) for entry in logs] == [
        ("request_failed", "error", "/fail/storage")]
    assert "postgresql://" in logs[0]["error"]


async def test_a_denial_is_logged_as_a_warning_with_its_reason(client: Client) -> None:
    with capture_logs() as logs:
        await client.get("/api/fail/denied")
    assert [(entry["event"], entry["log_level"], entry["error"]) for entry in logs] == [
        ("request_denied", "warning", str(RAISED["denied"]))]


async def test_a_bad_request_is_not_logged(client: Client) -> None:
    with capture_logs() as logs:
        response = await client.get("/api/fail/input")
    assert (response.status, logs) == (400, [])
