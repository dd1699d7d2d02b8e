"""A recording's audio as every reader sees it: a size and byte ranges, whether the file
on disk is a plain WAV (an installation without encryption, a file not sealed yet) or a
sealed one (:mod:`callrec.crypto.vault`).

Readers (the web player, downloads, the rights export, ``callrec demo``) never look at
the file themselves: they open an :class:`AudioStream` through
:meth:`callrec.recordings.files.RecordingFiles.open_audio` and read ranges of it, so a
sealed recording is decrypted chunk by chunk, each chunk verified before any of its bytes
is handed out, and never lies decrypted on disk.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from callrec.errors import RecordingError
from callrec.recordings.streams import pieces_size_and_sha256

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

READ_BYTES = 1 << 16


class AudioStream(Protocol):
    """Plaintext audio: ``size`` bytes, read by ranges (the vault's PlainStream fits)."""

    @property
    def size(self) -> int: ...

    def read_range(self, start: int, end: int) -> Iterator[bytes]:
        """The bytes [start, end) (clamped to the size), in pieces."""

    def close(self) -> None: ...


class PlainFile:
    """An unencrypted recording file, opened once: ranges are read from that descriptor,
    so a file renamed over meanwhile (sealed) does not change what this stream reads."""

    def __init__(self, path: Path) -> None:
        try:
            # O_NONBLOCK: opening a FIFO planted in the directory must not hang the reader.
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise RecordingError(f"recording {path.name} is missing") from None
        except OSError as exc:
            raise RecordingError(f"cannot read recording {path.name}: "
                                 f"{exc.strerror or exc}") from exc
        self._descriptor = descriptor
        info = os.fstat(descriptor)
        self.size = info.st_size
        self.inode = info.st_ino
        if not stat.S_ISREG(info.st_mode):
            os.close(descriptor)
            raise RecordingError(f"{path.name} is not a regular file")

    def read_range(self, start: int, end: int) -> Iterator[bytes]:
        start, end = max(0, start), min(end, self.size)
        position = start
        while position < end:
            try:
                piece = os.pread(self._descriptor, min(READ_BYTES, end - position),
                                 position)
            except OSError as exc:
                raise RecordingError(f"cannot read recording: {exc.strerror or exc}") from exc
            if not piece:
                raise RecordingError("recording shrank while it was being read")
            position += len(piece)
            yield piece

    def close(self) -> None:
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1


def whole(stream: AudioStream) -> Iterator[bytes]:
    return stream.read_range(0, stream.size)


def size_and_sha256(stream: AudioStream) -> tuple[int, str]:
    """(bytes, SHA-256 hex) of the plaintext, read through once."""
    return pieces_size_and_sha256(whole(stream))


class _AudioRaw(io.RawIOBase):
    """The stream as a seekable raw file; wrapped in a BufferedReader by :func:`as_file`."""

    def __init__(self, stream: AudioStream) -> None:
        super().__init__()
        self._stream = stream
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        for piece in self._stream.read_range(self._position, self._position + len(view)):
            view[filled:filled + len(piece)] = piece
            filled += len(piece)
        self._position += filled
        return filled

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._stream.size}
        if whence not in base or base[whence] + offset < 0:
            raise OSError(f"cannot seek to {offset} from {whence}")
        self._position = base[whence] + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


def as_file(stream: AudioStream) -> BinaryIO:
    """The plaintext as a read-only, seekable binary file (for soundfile, zip copying);
    closing it closes the stream."""
    return io.BufferedReader(_AudioRaw(stream), buffer_size=READ_BYTES)
