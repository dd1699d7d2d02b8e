"""Sealing recordings in place and opening them as plaintext streams.

The one entry point the rest of callrec uses for encryption at rest (the recordings
adapter :class:`callrec.recordings.files.RecordingFiles` holds a vault when
``[encryption] enabled``). The format is :mod:`callrec.crypto.stream`; keys are in
:mod:`callrec.crypto.keystore`.

Sealing a file in place, crash-safe:

1. lock the plaintext file (``flock``), so two sealers (``callrec serve`` and
   ``callrec recordings encrypt``) never seal the same file under two keys;
2. commit a fresh data key for the recording to the key store;
3. write the sealed copy to ``.<name>.sealing`` beside it, fsync;
4. rename it over the plaintext (same name: the history's path stays true), fsync the
   directory.

Killed before 4, the plaintext is still there and the next run seals it again with a
new key (replacing the unused one). Killed after 4, the file is sealed and its key is
committed. So every recording is readable exactly once, whatever the moment of the kill.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from callrec.crypto.keystore import KeyStore
from callrec.crypto.masters import KeyFileMasters, MasterKeys
from callrec.crypto.settings import EncryptionSettings
from callrec.crypto.stream import (
    MAGIC,
    Header,
    PlainStream,
    new_header,
    read_header,
    seal_stream,
)
from callrec.errors import KeyStoreError, RecordingError, RecordingTampered

SEALING_SUFFIX = ".sealing"


def master_keys_for(settings: EncryptionSettings) -> MasterKeys:
    """The master key source the settings name (a KMS would be chosen here too)."""
    if settings.pkcs11 is not None:
        from callrec.crypto.pkcs11 import Pkcs11Masters
        return Pkcs11Masters(settings.pkcs11)
    if settings.master_key_file is None:
        raise KeyStoreError("no master key configured: set [encryption] master_key_file "
                            "or pkcs11_module/pkcs11_token/pkcs11_pin_file")
    return KeyFileMasters(settings.master_key_file)


def is_sealed(path: Path) -> bool:
    """Whether the file at ``path`` is a sealed recording (by its first bytes)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.pread(descriptor, len(MAGIC), 0) == MAGIC
    except OSError:
        return False
    finally:
        os.close(descriptor)


class RecordingVault:
    def __init__(self, store: KeyStore) -> None:
        self._store = store

    @classmethod
    def from_config(cls, settings: EncryptionSettings) -> RecordingVault:
        """The vault of the configured key store, initialised on first use (the first
        master key made), so that turning encryption on takes one config key and
        ``callrec recordings encrypt``; ``callrec keys init`` does the same explicitly."""
        store = KeyStore(settings.key_store, master_keys_for(settings))
        try:
            store.initialise(datetime.now(UTC))
            store.current_master()
        except BaseException:
            store.close()
            raise
        return cls(store)

    @property
    def store(self) -> KeyStore:
        return self._store

    def close(self) -> None:
        self._store.close()

    def seal(self, path: Path, recording_id: str, subject: str,
             target: Path | None = None) -> bool:
        """Seal the plaintext at ``path`` in place under ``subject``'s key; False if it
        was sealed already (by someone else meanwhile, too). With ``target`` (whose
        directory exists), the sealed file goes there and ``path`` is removed after."""
        if target is not None and is_sealed(target):
            path.unlink(missing_ok=True)        # a run that died after its rename
            return False
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise RecordingError(f"recording {recording_id} is missing") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                raise RecordingError(f"{recording_id} is not a regular file")
            if _replaced(path, info) or os.pread(descriptor, len(MAGIC), 0) == MAGIC:
                return False
            try:        # checked before a key is committed for it
                header = new_header(recording_id, info.st_size)
            except ValueError as exc:
                raise RecordingError(f"recording {recording_id!r}: {exc}") from None
            data_key = self._store.new_data_key(recording_id, subject, datetime.now(UTC))
            self._write_sealed(target or path, descriptor, info, header, data_key)
            if target is not None:
                path.unlink(missing_ok=True)
            return True
        finally:
            os.close(descriptor)     # releases the lock

    def open(self, path: Path, recording_id: str) -> PlainStream:
        """The plaintext of the sealed file at ``path``, read by ranges and verified chunk
        by chunk. RecordingTampered if it does not authenticate (or was sealed for
        another recording), RecordingKeyDestroyed if its key is gone."""
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise RecordingError(f"recording {recording_id} is missing") from None
        try:
            with os.fdopen(os.dup(descriptor), "rb") as stream:
                header = read_header(stream)
            if header.recording_id != recording_id:
                raise RecordingTampered(f"{recording_id} holds the sealed audio of another "
                                        "recording: it was moved or copied over")
            key = self._store.data_key(recording_id)
        except BaseException:
            os.close(descriptor)
            raise
        return PlainStream(descriptor, header, key)

    def destroy_recording(self, recording_id: str) -> bool:
        """Destroy the recording's data key; False if it had none (any more)."""
        return self._store.destroy_recording(recording_id)

    def destroy_subject(self, subject: str) -> int:
        """Destroy the subject's key and the data keys under it; how many data keys."""
        return self._store.destroy_subject(subject)

    def _write_sealed(self, path: Path, source: int, info: os.stat_result,
                      header: Header, data_key: bytes) -> None:
        temporary = path.with_name(f".{path.name}{SEALING_SUFFIX}")
        target = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(os.dup(source), "rb") as plain, \
                    os.fdopen(os.dup(target), "wb", buffering=1 << 20) as sealed:
                seal_stream(plain, sealed, header, data_key)
            _same_owner_and_mode(target, info)
            # The plaintext's times: "last written" stays true (an estimated hangup and
            # the quiet period of leftovers read it).
            os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
            os.fsync(target)
        except ValueError as exc:
            os.close(target)
            temporary.unlink(missing_ok=True)
            raise RecordingError(f"recording {header.recording_id}: {exc}") from None
        except BaseException:
            os.close(target)
            temporary.unlink(missing_ok=True)
            raise
        os.close(target)
        os.replace(temporary, path)
        fsync_directory(path.parent)


def _replaced(path: Path, opened: os.stat_result) -> bool:
    try:
        return os.stat(path).st_ino != opened.st_ino
    except FileNotFoundError:
        return True


def _same_owner_and_mode(descriptor: int, original: os.stat_result) -> None:
    os.fchmod(descriptor, stat.S_IMODE(original.st_mode) & 0o770)
    with contextlib.suppress(PermissionError):
        # Not root: the sealed file is ours; its mode still keeps other users out.
        os.fchown(descriptor, original.st_uid, original.st_gid)


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
