"""The sealed recording's format: AES-256-GCM in the STREAM construction, chunk by chunk.

Why this and not one AEAD over the whole file: a recording can be hours long, and the web
player seeks. Each 64 KiB chunk is its own AEAD message, so a reader starts at any chunk,
verifies it, and hands out its bytes; nothing is handed out before its tag is checked.

Why AES-GCM from ``cryptography`` (OpenSSL) rather than libsodium's secretstream: it is
already the most audited AEAD in the Python ecosystem, runs at several hundred MB/s on
one core with AES-NI, and secretstream has no random access (its state ratchets
forward), which the seeking player needs.

STREAM (Hoang, Reyhanitabar, Rogaway, Vizár 2015) makes the chunks one message:

* nonce = 7-byte random prefix (per file) || 4-byte chunk index || 1 byte "last chunk",
  so chunks cannot be reordered, and the stream cannot be cut at a chunk boundary
  (the final chunk must carry the flag);
* every chunk's associated data is the whole header, so the recording id (its path
  relative to the recordings directory), the chunk size and the plaintext size are
  authenticated: a sealed file moved over another recording's name, or truncated, or
  with a doctored size, fails to open.

Layout::

    magic "CRSEAL01" | u16 header length | u32 chunk bytes | u64 plaintext bytes
    | 7-byte nonce prefix | recording id (UTF-8) | chunks (ciphertext || 16-byte tag)...

An empty recording is one empty final chunk. The data key is never in the file: it lives
in the key store (:mod:`callrec.crypto.keystore`), which is what makes erasure reach
copies of the file.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callrec.errors import RecordingTampered

MAGIC = b"CRSEAL01"
CHUNK_BYTES = 64 * 1024
TAG_BYTES = 16
KEY_BYTES = 32
PREFIX_BYTES = 7
_FIXED = struct.Struct(">8sHIQ7s")     # magic, header length, chunk, size, nonce prefix
_MAX_ID_BYTES = 1024
MAX_CHUNK_BYTES = 1 << 24


@dataclass(frozen=True)
class Header:
    recording_id: str
    plaintext_size: int
    chunk_bytes: int
    nonce_prefix: bytes
    raw: bytes               # the bytes as on disk: every chunk's associated data

    @property
    def chunk_count(self) -> int:
        # At least one: an empty recording is a single, empty, final chunk.
        return max(1, -(-self.plaintext_size // self.chunk_bytes))

    @property
    def sealed_size(self) -> int:
        return len(self.raw) + self.plaintext_size + self.chunk_count * TAG_BYTES

    def chunk_offset(self, index: int) -> int:
        return len(self.raw) + index * (self.chunk_bytes + TAG_BYTES)

    def chunk_plain_bytes(self, index: int) -> int:
        if index < self.chunk_count - 1:
            return self.chunk_bytes
        return self.plaintext_size - index * self.chunk_bytes

    def nonce(self, index: int) -> bytes:
        last = b"\x01" if index == self.chunk_count - 1 else b"\x00"
        return self.nonce_prefix + index.to_bytes(4, "big") + last


def new_header(recording_id: str, plaintext_size: int,
               chunk_bytes: int = CHUNK_BYTES) -> Header:
    encoded = recording_id.encode("utf-8")
    if not 0 < len(encoded) <= _MAX_ID_BYTES:
        raise ValueError(f"recording id of {len(encoded)} bytes")
    # What read_header accepts: anything else would seal a file that never opens.
    if not 0 < chunk_bytes <= MAX_CHUNK_BYTES:
        raise ValueError(f"chunk size of {chunk_bytes} bytes")
    if not 0 <= plaintext_size < 1 << 64:
        raise ValueError(f"plaintext size of {plaintext_size} bytes")
    length = _FIXED.size + len(encoded)
    prefix = os.urandom(PREFIX_BYTES)
    raw = _FIXED.pack(MAGIC, length, chunk_bytes, plaintext_size, prefix) + encoded
    header = Header(recording_id, plaintext_size, chunk_bytes, prefix, raw)
    if header.chunk_count >= 1 << 32:
        raise ValueError("recording too large for 32-bit chunk indices")
    return header


def read_header(stream: BinaryIO) -> Header:
    """The header at the stream's start; RecordingTampered if it is not one."""
    fixed = stream.read(_FIXED.size)
    if len(fixed) != _FIXED.size:
        raise RecordingTampered("sealed recording shorter than its header")
    magic, length, chunk_bytes, size, prefix = _FIXED.unpack(fixed)
    if magic != MAGIC or not _FIXED.size < length <= _FIXED.size + _MAX_ID_BYTES \
            or not 0 < chunk_bytes <= MAX_CHUNK_BYTES:
        raise RecordingTampered("sealed recording header is damaged")
    encoded = stream.read(length - _FIXED.size)
    try:
        recording_id = encoded.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordingTampered("sealed recording header is damaged") from None
    if len(encoded) != length - _FIXED.size:
        raise RecordingTampered("sealed recording shorter than its header")
    return Header(recording_id, size, chunk_bytes, prefix, fixed + encoded)


def seal_stream(source: BinaryIO, target: BinaryIO, header: Header, key: bytes) -> None:
    """Write ``header`` and ``source``'s plaintext, sealed, to ``target``.

    Raises ValueError if the source does not hold exactly the header's size (it changed
    while being sealed): nothing sealed from a moving file is kept."""
    cipher = AESGCM(key)
    target.write(header.raw)
    for index in range(header.chunk_count):
        want = header.chunk_plain_bytes(index)
        plain = source.read(want)
        if len(plain) != want:
            raise ValueError("recording changed size while it was being sealed")
        target.write(cipher.encrypt(header.nonce(index), plain, header.raw))
    if source.read(1):
        raise ValueError("recording grew while it was being sealed")


class PlainStream:
    """A sealed recording's plaintext, read by ranges: each chunk is verified before any
    of its bytes is yielded. Reads with ``os.pread`` on one descriptor, so a reader and
    a concurrent rename of the path do not disturb each other."""

    def __init__(self, descriptor: int, header: Header, key: bytes) -> None:
        if os.fstat(descriptor).st_size != header.sealed_size:
            os.close(descriptor)
            raise RecordingTampered(f"sealed recording {header.recording_id} has the "
                                    "wrong length (cut short or appended to)")
        self._descriptor = descriptor
        self._header = header
        self._cipher = AESGCM(key)
        self.size = header.plaintext_size
        if self.size == 0:
            # No range of an empty recording reads its one chunk: verify it here, or a
            # file cut down to a header saying "empty" would open without complaint.
            try:
                self._chunk(0)
            except RecordingTampered:
                self.close()
                raise

    def read_range(self, start: int, end: int) -> Iterator[bytes]:
        """The plaintext bytes [start, end), clamped to the size."""
        start, end = max(0, start), min(end, self.size)
        if start >= end:
            return
        step = self._header.chunk_bytes
        for index in range(start // step, (end - 1) // step + 1):
            plain = self._chunk(index)
            base = index * step
            yield plain[max(start - base, 0):end - base]

    def _chunk(self, index: int) -> bytes:
        header = self._header
        length = header.chunk_plain_bytes(index) + TAG_BYTES
        sealed = os.pread(self._descriptor, length, header.chunk_offset(index))
        try:
            return self._cipher.decrypt(header.nonce(index), sealed, header.raw)
        except InvalidTag:
            raise RecordingTampered(f"sealed recording {header.recording_id} fails "
                                    f"authentication at chunk {index}: it was altered "
                                    "or damaged, and is not played") from None

    def close(self) -> None:
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1
