"""Serving a recording's plaintext with HTTP range requests (RFC 9110 section 14).

The player seeks, so every answer says ``Accept-Ranges: bytes``; one range is served as a
206 with ``Content-Range``; a range that cannot be served (malformed, several ranges,
starting past the end, an empty recording) is a 416 with ``Content-Range: bytes */size``
and no body. A sealed recording is decrypted only for the chunks the range needs, each
verified before any of its bytes leaves (:mod:`callrec.crypto.vault`).

Integrity: the first piece is read before the answer's headers are sent, so a recording
whose header or first chunk fails authentication is a clean 409, never audio. A chunk
further in that fails is found only after bytes went out: then the connection is cut, so
the client holds a short answer (its Content-Length is not met) and never a whole one.
Either way the failure is logged as an error.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import structlog
from aiohttp import web

from callrec.errors import RecordingError, RecordingKeyDestroyed, RecordingTampered
from callrec.recordings.audio import AudioStream

_SINGLE_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")
# Longer numbers than this are past any recording: compared as text, never made int (a
# thousands-digit number would cost the parser, and Python refuses them beyond 4300).
_MAX_DIGITS = 18


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int           # exclusive
    partial: bool      # False: no Range header, the whole recording with a 200

    @property
    def length(self) -> int:
        return self.end - self.start


def requested_range(header: str | None, size: int) -> ByteRange | None:
    """The bytes a ``Range`` header asks for; None when it cannot be satisfied."""
    if header is None:
        return ByteRange(0, size, partial=False)
    match = _SINGLE_RANGE.match(header.strip())
    if match is None:
        return None            # malformed, another unit, or several ranges
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:              # "bytes=-N": the last N bytes
        suffix = _number(last, size)
        return None if suffix == 0 or size == 0 else ByteRange(max(0, size - suffix), size,
                                                              partial=True)
    start = _number(first, size)
    if start >= size:
        return None
    end = size if not last else min(size, _number(last, size) + 1)
    return None if end <= start else ByteRange(start, end, partial=True)


def _number(digits: str, size: int) -> int:
    stripped = digits.lstrip("0") or "0"
    return size + 1 if len(stripped) > _MAX_DIGITS else int(stripped)


def not_satisfiable(size: int) -> web.Response:
    return web.Response(status=416, headers={"Content-Range": f"bytes */{size}",
                                             "Accept-Ranges": "bytes",
                                             "Cache-Control": "private, no-store"})


async def stream_recording(request: web.Request, open_audio: Callable[[], AudioStream],
                           call_id: str, headers: Mapping[str, str]) -> web.StreamResponse:
    """Answer ``request`` with the range of the recording it asks for."""
    try:
        audio = await asyncio.to_thread(open_audio)
    except RecordingError as exc:
        raise _refusal(exc, call_id) from None
    try:
        chosen = requested_range(request.headers.get("Range"), audio.size)
        if chosen is None:
            return not_satisfiable(audio.size)
        pieces = audio.read_range(chosen.start, chosen.end)
        try:
            first = await asyncio.to_thread(next, pieces, b"")
        except RecordingError as exc:
            raise _refusal(exc, call_id) from None
        response = web.StreamResponse(status=206 if chosen.partial else 200, headers={
            **headers, "Accept-Ranges": "bytes", "Content-Length": str(chosen.length)})
        if chosen.partial:
            response.headers["Content-Range"] = (f"bytes {chosen.start}-{chosen.end - 1}/"
                                                 f"{audio.size}")
        await response.prepare(request)
        await _send(request, response, first, pieces, call_id)
        return response
    finally:
        await asyncio.to_thread(audio.close)


def _refusal(error: RecordingError, call_id: str) -> Exception:
    """What a recording that cannot be played is answered with (before any byte went)."""
    log = structlog.get_logger("callrec.web")
    if isinstance(error, RecordingTampered):
        log.error("recording_tampered", call_id=call_id, error=str(error))
        return web.HTTPConflict(reason="the recording failed its integrity check and is "
                                "not played; the incident is logged")
    if isinstance(error, RecordingKeyDestroyed):
        log.warning("recording_key_destroyed", call_id=call_id)
        return web.HTTPGone(reason="this recording's key was destroyed (erased or purged)")
    return error   # the middleware's 500, logged there


async def _send(request: web.Request, response: web.StreamResponse, first: bytes,
                pieces: Iterator[bytes], call_id: str) -> None:
    piece = first
    try:
        while piece:
            await response.write(piece)
            piece = await asyncio.to_thread(next, pieces, b"")
    except RecordingError as exc:
        # Headers are gone already: cutting the connection is the only way left to tell
        # the client that what it got is not the recording.
        structlog.get_logger("callrec.web").error(
            "recording_failed_mid_stream", call_id=call_id, error=str(exc),
            tampered=isinstance(exc, RecordingTampered))
        if request.transport is not None:
            request.transport.abort()
        return
    await response.write_eof()
