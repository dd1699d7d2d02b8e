"""Schema-driven fuzzing: schemathesis generates requests from openapi.json (valid and
invalid ones) and checks every answer against the description: no server errors, only
documented status codes, content types and response shapes, and invalid input refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation.case import Case

from callrec.web.app import STATIC_DIR
from tests.web.live import live_server
from tests.web.world import World

OPENAPI = STATIC_DIR.parent / "openapi.json"


@pytest.fixture
def live_url(world: World) -> Iterator[str]:
    with live_server(world.context) as url:
        yield url


schema = schemathesis.openapi.from_dict(json.loads(OPENAPI.read_text(encoding="utf-8")))


def call_as(case: Case, world: World, url: str, username: str) -> None:
    before = len(world.context.access_log.entries())
    # A schema cannot say which strings are phone numbers or which "from" comes before
    # "to": a schema-valid search may rightly be refused. Elsewhere it must be accepted.
    excluded = [positive_data_acceptance] if case.operation.path == "/api/calls" else []
    response = case.call_and_validate(
        base_url=url, headers={"Authorization": f"Bearer {world.tokens[username]}"},
        excluded_checks=excluded)
    after = len(world.context.access_log.entries())
    # Only a documented success of the listen operation may add to the access log.
    if after != before:
        assert case.operation.path == "/api/calls/{call_id}/listen"
        assert response.status_code == 201


FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@schema.parametrize()
@FUZZ
def test_api_as_the_dpo(case: Case, world: World, live_url: str) -> None:
    call_as(case, world, live_url, "dpo")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@schema.parametrize()
@FUZZ
def test_api_as_an_agent(case: Case, world: World, live_url: str) -> None:
    call_as(case, world, live_url, "agent1")


def test_the_description_names_every_route(world: World) -> None:
    from callrec.web.app import build_app

    described = set(json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"])
    routes = {resource.canonical for resource in build_app(world.context).router.resources()
              if resource.canonical.startswith("/api/")}
    assert routes == described


def test_the_description_is_valid_openapi() -> None:
    raw = json.loads(Path(OPENAPI).read_text(encoding="utf-8"))
    loaded = schemathesis.openapi.from_dict(raw)
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) == 10   # the two pause operations included
