"""The AMI client against a tiny fake manager interface on 127.0.0.1, and its parser."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callrec.calls.ami import AmiClient, AmiParser, AmiRecordingMuter, encode_action
from callrec.errors import (
    AmiActionFailed,
    AmiConnectionError,
    AmiCredentialsRejected,
    AmiProtocolError,
)

Reply = Callable[[dict[str, str]], bytes | None]


def response(fields: dict[str, str]) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode() + b"\r\n"


class FakeAmi:
    """Speaks just enough AMI: banner, Login against one secret, other actions answered
    by ``answer`` (default: Success). Records every action it got, per connection."""

    def __init__(self, secret: str = "s3cret") -> None:
        self.secret = secret
        self.actions: list[dict[str, str]] = []
        self.connections = 0
        self.answer: Reply = lambda action: response(
            {"Response": "Success", "ActionID": action["ActionID"], "Message": "ok"})
        self.banner = b"Asterisk Call Manager/9.0.0\r\n"
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def drop_all(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        writer.write(self.banner)
        try:
            while True:
                action: dict[str, str] = {}
                while (line := (await reader.readline()).decode().rstrip("\r\n")):
                    key, _, value = line.partition(": ")
                    action[key] = value
                if not action:
                    return
                self.actions.append(action)
                if action["Action"] == "Login":
                    ok = action.get("Secret") == self.secret
                    writer.write(response({
                        "Response": "Success" if ok else "Error",
                        "ActionID": action["ActionID"],
                        "Message": "Authentication accepted" if ok else "Authentication failed"}))
                else:
                    reply = self.answer(action)
                    if reply is None:
                        continue
                    writer.write(reply)
                await writer.drain()
        except (ConnectionError, OSError):
            return


@pytest.fixture
async def ami() -> AsyncIterator[tuple[FakeAmi, int]]:
    fake = FakeAmi()
    port = await fake.start()
    yield fake, port
    await fake.stop()


async def test_mute_sends_mixmonitormute_for_both_directions(
        ami: tuple[FakeAmi, int]) -> None:
    fake, port = ami
    client = AmiClient("127.0.0.1", port, "callrec", "s3cret")
    muter = AmiRecordingMuter(client)
    await muter.mute("1733.42")
    await muter.unmute("1733.42")
    await client.close()
    login, mute, unmute = fake.actions
    assert login["Action"] == "Login" and login["Events"] == "off"
    assert {k: mute[k] for k in ("Action", "Channel", "Direction", "State")} == {
        "Action": "MixMonitorMute", "Channel": "1733.42", "Direction": "both", "State": "1"}
    assert unmute["State"] == "0"
    assert len({login["ActionID"], mute["ActionID"], unmute["ActionID"]}) == 3
    assert fake.connections == 1


async def test_wrong_secret_is_credentials_rejected(ami: tuple[FakeAmi, int]) -> None:
    _, port = ami
    client = AmiClient("127.0.0.1", port, "callrec", "wrong")
    with pytest.raises(AmiCredentialsRejected, match="refused the login"):
        await client.action("Ping")


async def test_error_response_is_action_failed_with_asterisk_message(
        ami: tuple[FakeAmi, int]) -> None:
    fake, port = ami
    fake.answer = lambda action: response({"Response": "Error", "ActionID": action["ActionID"],
                                           "Message": "No such channel"})
    client = AmiClient("127.0.0.1", port, "callrec", "s3cret")
    with pytest.raises(AmiActionFailed) as caught:
        await AmiRecordingMuter(client).mute("gone.1")
    assert caught.value.message == "No such channel"
    await client.close()


async def test_answers_are_matched_by_action_id_not_order(ami: tuple[FakeAmi, int]) -> None:
    fake, port = ami
    held: list[dict[str, str]] = []

    def answer(action: dict[str, str]) -> bytes | None:
        if action["Action"] == "Ping":
            return response({"Response": "Success", "ActionID": action["ActionID"]})
        held.append(action)
        if len(held) < 2:
            return None
        # Both answered at once, the second first, with an unrelated event in between.
        first, second = held
        return (response({"Response": "Success", "ActionID": second["ActionID"],
                          "Message": second["Channel"]})
                + response({"Event": "Newchannel", "Channel": "x"})
                + response({"Response": "Success", "ActionID": first["ActionID"],
                            "Message": first["Channel"]}))

    fake.answer = answer
    client = AmiClient("127.0.0.1", port, "callrec", "s3cret")
    await client.action("Ping")   # logged in before the two race
    one, two = await asyncio.gather(client.action("MixMonitorMute", Channel="a"),
                                    client.action("MixMonitorMute", Channel="b"))
    assert (one["message"], two["message"]) == ("a", "b")
    await client.close()


async def test_reconnects_after_asterisk_dropped_the_connection(
        ami: tuple[FakeAmi, int]) -> None:
    fake, port = ami
    client = AmiClient("127.0.0.1", port, "callrec", "s3cret")
    await client.action("Ping")
    fake.drop_all()           # Asterisk restarted, say
    await asyncio.sleep(0.05)
    await client.action("Ping")
    assert fake.connections == 2
    assert [a["Action"] for a in fake.actions] == ["Login", "Ping", "Login", "Ping"]
    await client.close()


async def test_nobody_listening_is_a_connection_error() -> None:
    fake = FakeAmi()
    port = await fake.start()
    await fake.stop()
    client = AmiClient("127.0.0.1", port, "callrec", "s3cret", connect_timeout=1)
    with pytest.raises(AmiConnectionError, match="cannot reach AMI"):
        await client.action("Ping")


async def test_no_answer_is_a_connection_error_after_the_timeout(
        ami: tuple[FakeAmi, int]) -> None:
    fake, port = ami
    fake.answer = lambda action: None
    client = AmiClient("127.0.0.1", port, "callrec", "s3cret", action_timeout=0.2)
    with pytest.raises(AmiConnectionError, match="no AMI answer"):
        await client.action("Ping")
    await client.close()


async def test_a_peer_that_is_not_ami_is_a_protocol_error(ami: tuple[FakeAmi, int]) -> None:
    fake, port = ami
    fake.banner = b"HTTP/1.1 400 Bad Request\r\n\r\n"
    client = AmiClient("127.0.0.1", port, "callrec", "s3cret")
    with pytest.raises(AmiProtocolError, match="banner"):
        await client.action("Ping")


def test_parser_splits_messages_across_chunks() -> None:
    parser = AmiParser()
    stream = b"Asterisk Call Manager/9.0.0\r\nResponse: Success\r\nActionID: 1\r\n\r\nEvent: X\n\n"
    messages = [m for i in range(len(stream)) for m in parser.feed(stream[i:i + 1])]
    assert messages == [{"response": "Success", "actionid": "1"}, {"event": "X"}]
    assert parser.banner == "Asterisk Call Manager/9.0.0"


def test_parser_refuses_an_endless_line_and_stays_broken() -> None:
    parser = AmiParser(expect_banner=False)
    with pytest.raises(AmiProtocolError, match="longer"):
        parser.feed(b"Message: " + b"x" * 10_000)
    with pytest.raises(AmiProtocolError):
        parser.feed(b"\r\n\r\n")


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.lists(st.binary(max_size=300), max_size=8))
def test_parser_is_total(expect_banner: bool, chunks: list[bytes]) -> None:
    parser = AmiParser(expect_banner=expect_banner)
    try:
        for chunk in chunks:
            for message in parser.feed(chunk):
                assert message and all(isinstance(v, str) for v in message.values())
    except AmiProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126,
                                                          exclude_characters=":"),
                               min_size=1, max_size=20),
                       st.text(alphabet=st.characters(exclude_categories=("Cs",),
                                                      exclude_characters="\r\n"),
                               max_size=50).map(str.strip),
                       max_size=10))
def test_encoded_action_parses_back(fields: dict[str, str]) -> None:
    fields = {k: v for k, v in fields.items() if k.lower() not in ("action", "actionid")}
    parser = AmiParser(expect_banner=False)
    (message,) = parser.feed(encode_action("Ping", "id-1", fields))
    expected = {"action": "Ping", "actionid": "id-1"}
    expected.update({k.lower(): v for k, v in fields.items()})
    assert message == expected


@pytest.mark.parametrize("value", ["a\r\nAction: Originate", "a\nb", "a\rb"])
def test_line_breaks_in_a_value_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_action("MixMonitorMute", "1", {"Channel": value})
