"""AMI against the lab's real Asterisk: callrec's user logs in, MixMonitorMute is accepted
for a live channel that is being recorded (by unique id, as callrec stores it), refused
for a channel that does not exist, and the user may not send other classes of action."""

from __future__ import annotations

import asyncio

import pytest

from callrec.calls.ami import AmiClient, AmiRecordingMuter
from callrec.errors import AmiActionFailed, AmiCredentialsRejected
from callrec.lab.asterisk import AsteriskLab

# The benchmarks' floor number: answer, notice, MixMonitor, Queue(bench) in plain dialplan.
RECORDED_NUMBER = "0299900000"


async def recorded_channel(lab: AsteriskLab) -> tuple[str, str]:
    """(unique id, name) of a Local channel once its MixMonitor runs (it waits in Queue)."""
    await asyncio.to_thread(lab.cli, f"channel originate Local/{RECORDED_NUMBER}"
                            "@callrec-incoming application Wait 30")
    for _ in range(100):
        concise = await asyncio.to_thread(lab.cli, "core show channels concise")
        for line in concise.splitlines():
            fields = line.split("!")
            if fields[0].endswith(";2") and fields[5] == "Queue":
                return fields[-1], fields[0]
        await asyncio.sleep(0.2)
    pytest.fail("the Local channel never reached Queue (after MixMonitor)")


async def test_mixmonitormute_on_a_live_recorded_channel(lab: AsteriskLab) -> None:
    client = AmiClient("127.0.0.1", lab.ami_port, lab.ami_username, lab.ami_password)
    muter = AmiRecordingMuter(client)
    try:
        unique_id, name = await recorded_channel(lab)
        await muter.mute(unique_id)
        await muter.unmute(unique_id)
        await muter.mute(name)       # a channel name works as well
        await muter.unmute(name)
        with pytest.raises(AmiActionFailed, match="No such channel"):
            await muter.mute("1.999999")
        with pytest.raises(AmiActionFailed, match="Permission denied"):
            await client.action("Originate", Channel="Local/s@callrec-agents",
                                Application="Wait", Data="1")
    finally:
        await client.close()
        await asyncio.to_thread(lab.cli, "channel request hangup all")


async def test_wrong_secret_is_refused_by_asterisk(lab: AsteriskLab) -> None:
    client = AmiClient("127.0.0.1", lab.ami_port, lab.ami_username, "not-the-secret")
    with pytest.raises(AmiCredentialsRejected):
        await client.action("Ping")
