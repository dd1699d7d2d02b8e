"""A small client for Asterisk's manager interface (AMI), and the recording muter on it.

callrec needs AMI for one thing ARI cannot do: ``MixMonitorMute`` silences what a running
MixMonitor writes (both directions) while the conversation itself goes on. ARI's
``channels/{id}/mute`` would silence the call for the people on it, so it is not used.

The protocol: on connect Asterisk sends one banner line (``Asterisk Call Manager/9.0.0``);
after that, both sides send messages of ``Key: Value`` lines ended by an empty line. Every
action carries an ``ActionID`` and its ``Response`` echoes it. callrec logs in with
``Events: off``, so nothing but responses should arrive; an event that does (an older
Asterisk ignoring it) is dropped.

Errors are the :class:`~callrec.errors.AmiError` tree only: a lost or refused connection is
:class:`AmiConnectionError`, a wrong secret :class:`AmiCredentialsRejected`, bytes that are
not AMI :class:`AmiProtocolError`, ``Response: Error`` :class:`AmiActionFailed`. The client
keeps no module-level state: every connection belongs to one :class:`AmiClient`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Mapping

import structlog

from callrec.errors import (
    AmiActionFailed,
    AmiConnectionError,
    AmiCredentialsRejected,
    AmiError,
    AmiProtocolError,
)

AmiMessage = dict[str, str]

MAX_LINE = 8192           # bytes in one line, its CRLF included
MAX_FIELDS = 256          # lines in one message
BANNER_PREFIX = "Asterisk Call Manager/"
CONNECT_TIMEOUT = 3.0
ACTION_TIMEOUT = 5.0


class AmiParser:
    """Splits AMI's byte stream into messages. Total: any input gives messages or raises
    :class:`AmiProtocolError`, nothing else; a broken stream stays broken."""

    def __init__(self, expect_banner: bool = True) -> None:
        self._buffer = bytearray()
        self._fields: AmiMessage = {}
        self._lines = 0
        self._expect_banner = expect_banner
        self.banner: str | None = None
        self._broken: AmiProtocolError | None = None

    def feed(self, data: bytes) -> list[AmiMessage]:
        if self._broken is not None:
            raise self._broken
        self._buffer += data
        messages: list[AmiMessage] = []
        try:
            while (end := self._buffer.find(b"\n")) >= 0:
                line = bytes(self._buffer[:end + 1])
                del self._buffer[:end + 1]
                message = self._line(line)
                if message is not None:
                    messages.append(message)
            if len(self._buffer) >= MAX_LINE:
                raise AmiProtocolError(f"AMI line longer than {MAX_LINE} bytes")
        except AmiProtocolError as exc:
            self._broken = exc
            raise
        return messages

    def _line(self, raw: bytes) -> AmiMessage | None:
        if len(raw) > MAX_LINE:
            raise AmiProtocolError(f"AMI line longer than {MAX_LINE} bytes")
        # Values are free text (channel names, messages); a bad byte must not stop us.
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if self._expect_banner:
            if not line.startswith(BANNER_PREFIX):
                raise AmiProtocolError(f"not an AMI banner: {line[:80]!r}")
            self._expect_banner, self.banner = False, line
            return None
        if not line:
            if not self._fields:
                return None   # a stray empty line between messages
            message, self._fields, self._lines = self._fields, {}, 0
            return message
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise AmiProtocolError(f"AMI line without 'Key: Value': {line[:80]!r}")
        self._lines += 1
        if self._lines > MAX_FIELDS:
            raise AmiProtocolError(f"AMI message of more than {MAX_FIELDS} lines")
        # A repeated key (ChanVariable, Output) keeps its last value: callrec reads none.
        self._fields[key.strip().lower()] = value.strip()
        return None


def encode_action(action: str, action_id: str, fields: Mapping[str, str]) -> bytes:
    """One action as AMI wants it. A CR or LF in a value would start a line of its own,
    i.e. inject a header or a whole action: refused."""
    lines = [("Action", action), ("ActionID", action_id), *fields.items()]
    for key, value in lines:
        if any(c in f"{key}{value}" for c in "\r\n") or ":" in key:
            raise ValueError(f"AMI field {key!r} holds a line break or a colon")
    return "".join(f"{key}: {value}\r\n" for key, value in lines).encode("utf-8") + b"\r\n"


class _Connection:
    """One logged-in TCP connection; its reader task hands responses to their waiters."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 parser: AmiParser) -> None:
        self._reader, self._writer, self._parser = reader, writer, parser
        self._waiting: dict[str, asyncio.Future[AmiMessage]] = {}
        self._ids = itertools.count(1)
        self._task = asyncio.create_task(self._read_forever(), name="ami-reader")
        self._lost: AmiError | None = None

    @property
    def alive(self) -> bool:
        return self._lost is None

    async def send(self, action: str, fields: Mapping[str, str],
                   seconds: float) -> AmiMessage:
        if self._lost is not None:
            raise self._lost
        action_id = f"callrec-{next(self._ids)}"
        payload = encode_action(action, action_id, fields)
        answer: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._waiting[action_id] = answer
        try:
            self._writer.write(payload)
            await self._writer.drain()
            async with asyncio.timeout(seconds):
                return await answer
        except TimeoutError:   # before OSError, of which it is a subclass
            # Asterisk may be stuck: this connection is no longer trusted with answers.
            lost = AmiConnectionError(f"no AMI answer to {action} in {seconds:g} s")
            self._fail(lost)
            raise lost from None
        except OSError as exc:
            lost = AmiConnectionError(f"AMI connection broke: {exc}")
            self._fail(lost)
            raise lost from None
        finally:
            self._waiting.pop(action_id, None)

    async def _read_forever(self) -> None:
        try:
            while chunk := await self._reader.read(65536):
                for message in self._parser.feed(chunk):
                    waiter = self._waiting.get(message.get("actionid", ""))
                    if waiter is not None and not waiter.done() and "response" in message:
                        waiter.set_result(message)
            self._fail(AmiConnectionError("AMI closed the connection"))
        except AmiProtocolError as exc:
            self._fail(exc)
        except OSError as exc:
            self._fail(AmiConnectionError(f"AMI connection broke: {exc}"))

    def _fail(self, error: AmiError) -> None:
        if self._lost is None:
            self._lost = error
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(self._lost)
        self._writer.close()

    async def close(self) -> None:
        self._fail(AmiConnectionError("AMI connection closed by callrec"))
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class AmiClient:
    """AMI on one connection, opened (and logged in) on first use and again after it
    broke: an action finding the connection gone reconnects once before it fails."""

    def __init__(self, host: str, port: int, username: str, secret: str, *,
                 connect_timeout: float = CONNECT_TIMEOUT,
                 action_timeout: float = ACTION_TIMEOUT) -> None:
        self._host, self._port = host, port
        self._username, self._secret = username, secret
        self._connect_timeout, self._action_timeout = connect_timeout, action_timeout
        self._connection: _Connection | None = None
        self._connecting = asyncio.Lock()
        self._log = structlog.get_logger("callrec.calls.ami")

    async def action(self, action: str, **fields: str) -> AmiMessage:
        """Send one action and return its ``Response: Success`` message.

        Only for actions that may safely be sent twice (MixMonitorMute is: it sets a
        state): one that was cut off by a broken connection is sent again once."""
        for attempt in (1, 2):
            connection = await self._connected()
            try:
                reply = await connection.send(action, fields, self._action_timeout)
            except AmiConnectionError:
                if attempt == 2:
                    raise
                self._log.info("ami_reconnecting", action=action)
                continue
            if reply.get("response", "").lower() != "success":
                raise AmiActionFailed(action, reply.get("message", ""))
            return reply
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _connected(self) -> _Connection:
        async with self._connecting:
            if self._connection is not None and self._connection.alive:
                return self._connection
            if self._connection is not None:
                await self._connection.close()
                self._connection = None
            self._connection = await self._open()
            return self._connection

    async def _open(self) -> _Connection:
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(self._host, self._port)
        except (OSError, TimeoutError) as exc:
            raise AmiConnectionError(
                f"cannot reach AMI at {self._host}:{self._port}: {exc or 'timeout'} "
                "(hint: manager.conf enabled/bindaddr/port, [ami] in callrec.toml)") from None
        connection = _Connection(reader, writer, AmiParser())
        try:
            reply = await connection.send("Login", {"Username": self._username,
                                                    "Secret": self._secret,
                                                    "Events": "off"}, self._connect_timeout)
        except AmiError:
            await connection.close()
            raise
        if reply.get("response", "").lower() != "success":
            await connection.close()
            raise AmiCredentialsRejected(
                f"AMI refused the login of {self._username!r}: {reply.get('message', '')[:200]}"
                " (hint: [ami] username/password must match manager.conf)")
        self._log.info("ami_connected", host=self._host, port=self._port)
        return connection


class AmiRecordingMuter:
    """The pause service's :class:`~callrec.pause.ports.RecordingMuter` over AMI.

    ``MixMonitorMute`` finds the channel by name or, failing that, by unique id: callrec
    stores the caller's unique id, which MixMonitor runs on ([callrec-queue])."""

    def __init__(self, client: AmiClient) -> None:
        self._client = client

    async def mute(self, channel_id: str) -> None:
        await self._set(channel_id, "1")

    async def unmute(self, channel_id: str) -> None:
        await self._set(channel_id, "0")

    async def _set(self, channel_id: str, state: str) -> None:
        await self._client.action("MixMonitorMute", Channel=channel_id, Direction="both",
                                  State=state)
