"""ARI events into the Telephony port: hangup times taken from Asterisk's own stamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from callrec.ari.telephony import AriTelephony

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def channel() -> dict[str, Any]:
    return {"id": "1764.7", "caller": {"number": "0401234567", "name": "x"},
            "dialplan": {"exten": "0201234500"}}


@pytest.mark.parametrize(("stamp", "expected"), [
    ("2026-11-24T22:10:01.123+0000", datetime(2026, 11, 24, 22, 10, 1, 123000, tzinfo=UTC)),
    ("2026-11-25T00:10:01.500+0200", datetime(2026, 11, 24, 22, 10, 1, 500000, tzinfo=UTC)),
    ("2026-11-24T22:10:01.123", NOW),   # no zone: not trusted, our clock instead
    ("2026-11-24", NOW),
    ("yesterday", NOW),
    (None, NOW),
])
async def test_hangup_time_is_asterisks_stamp_when_it_is_a_full_one(
        stamp: str | None, expected: datetime) -> None:
    telephony = AriTelephony(client=None, app="callrec", queue_context="callrec-queue",  # type: ignore[arg-type]
                             agi_url="agi://127.0.0.1/agent-connected", clock=lambda: NOW)
    call = telephony.handle_event({"type": "StasisStart", "args": ["linkedid=1764.7"],
                                   "channel": channel(), "asterisk_id": "node"})
    assert call is not None and call.linkedid == "1764.7"
    end: dict[str, Any] = {"type": "StasisEnd", "channel": channel()}
    if stamp is not None:
        end["timestamp"] = stamp
    telephony.handle_event(end)
    assert (await telephony.wait_for_hangup("1764.7")).at == expected
