"""A zip file whose bytes depend only on what goes in it.

Entries are sorted by name and stored uncompressed (deflate output may change with the
zlib version, so "stored" is what keeps two machines' bundles identical), with a fixed
time stamp, fixed permissions and a fixed creating system. The file appears under its
final name only once complete (written beside it, then renamed), mode 0600: it is
personal data. :class:`ZipBundle` is the :class:`callrec.rights.ports.ExportWriter` that
writes one; the recordings come from any :class:`~callrec.rights.ports.RecordingReader`.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

from callrec.errors import InputError, RecordingError
from callrec.recordings.streams import chunks
from callrec.rights.ports import RecordingCopy, RecordingReader

# The zip format's own epoch: nothing earlier can be stored.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_UNIX = 3
_FILE_MODE = 0o600


class ZipBundle:
    """The bundle as a zip file at ``out``; an existing file is kept unless ``overwrite``."""

    def __init__(self, out: Path, *, overwrite: bool = False) -> None:
        self.out = out
        self.overwrite = overwrite

    def write(self, texts: Mapping[str, bytes], recordings: Mapping[str, RecordingCopy],
              reader: RecordingReader) -> None:
        write_bundle(self.out, texts, recordings, reader, overwrite=self.overwrite)


def write_bundle(out: Path, texts: Mapping[str, bytes], recordings: Mapping[str, RecordingCopy],
                 reader: RecordingReader, *, overwrite: bool = False) -> None:
    """Write ``texts`` (name -> content) and ``recordings`` (name -> what to copy)."""
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists: choose another --out or pass --force")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: no such directory {out.parent}")
    partial = out.with_name(f".{out.name}.partial")
    descriptor = os.open(partial, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, _FILE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as raw, zipfile.ZipFile(raw, "w") as bundle:
            for name in sorted({*texts, *recordings}):
                info = _info(name)
                if name in texts:
                    bundle.writestr(info, texts[name])
                else:
                    _copy(bundle, info, recordings[name], reader)
        os.chmod(partial, _FILE_MODE)
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = _UNIX
    info.external_attr = (0o100000 | 0o644) << 16   # a regular file, rw-r--r-- inside
    return info


def _copy(bundle: zipfile.ZipFile, info: zipfile.ZipInfo, recording: RecordingCopy,
          reader: RecordingReader) -> None:
    """Stream a recording in, checking it is still the one the manifest describes."""
    digest = hashlib.sha256()
    info.file_size = recording.bytes   # lets zipfile pick zip64 up front for huge files
    with reader.open(recording.relative) as source, bundle.open(info, "w") as target:
        for chunk in chunks(source):
            digest.update(chunk)
            target.write(chunk)
    if digest.hexdigest() != recording.sha256:
        raise RecordingError(f"recording {recording.relative} changed while it was being "
                             "exported; run again")
