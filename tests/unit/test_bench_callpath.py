"""The fake-ARI call-path benchmark drives real calls through a real ``callrec serve``."""

from __future__ import annotations

from pathlib import Path

from bench.callpath import CallpathBench, CallpathSettings


async def test_a_few_calls_are_finished_answered_and_measured(tmp_path: Path) -> None:
    result = await CallpathBench(tmp_path / "bench", CallpathSettings(
        calls=5, rate=20.0, notice=0.1, talk=0.1)).run()
    assert (result["finished_rows"], result["answered_rows"]) == (5, 5)
    assert result["cpu_ms_per_call"] > 0
    split = result["user_ms_per_call"] + result["system_ms_per_call"]
    assert abs(result["cpu_ms_per_call"] - split) < 0.02
