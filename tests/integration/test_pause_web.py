"""The secure pause through callrec web's API on the real lab: the web app (with its own
PauseService and AMI connection, as ``callrec web`` builds it) pauses a live call that
``callrec serve`` runs, and another agent cannot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from callrec.access.credentials import new_api_token, secret_hash
from callrec.access.roles import Role
from callrec.app import utc_now
from callrec.calls.pausing import build_pausing
from callrec.config import Config, load_config
from callrec.pause.model import PauseMethod
from callrec.storage.credentials_dao import SqlCredentials
from callrec.storage.db import Database
from callrec.storage.pauses_dao import ToThread
from callrec.storage.users_dao import SqlUsers
from callrec.web.app import build_app
from callrec.web.server import build_context
from tests.integration import test_pause as lab_pause
from tests.integration.conftest import Agents
from tests.integration.test_pause import (
    A_HZ,
    CALLER_PARTIES,
    Phones,
    notice_seconds,
    pauses_of,
    silent_spans,
    steps,
    tone_file,
)
from tests.integration.test_recorded_calls import Callrec

start_callrec, callrec_sqlite, phones = (lab_pause.start_callrec, lab_pause.callrec_sqlite,
                                         lab_pause.phones)


async def _web_pauses(context_config: Config, database_url: str, call_id: str,
                      tokens: dict[str, str]) -> list[tuple[str, int]]:
    """agent2 then agent1 pause, agent1 resumes three seconds later, through callrec
    web's own app with its own PauseService and AMI connection: (who, status) each."""
    database = Database.open(database_url)
    pausing = build_pausing(context_config, database, ToThread(), utc_now)
    assert pausing is not None
    app = build_app(build_context(context_config, database, pausing=pausing.service))
    answers = []
    try:
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            for who, action in (("agent2", "pause"), ("agent1", "pause"),
                                ("agent1", "resume")):
                if action == "resume":
                    await asyncio.sleep(3)
                response = await client.post(
                    f"/api/calls/{call_id}/{action}",
                    headers={"Authorization": f"Bearer {tokens[who]}"})
                answers.append((f"{who} {action}", response.status))
    finally:
        await pausing.close()
        database.dispose()
    return answers


def test_web_api_pause_on_the_lab_and_not_by_another_agent(
        callrec_sqlite: Callrec, phones: Phones, agents: Agents, tmp_path: Path) -> None:
    database = Database.open(callrec_sqlite.database_url)
    tokens = {}
    try:
        for name in ("agent1", "agent2"):
            SqlUsers(database).add(name, Role.AGENT, (), name, None, utc_now())
            tokens[name] = new_api_token()
            SqlCredentials(database).add_token(name, "lab", secret_hash(tokens[name]),
                                               utc_now(), None)
    finally:
        database.dispose()
    notice = notice_seconds("fi")
    caller_tone = tone_file(tmp_path / "caller.wav", [(A_HZ, 60)])
    sipp = phones.call("0201234500", caller_tone,
                       steps(CALLER_PARTIES, ("pause", round((notice + 12) * 1000))), 60)
    (row,) = callrec_sqlite.wait_for(lambda rows: len(rows) == 1 and rows[0].agent
                                     is not None, "agent1 answering")
    time.sleep(1.5)
    config = load_config(callrec_sqlite.config_path)
    answers = asyncio.run(_web_pauses(config, callrec_sqlite.database_url, row.id, tokens))
    assert answers == [("agent2 pause", 404), ("agent1 pause", 200), ("agent1 resume", 200)]
    result = sipp.wait()
    assert result.message is None, result.message
    row = callrec_sqlite.one_finished_row()
    (pause,) = pauses_of(callrec_sqlite, row.id)
    assert (pause.paused_by, pause.method, pause.resumed_by) == ("agent1", PauseMethod.API,
                                                                 "agent1")
    assert pause.end_offset_ms is not None
    (silence,) = silent_spans(callrec_sqlite.recording(row))
    assert abs(silence[0] - pause.start_offset_ms) <= 100, (silence, pause)
    assert abs(silence[1] - pause.end_offset_ms) <= 100, (silence, pause)
