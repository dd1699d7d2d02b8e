"""Every request callrec's ARI client makes exists in Asterisk 22's own API description.

The Swagger files ship in the lab's chroot (GPL-2, so they are read there, not copied in).
The requests are captured from a full call, a reconnect and a restart against the fake
ARI, so a typo in a path or a parameter name fails here even before a real call does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from callrec.lab.asterisk import AsteriskLab
from tests.support.fake_ari import FakeAri
from tests.unit import test_service_fake_ari as flows


def swagger_operations(rest_api: Path) -> dict[tuple[str, str], set[str]]:
    """(method, path regex) -> the query parameter names Asterisk accepts."""
    operations: dict[tuple[str, str], set[str]] = {}
    for file in sorted(rest_api.glob("*.json")):
        for api in json.loads(file.read_text())["apis"]:
            pattern = "^/ari" + re.sub(r"\{[^}]+\}", "[^/]+", api["path"]) + "$"
            for operation in api.get("operations", []):  # resources.json is the index
                names = {p["name"] for p in operation.get("parameters", [])
                         if p["paramType"] == "query"}
                operations[(operation["httpMethod"], pattern)] = names
    return operations


async def test_every_request_callrec_makes_is_in_asterisk_swagger(
        lab: AsteriskLab, tmp_path: Path) -> None:
    operations = swagger_operations(lab.swagger_dir())
    assert len(operations) > 50, "the lab's rest-api files look incomplete"
    fake = FakeAri()
    await fake.start()
    for name in "abc":
        (tmp_path / name).mkdir()
    try:
        await flows.test_a_call_goes_through_notice_queue_agent_and_hangup(tmp_path / "a", fake)
        await flows.test_events_socket_dropped_mid_notice_the_call_still_reaches_the_queue(
            tmp_path / "b", fake)
        await flows.test_restart_mid_call_adopts_the_channel_and_finalises_it(
            tmp_path / "c", fake)
    finally:
        await fake.stop()
    made = set(fake.queries)
    shapes = {(method, re.sub(r"/1700\.\d+", "/ID", path).rsplit("/play/", 1)[0])
              for method, path, _ in made}
    assert shapes >= {("GET", "/ari/events"), ("POST", "/ari/channels/ID/answer"),
                      ("POST", "/ari/channels/ID"), ("POST", "/ari/channels/ID/variable"),
                      ("POST", "/ari/channels/ID/continue"), ("GET", "/ari/channels"),
                      ("PUT", "/ari/applications/callrec/eventFilter")}, shapes
    for method, path, query in made:
        matches = [names for (m, pattern), names in operations.items()
                   if m == method and re.match(pattern, path)]
        assert matches, f"{method} {path} is not an ARI operation of Asterisk 22"
        assert any(query <= names for names in matches), (
            f"{method} {path}: parameters {sorted(query)} not all accepted "
            f"(Asterisk knows {sorted(set().union(*matches))})")
