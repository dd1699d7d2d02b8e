"""Reading a recording as a stream, whatever stores it: in chunks, never whole in memory
(a recording can be hours of audio)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

CHUNK_BYTES = 1 << 20


def chunks(stream: BinaryIO) -> Iterator[bytes]:
    """The stream's bytes to its end, a chunk at a time."""
    yield from iter(lambda: stream.read(CHUNK_BYTES), b"")


def size_and_sha256(stream: BinaryIO) -> tuple[int, str]:
    """(bytes, SHA-256 hex) of what the stream holds from here to its end."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks(stream):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()
