"""The fake-ARI call-path benchmark drives real calls through a real ``callrec serve``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.callpath import CallpathBench, CallpathSettings


@pytest.mark.parametrize("requests", ["websocket", "http"])
async def test_a_few_calls_are_finished_answered_and_measured(
        tmp_path: Path, requests: str) -> None:
    bench = CallpathBench(tmp_path / "bench", CallpathSettings(
        calls=5, rate=20.0, notice=0.1, talk=0.1, ari_requests=requests))
    result = await bench.run()
    assert (result["finished_rows"], result["answered_rows"]) == (5, 5)
    assert result["cpu_ms_per_call"] > 0 and result["ari_requests"] == requests
    split = result["user_ms_per_call"] + result["system_ms_per_call"]
    assert abs(result["cpu_ms_per_call"] - split) < 0.02
    answers_on_socket = [uri for _, uri in bench.ari.socket_requests if uri.endswith("/answer")]
    # 20 warm-up calls and the 5 measured ones, each answered on the chosen transport.
    assert len(answers_on_socket) == (25 if requests == "websocket" else 0)
