"""A failure inside callrec never costs a caller their call: the real Asterisk, SIPp peers,
and a PostgreSQL of the test's own that it stops just before a call arrives.

callrec cannot write the call's first row, so it hands the caller back to the dialplan's
fail-open path at once: Asterisk alone plays the notice, records both directions into
.../callrec/failopen/ and queues the caller, who reaches agent1 as usual. Once the
database is back, the next call is callrec's again. (Keeping the failed call's row is the
durable journal's work, not this test's.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from callrec.domain.history import Outcome
from callrec.errors import LabError
from callrec.lab.asterisk import AsteriskLab
from tests.integration.conftest import Agents
from tests.integration.test_lab_failopen import failopen_files, new_recording, notice_seconds
from tests.integration.test_recorded_calls import (
    AGENT1_HZ,
    AGENT2_HZ,
    CALLER_HZ,
    TALK,
    Callrec,
    call,
)
from tests.support.audio import assert_tones
from tests.support.postgres import PostgresInstance


@pytest.fixture
def own_postgres() -> Iterator[PostgresInstance]:
    try:
        server = PostgresInstance()
        server.start()
    except LabError as exc:
        pytest.fail(f"could not start a PostgreSQL of the test's own: {exc}", pytrace=False)
    yield server
    server.close()


def test_database_down_when_a_call_arrives_the_caller_is_still_noticed_recorded_queued(
        lab: AsteriskLab, agents: Agents, tmp_path: Path,
        own_postgres: PostgresInstance) -> None:
    callrec = Callrec(lab, tmp_path, own_postgres.url)
    callrec.process.start()
    try:
        callrec.wait_for_log("resynced")  # callrec is idle and ready: then the database goes
        own_postgres.stop()
        before = failopen_files(lab)
        call("0201234500", "0401234567", "Matti", notice_seconds("fi") + 1 + TALK,
             tmp_path / "sipp-down")
        recording = new_recording(lab, before)
        log = callrec.process.log_path.read_text("utf-8", "replace")

        assert agents.agent1.calls_answered == 1, "the caller never reached the queue"
        assert_tones(recording, present=[CALLER_HZ, AGENT1_HZ], absent=[AGENT2_HZ])
        assert "call_failed" in log and "sent to the fail-open path" in log, log[-3000:]
        assert "stranded" not in log
        assert callrec.process.registered(), "callrec itself must keep running"

        own_postgres.start()
        call("0201234500", "0401234567", "Matti", notice_seconds("fi") + 1 + TALK,
             tmp_path / "sipp-back")
        row = callrec.one_finished_row()
        assert row.outcome is Outcome.ANSWERED and not row.end_estimated
        assert_tones(callrec.recording(row), present=[CALLER_HZ, AGENT1_HZ],
                     absent=[AGENT2_HZ])
        assert agents.agent1.calls_answered == 2
    finally:
        callrec.process.stop()
