"""The sealed recording format (callrec.crypto.stream): STREAM over AES-256-GCM.

Round trips at every chunk edge, random access equal to the plaintext's slice, and every
way a sealed file can be altered (a flipped byte, a cut, a swap, a doctored header, the
wrong key) refused with RecordingTampered before any byte of the damaged chunk is handed
out. ``read_header`` is total: whatever bytes it is given, it returns a header or raises
RecordingTampered, never a Python error.
"""

from __future__ import annotations

import io
import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from callrec.crypto.stream import (
    CHUNK_BYTES,
    MAGIC,
    TAG_BYTES,
    Header,
    PlainStream,
    new_header,
    read_header,
    seal_stream,
)
from callrec.errors import CallrecError, RecordingTampered

SMALL = 16                      # a small chunk: many chunks from a few bytes
RECORDING = "2026/11/24/0123456789abcdef0123456789abcdef.wav"
OTHER = "2026/11/24/fedcba9876543210fedcba9876543210.wav"   # same length as RECORDING
KEY = bytes(range(32))
FIXED_BYTES = 29                # magic 8, length 2, chunk 4, size 8, nonce prefix 7
PREFIX_AT = 22


def seal(plain: bytes, chunk: int = SMALL, recording_id: str = RECORDING,
         key: bytes = KEY) -> tuple[Header, bytes]:
    header = new_header(recording_id, len(plain), chunk)
    target = io.BytesIO()
    seal_stream(io.BytesIO(plain), target, header, key)
    return header, target.getvalue()


def plain_stream(sealed: bytes, key: bytes = KEY) -> PlainStream:
    """Open sealed bytes as the vault does: the header read from the file, then chunks by
    pread on a descriptor that the PlainStream owns."""
    header = read_header(io.BytesIO(sealed))
    descriptor = os.memfd_create("sealed")
    os.write(descriptor, sealed)
    return PlainStream(descriptor, header, key)


def read_all(sealed: bytes, key: bytes = KEY) -> bytes:
    stream = plain_stream(sealed, key)
    try:
        return b"".join(stream.read_range(0, stream.size))
    finally:
        stream.close()


def handed_out_before_failure(sealed: bytes, key: bytes = KEY) -> tuple[bytes, str]:
    """The bytes a reader of the whole recording got before it was refused, and why."""
    got: list[bytes] = []
    try:
        stream = plain_stream(sealed, key)
        try:
            for piece in stream.read_range(0, stream.size):
                got.append(piece)
        finally:
            stream.close()
    except RecordingTampered as refused:
        return b"".join(got), str(refused)
    raise AssertionError("the altered recording was read to its end without complaint")


def doctored(header: Header, recording_id: str | None = None,
             plaintext_size: int | None = None) -> bytes:
    """The header's raw bytes with another id or size but the same nonce prefix."""
    other = new_header(recording_id or header.recording_id,
                       header.plaintext_size if plaintext_size is None else plaintext_size,
                       header.chunk_bytes)
    return other.raw[:PREFIX_AT] + header.nonce_prefix + other.raw[FIXED_BYTES:]


def payload(size: int) -> bytes:
    return bytes((index * 7 + 3) % 251 for index in range(size))


# -- round trips ---------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [SMALL, CHUNK_BYTES])
@pytest.mark.parametrize("chunks, extra", [(0, 0), (0, 1), (1, -1), (1, 0), (1, 1), (3, 5)])
def test_round_trip_at_every_chunk_edge(chunk: int, chunks: int, extra: int) -> None:
    plain = os.urandom(chunks * chunk + extra)
    header, sealed = seal(plain, chunk)

    assert len(sealed) == header.sealed_size
    assert header.chunk_count == max(1, -(-len(plain) // chunk))
    assert len(sealed) == len(header.raw) + len(plain) + header.chunk_count * TAG_BYTES
    assert sealed.startswith(MAGIC)
    if len(plain) >= 8:
        assert plain[:8] not in sealed[len(header.raw):]   # it is encrypted
    stream = plain_stream(sealed)
    try:
        assert stream.size == len(plain)
        assert b"".join(stream.read_range(0, len(plain))) == plain
        assert b"".join(stream.read_range(-5, len(plain) + 100)) == plain   # clamped
    finally:
        stream.close()


def test_the_header_read_back_is_the_header_written() -> None:
    header, sealed = seal(payload(100))
    assert read_header(io.BytesIO(sealed)) == header
    stream = io.BytesIO(sealed)
    read_header(stream)
    assert stream.tell() == len(header.raw)      # the chunks start right after it


def test_two_seals_of_one_recording_share_no_nonce_prefix() -> None:
    first, sealed_first = seal(payload(40))
    second, sealed_second = seal(payload(40))
    assert first.nonce_prefix != second.nonce_prefix
    assert sealed_first[len(first.raw):] != sealed_second[len(second.raw):]


def test_an_empty_recording_is_one_empty_final_chunk() -> None:
    header, sealed = seal(b"")
    assert header.chunk_count == 1
    assert len(sealed) == len(header.raw) + TAG_BYTES
    stream = plain_stream(sealed)
    try:
        assert stream.size == 0
        assert list(stream.read_range(0, 10)) == []
    finally:
        stream.close()


def test_an_empty_recording_is_verified_when_opened() -> None:
    """No read of an empty recording touches its chunk, so opening checks it: otherwise
    a recording cut down to a header saying "empty" would open as a valid silence."""
    _header, sealed = seal(b"")
    damaged = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(RecordingTampered, match="chunk 0"):
        plain_stream(damaged)
    longer, longer_sealed = seal(payload(50))
    emptied = doctored(longer, plaintext_size=0) + longer_sealed[-TAG_BYTES:]
    with pytest.raises(RecordingTampered, match="chunk 0"):
        plain_stream(emptied)
    with pytest.raises(RecordingTampered):
        plain_stream(sealed, key=bytes(32))
    assert read_all(sealed) == b""


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 300), chunk=st.integers(1, 40),
       start=st.integers(-20, 340), end=st.integers(-20, 340))
def test_any_range_is_the_plaintext_slice(size: int, chunk: int, start: int,
                                          end: int) -> None:
    plain = payload(size)
    _header, sealed = seal(plain, chunk)
    stream = plain_stream(sealed)
    try:
        pieces = list(stream.read_range(start, end))
    finally:
        stream.close()
    low, high = max(0, start), min(end, size)
    expected = plain[low:high] if low < high else b""
    assert b"".join(pieces) == expected
    assert all(pieces)                                     # no empty pieces
    assert all(len(piece) <= chunk for piece in pieces)    # one chunk at a time


def test_reads_do_not_depend_on_each_other() -> None:
    plain = payload(10 * SMALL + 3)
    _header, sealed = seal(plain)
    stream = plain_stream(sealed)
    try:
        for start, end in [(150, 163), (0, 1), (17, 90), (160, 163), (33, 34), (0, 163)]:
            assert b"".join(stream.read_range(start, end)) == plain[start:end]
    finally:
        stream.close()


def test_a_source_that_changes_size_while_sealed_is_refused() -> None:
    header = new_header(RECORDING, 50, SMALL)
    with pytest.raises(ValueError, match="changed size"):
        seal_stream(io.BytesIO(payload(49)), io.BytesIO(), header, KEY)
    with pytest.raises(ValueError, match="grew"):
        seal_stream(io.BytesIO(payload(51)), io.BytesIO(), header, KEY)


@pytest.mark.parametrize("recording_id, size, chunk", [
    ("", 10, SMALL), ("x" * 1025, 10, SMALL), ("é" * 513, 10, SMALL),
    (RECORDING, 10, 0), (RECORDING, 10, -1), (RECORDING, 10, (1 << 24) + 1),
    (RECORDING, -1, SMALL), (RECORDING, 1 << 64, SMALL), (RECORDING, 1 << 40, 1),
])
def test_new_header_refuses_what_could_not_be_read_back(recording_id: str, size: int,
                                                        chunk: int) -> None:
    with pytest.raises(ValueError):
        new_header(recording_id, size, chunk)


def test_the_largest_allowed_chunk_and_id_are_read_back() -> None:
    header = new_header("é" * 512, 3, 1 << 24)
    assert read_header(io.BytesIO(header.raw)) == header


# -- tampering -----------------------------------------------------------------------


def test_a_flipped_byte_anywhere_is_refused_before_its_chunk_is_handed_out() -> None:
    plain = payload(3 * SMALL + 5)
    header, sealed = seal(plain)
    for position in range(len(sealed)):
        altered = bytearray(sealed)
        altered[position] ^= 0x80
        got, _why = handed_out_before_failure(bytes(altered))
        if position < len(header.raw):
            # The header is every chunk's associated data: nothing at all comes out.
            assert got == b"", position
        else:
            index = (position - len(header.raw)) // (SMALL + TAG_BYTES)
            assert got == plain[:index * SMALL], position


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 120), data=st.data())
def test_any_flip_of_any_bits_is_refused(size: int, data: st.DataObject) -> None:
    plain = payload(size)
    header, sealed = seal(plain)
    position = data.draw(st.integers(0, len(sealed) - 1))
    mask = data.draw(st.integers(1, 255))
    altered = bytearray(sealed)
    altered[position] ^= mask
    got, _why = handed_out_before_failure(bytes(altered))
    first_bad = max(0, (position - len(header.raw)) // (SMALL + TAG_BYTES))
    assert got == (b"" if position < len(header.raw) else plain[:first_bad * SMALL])


def test_a_damaged_chunk_does_not_stop_reads_of_the_others() -> None:
    plain = payload(4 * SMALL)
    header, sealed = seal(plain)
    altered = bytearray(sealed)
    altered[header.chunk_offset(2) + 3] ^= 1
    stream = plain_stream(bytes(altered))
    try:
        assert b"".join(stream.read_range(0, 2 * SMALL)) == plain[:2 * SMALL]
        assert b"".join(stream.read_range(3 * SMALL, 4 * SMALL)) == plain[3 * SMALL:]
        with pytest.raises(RecordingTampered, match="chunk 2"):
            list(stream.read_range(2 * SMALL + 1, 2 * SMALL + 2))
    finally:
        stream.close()


@pytest.mark.parametrize("cut", ["boundary", "mid-chunk", "header", "tag", "appended"])
def test_a_cut_or_grown_file_is_refused(cut: str) -> None:
    plain = payload(3 * SMALL + 5)
    header, sealed = seal(plain)
    altered = {
        "boundary": sealed[:header.chunk_offset(3)],         # the final chunk dropped
        "mid-chunk": sealed[:header.chunk_offset(1) + 5],
        "header": sealed[:len(header.raw)],                   # no chunk at all
        "tag": sealed[:-1],
        "appended": sealed + b"\x00",
    }[cut]
    got, why = handed_out_before_failure(altered)
    assert got == b""
    assert "wrong length" in why


def test_a_cut_at_a_boundary_with_the_size_doctored_to_match_is_refused() -> None:
    """Without the size in the associated data (and the last-chunk flag), dropping the
    final chunks and writing a matching size would be a valid shorter recording."""
    plain = payload(3 * SMALL)
    header, sealed = seal(plain)
    shorter = doctored(header, plaintext_size=2 * SMALL)
    altered = shorter + sealed[len(header.raw):header.chunk_offset(2)]
    got, why = handed_out_before_failure(altered)
    assert got == b""
    assert "chunk 0" in why


def test_the_final_chunk_flag_is_authenticated() -> None:
    """A 2-chunk prefix of a 3-chunk stream, under a header saying 2 chunks and the same
    nonce prefix, fails at chunk 1: it was not sealed as the final one."""
    plain = payload(3 * SMALL)
    header, _sealed = seal(plain)
    short_header = Header(RECORDING, 2 * SMALL, SMALL, header.nonce_prefix,
                          doctored(header, plaintext_size=2 * SMALL))
    cipher = AESGCM(KEY)
    # Chunks sealed as in a longer stream (not final), but under the short header's AD:
    chunks = [cipher.encrypt(header.nonce_prefix + index.to_bytes(4, "big") + b"\x00",
                             plain[index * SMALL:(index + 1) * SMALL], short_header.raw)
              for index in range(2)]
    got, why = handed_out_before_failure(short_header.raw + b"".join(chunks))
    assert got == plain[:SMALL]
    assert "chunk 1" in why


def test_swapped_chunks_are_refused() -> None:
    plain = payload(3 * SMALL + 5)
    header, sealed = seal(plain)
    first, second = (sealed[header.chunk_offset(i):header.chunk_offset(i + 1)]
                     for i in (0, 1))
    swapped = sealed[:len(header.raw)] + second + first + sealed[header.chunk_offset(2):]
    assert len(swapped) == len(sealed)
    got, why = handed_out_before_failure(swapped)
    assert got == b""
    assert "chunk 0" in why


def test_a_chunk_from_another_seal_under_the_same_key_is_refused() -> None:
    plain = payload(2 * SMALL)
    header, sealed = seal(plain)
    other, other_sealed = seal(plain)         # same key, same plaintext, other prefix
    spliced = sealed[:header.chunk_offset(1)] + other_sealed[other.chunk_offset(1):]
    got, why = handed_out_before_failure(spliced)
    assert got == plain[:SMALL]
    assert "chunk 1" in why


def test_a_header_naming_another_recording_is_refused() -> None:
    plain = payload(2 * SMALL + 1)
    header, sealed = seal(plain)
    for other_id in (OTHER, "another/length.wav"):
        moved = doctored(header, recording_id=other_id) + sealed[len(header.raw):]
        assert read_header(io.BytesIO(moved)).recording_id == other_id
        got, why = handed_out_before_failure(moved)
        assert got == b""
        assert other_id in why


@pytest.mark.parametrize("size", [2 * SMALL, 2 * SMALL + 2, 3 * SMALL, 0, 1 << 35])
def test_a_doctored_plaintext_size_is_refused(size: int) -> None:
    """Refused by the chunks' associated data, not only by the file's length: the body
    is cut or padded to the length the doctored size implies, where that is possible."""
    plain = payload(2 * SMALL + 1)
    header, sealed = seal(plain)
    raw = doctored(header, plaintext_size=size)
    wanted = read_header(io.BytesIO(raw)).sealed_size - len(raw)
    body = sealed[len(header.raw):]
    if wanted < 10_000:
        body = body[:wanted].ljust(wanted, b"\x00")
    got, why = handed_out_before_failure(raw + body)
    assert got == b""
    assert ("chunk 0" in why) == (wanted < 10_000)


def test_the_wrong_key_is_refused() -> None:
    plain = payload(2 * SMALL)
    _header, sealed = seal(plain)
    got, why = handed_out_before_failure(sealed, key=bytes(32))
    assert got == b""
    assert "chunk 0" in why
    assert read_all(sealed) == plain            # and the right one still works


# -- read_header is total ------------------------------------------------------------


def _fixed(length: int, chunk: int, size: int) -> bytes:
    return struct.pack(">8sHIQ7s", MAGIC, length, chunk, size, b"\x00" * 7)


def _with_id(chunk: int, size: int, name: bytes, cut: int) -> bytes:
    """A header that is well formed up to its id, cut at ``cut`` bytes."""
    return (_fixed(FIXED_BYTES + len(name), chunk, size) + name)[:cut]


headers_of_any_bytes = st.one_of(
    st.binary(max_size=120),
    st.builds(MAGIC.__add__, st.binary(max_size=120)),
    st.builds(_fixed, st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
              st.integers(0, 0xFFFFFFFFFFFFFFFF)),
    st.tuples(st.builds(_fixed, st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
                        st.integers(0, 0xFFFFFFFFFFFFFFFF)),
              st.binary(max_size=80)).map(b"".join),
    st.builds(_with_id, st.integers(1, 1 << 24), st.integers(0, 1 << 40),
              st.binary(min_size=1, max_size=60), st.integers(0, 200)),
)


@settings(max_examples=500, deadline=None)
@given(headers_of_any_bytes)
def test_read_header_only_ever_raises_recording_tampered(data: bytes) -> None:
    try:
        header = read_header(io.BytesIO(data))
    except RecordingTampered:
        return
    except CallrecError as other:
        raise AssertionError(f"{type(other).__name__} instead of RecordingTampered") \
            from other
    # What it accepted is a coherent header: raw is what it consumed, id its UTF-8.
    assert data.startswith(header.raw)
    assert header.raw[FIXED_BYTES:].decode("utf-8") == header.recording_id
    assert 0 < header.chunk_bytes <= 1 << 24
    assert header.chunk_count >= 1


@settings(max_examples=200, deadline=None)
@given(headers_of_any_bytes, st.binary(max_size=80))
def test_opening_any_bytes_only_ever_raises_recording_tampered(data: bytes,
                                                               rest: bytes) -> None:
    with pytest.raises(RecordingTampered):
        read_all(data + rest)


@pytest.mark.parametrize("data", [
    b"", MAGIC, MAGIC + b"\x00" * 21,
    _fixed(FIXED_BYTES, 16, 0),                          # no recording id
    _fixed(FIXED_BYTES + 2000, 16, 0) + b"x" * 2000,     # an id too long
    _fixed(FIXED_BYTES + 3, 0, 0) + b"abc",              # chunk size 0
    _fixed(FIXED_BYTES + 3, (1 << 24) + 1, 0) + b"abc",  # chunk size too large
    _fixed(FIXED_BYTES + 3, 16, 0) + b"ab",              # id cut short
    _fixed(FIXED_BYTES + 3, 16, 0) + b"a\xff\xfe",       # id not UTF-8
    _fixed(FIXED_BYTES + 2, 16, 0) + "é".encode()[:1] + b"",   # id cut in a character
    b"CRSEAL02" + _fixed(FIXED_BYTES + 3, 16, 0)[8:] + b"abc",  # another format
])
def test_read_header_refuses_these(data: bytes) -> None:
    with pytest.raises(RecordingTampered):
        read_header(io.BytesIO(data))
