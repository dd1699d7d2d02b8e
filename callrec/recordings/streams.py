"""Reading a recording as a stream, whatever stores it: in chunks, never whole in memory
(a recording can be hours of audio)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO

CHUNK_BYTES = 1 << 20


def chunks(stream: BinaryIO) -> Iterator[bytes]:
    """The stream's bytes to its end, a chunk at a time."""
    yield from iter(lambda: stream.read(CHUNK_BYTES), b"")


def size_and_sha256(stream: BinaryIO) -> tuple[int, str]:
    """(bytes, SHA-256 hex) of what the stream holds from here to its end."""
    return pieces_size_and_sha256(chunks(stream))


def pieces_size_and_sha256(pieces: Iterable[bytes]) -> tuple[int, str]:
    """(bytes, SHA-256 hex) of the pieces, joined."""
    digest = hashlib.sha256()
    size = 0
    for piece in pieces:
        digest.update(piece)
        size += len(piece)
    return size, digest.hexdigest()
