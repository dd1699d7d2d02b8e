"""The Range header parser of the player's stream: total over any text, and the slice a
well-formed header asks for (RFC 9110 section 14.1.2)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callrec.web.streaming import ByteRange, requested_range

sizes = st.integers(min_value=0, max_value=10**7)
positions = st.integers(min_value=0, max_value=2 * 10**7)


@given(st.text(max_size=80), sizes)
def test_any_header_is_a_range_inside_the_recording_or_refused(header: str, size: int) -> None:
    chosen = requested_range(header, size)
    if chosen is not None:
        assert chosen.partial
        assert 0 <= chosen.start < chosen.end <= size


@given(st.from_regex(r"\Abytes=[0-9]{0,30}-[0-9]{0,30}\Z"), sizes)
def test_numbers_of_any_length_never_break_the_parser(header: str, size: int) -> None:
    chosen = requested_range(header, size)
    assert chosen is None or 0 <= chosen.start < chosen.end <= size


@given(positions, positions, sizes)
def test_first_last_is_that_slice_clamped_to_the_end(first: int, last: int, size: int) -> None:
    chosen = requested_range(f"bytes={first}-{last}", size)
    if first > last or first >= size:
        assert chosen is None
    else:
        assert chosen == ByteRange(first, min(last + 1, size), partial=True)


@given(positions, sizes)
def test_an_open_end_runs_to_the_end(first: int, size: int) -> None:
    chosen = requested_range(f"bytes={first}-", size)
    assert chosen == (None if first >= size else ByteRange(first, size, partial=True))


@given(positions, sizes)
def test_a_suffix_is_the_last_bytes(count: int, size: int) -> None:
    chosen = requested_range(f"bytes=-{count}", size)
    if count == 0 or size == 0:
        assert chosen is None
    else:
        assert chosen == ByteRange(max(0, size - count), size, partial=True)


@given(sizes)
def test_no_header_is_the_whole_recording_with_a_200(size: int) -> None:
    assert requested_range(None, size) == ByteRange(0, size, partial=False)


def test_what_is_refused() -> None:
    for header in ("bytes=abc", "bytes=5-1", "lines=0-3", "bytes=0-3,5-7", "bytes=-",
                   "bytes=", "bytes 0-3", "bytes=+1-2", "bytes=0x1-2", "bytes=١-٢"):
        assert requested_range(header, 100) is None, header
    assert requested_range(" bytes=0-3 ", 100) == ByteRange(0, 4, partial=True)
    assert requested_range("bytes=0000000000000000000000000001-2", 100) == \
        ByteRange(1, 3, partial=True)
    assert requested_range("bytes=0-99999999999999999999999999", 100) == \
        ByteRange(0, 100, partial=True)
