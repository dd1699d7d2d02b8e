"""Fixtures for the web tests: a populated world and an HTTP client on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callrec.domain.history import NewCall
from callrec.storage.db import Database
from callrec.web.app import build_app
from tests.web.world import World, build_world


@pytest.fixture
def world(tmp_path: Path, database: Database, database_url: str,
          make_call: Callable[..., NewCall]) -> World:
    return build_world(tmp_path, database, database_url, make_call)


@pytest.fixture
async def client(world: World) -> AsyncIterator[TestClient]:
    server = TestServer(build_app(world.context), host="127.0.0.1", port=0)
    async with TestClient(server) as test_client:
        yield test_client
