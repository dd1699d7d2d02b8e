"""REST over the events websocket, against the lab's real Asterisk 22.

The fake ARI imitates Asterisk's RESTResponse; this proves the real one answers the way
callrec's SocketTransport reads it: the probe, JSON bodies both ways, errors as statuses.
The app name is the test's own, so a callrec running on the lab is not disturbed.
"""

from __future__ import annotations

import pytest

from callrec.calls.ari.telephony import EVENTS_USED
from callrec.errors import AriNotFound
from callrec.lab.asterisk import AsteriskLab
from tests.support.ari_socket import socket_client

APP = "callrec-socket-test"


async def test_real_asterisk_answers_requests_on_the_events_socket(lab: AsteriskLab) -> None:
    async with socket_client(lab.ari_url, lab.ari_username, lab.ari_password, APP) as wired:
        client = wired.client
        info = await client.asterisk_info()
        assert info["system"]["entity_id"] and info["system"]["version"].startswith("22.")
        assert await client.get_channel("callrec-no-such-channel") is None
        with pytest.raises(AriNotFound):
            await client.set_variable("callrec-no-such-channel", "X", "a|b c&d=e")
        # A JSON body out, a JSON body back: the filter as Asterisk now holds it.
        reply = await client.request(
            "PUT", f"/applications/{APP}/eventFilter",
            payload={"allowed": [{"type": kind} for kind in EVENTS_USED]})
        assert {entry["type"] for entry in reply["events_allowed"]} == set(EVENTS_USED)
