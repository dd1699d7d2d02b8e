"""The call flow hands the recording to be sealed under the right data subject's key:
the caller's E.164 number, or the call's own subject when the number is withheld."""

from __future__ import annotations

import pytest

from callrec.config import Config
from callrec.domain.history import RecordingFacts
from tests.unit.fakes import MemoryRecordings, ScriptedTelephony
from tests.unit.test_callflow import config, incoming, run_call

__all__ = ["config"]
CALL_ID = f"{1:032x}"
RELATIVE = f"2026/11/24/{CALL_ID}.wav"


@pytest.mark.parametrize(("number", "subject"), [
    ("0401234567", "+358401234567"),
    ("+358 40 123 4567", "+358401234567"),
    (None, f"call:{CALL_ID}"),
    ("anonymous", f"call:{CALL_ID}"),
])
async def test_the_recording_is_finalised_under_its_subject(config: Config, number: str | None,
                                                            subject: str) -> None:
    recordings = MemoryRecordings()
    recordings.written[RELATIVE] = RecordingFacts(RELATIVE, 64044, 4.0, "ab" * 32)
    history = await run_call(config, ScriptedTelephony(), incoming(number), recordings,
                             agent=("agent2", "PJSIP/agent2"))
    (row,) = history.rows.values()
    assert row.recording_path == RELATIVE
    assert recordings.subjects == {RELATIVE: subject}
