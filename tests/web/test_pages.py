"""The browser pages over HTTP: scope, escaping of caller-controlled text, error pages and
the headers that keep personal data out of caches and frames."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestClient

from callrec.domain.history import NewCall
from tests.web.test_sessions import login
from tests.web.world import World

MARKUP = ('<script>alert(1)</script>', '"><img src=x onerror=alert(1)>',
          "</td></tr><tr><td>fake row")


async def page(client: TestClient, path: str) -> tuple[int, str]:
    response = await client.get(path, allow_redirects=False)
    return response.status, await response.text()


async def test_an_agent_sees_their_calls_only(client: TestClient, world: World) -> None:
    assert (await login(client, "agent1")).status == 303
    status, html = await page(client, "/calls")
    assert status == 200
    for label in ("agent1", "unrecorded"):
        assert f'/calls/{world.calls[label]}"' in html
    for label in ("agent2", "restricted", "objector"):
        assert world.calls[label] not in html
    assert html.count('class="row-link"') == 2


async def test_caller_text_is_shown_as_text(client: TestClient, world: World,
                                            make_call: Callable[..., NewCall],
                                            hostile_caller_ids: tuple[str, ...]) -> None:
    for index, text in enumerate((*MARKUP, *hostile_caller_ids)):
        world.add_call(f"hostile{index}", make_call, "agent1", "servicedesk",
                       caller_number_raw=text, caller_number=None, caller_name_raw=text)
    assert (await login(client, "agent1")).status == 303
    status, html = await page(client, "/calls?limit=500")
    assert status == 200
    for text in MARKUP:
        assert text not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count('class="row-link"') == 2 + len(MARKUP) + len(hostile_caller_ids)
    status, detail = await page(client, f"/calls/{world.calls['hostile0']}")
    assert status == 200 and MARKUP[0] not in detail and "&lt;script&gt;" in detail


async def test_the_call_page_offers_purposes_before_playing(client: TestClient,
                                                            world: World) -> None:
    assert (await login(client, "agent1")).status == 303
    status, html = await page(client, f"/calls/{world.calls['agent1']}")
    assert status == 200
    assert 'id="purpose"' in html and 'id="play-button" disabled' in html
    for purpose in ("quality", "training", "complaint", "technical"):
        assert f'<option value="{purpose}">' in html
    status, html = await page(client, f"/calls/{world.calls['unrecorded']}")
    assert status == 200 and 'id="no-recording"' in html and 'id="purpose"' not in html


async def test_another_agents_call_is_not_found_like_a_made_up_one(client: TestClient,
                                                                   world: World) -> None:
    assert (await login(client, "agent1")).status == 303
    other = await page(client, f"/calls/{world.calls['agent2']}")
    made_up = await page(client, "/calls/0123456789abcdef0123456789abcdef")
    assert other == made_up
    assert other[0] == 404 and "no such call" in other[1]


async def test_bad_search_input_is_shown_on_the_form(client: TestClient) -> None:
    assert (await login(client, "qa")).status == 303
    status, html = await page(client, "/calls?number=%27%3B+DROP+TABLE+calls%3B+--")
    assert status == 400
    assert 'id="search-message"' in html and "is not a phone number" in html
    assert 'id="search-form"' in html


async def test_search_form_filters(client: TestClient, world: World) -> None:
    assert (await login(client, "dpo")).status == 303
    status, html = await page(client, "/calls?number=040+999+9999&service=&queue=&agent="
                                      "&from=2026-01-01T00%3A00&to=")
    assert status == 200
    assert html.count('class="row-link"') == 1 and world.calls["objector"] in html


async def test_admin_manages_users_but_hears_nothing(client: TestClient, world: World) -> None:
    assert (await login(client, "admin")).status == 303
    status, _ = await page(client, "/")
    assert status == 303
    status, html = await page(client, "/users")
    assert status == 200 and "agent1" in html and "maint" in html
    status, html = await page(client, "/calls")
    assert status == 403 and "admin role has no access to calls" in html
    status, _ = await page(client, f"/calls/{world.calls['agent1']}")
    assert status == 403


@pytest.mark.parametrize("path", ["/login", "/calls", "/api/calls", "/api/openapi.json"])
async def test_responses_carry_protective_headers(client: TestClient, world: World,
                                                  path: str) -> None:
    assert (await login(client, "qa")).status == 303
    response = await client.get(path)
    headers = response.headers
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
