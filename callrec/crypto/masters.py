"""Master keys: where the top of the key hierarchy lives, behind one small interface.

A master key only wraps and unwraps the subject keys (32 bytes each) and never leaves
its source through this interface, so the same code serves a key file, an HSM through
PKCS#11 (:mod:`callrec.crypto.pkcs11`), or a KMS: implement :class:`MasterKeys` and
return it from :func:`callrec.crypto.vault.master_keys_for`.

Master keys have ids; the key store records which one wraps each subject key, which one
is current, and when an old one may be destroyed (``callrec keys retire``). Destroying
a master key is what makes old key-store backups useless.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callrec.errors import KeyStoreError, RecordingKeyDestroyed

NONCE_BYTES = 12
TAG_BYTES = 16
_FILE_HEADER = "# callrec master keys: <id> <hex>. Keep 0600, off the recordings' backups.\n"


class MasterKeys(Protocol):
    """A source of master keys: a key file, an HSM (PKCS#11), a KMS."""

    def ids(self) -> list[str]:
        """The ids of the master keys the source holds."""

    def create(self) -> str:
        """Make a new master key; its id."""

    def wrap(self, key_id: str, plaintext: bytes, context: bytes) -> bytes:
        """``plaintext`` encrypted and authenticated under master key ``key_id``, bound to
        ``context`` (a wrapped key moved to another slot does not unwrap)."""

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        """The inverse of :meth:`wrap`. RecordingKeyDestroyed if the master key is gone;
        KeyStoreError if ``wrapped`` does not authenticate."""

    def destroy(self, key_id: str) -> None:
        """Destroy master key ``key_id`` for good (a missing one counts as done)."""

    def close(self) -> None: ...


def gcm_wrap(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def gcm_unwrap(key: bytes, wrapped: bytes, context: bytes) -> bytes:
    try:
        if len(wrapped) < NONCE_BYTES + TAG_BYTES:   # AESGCM: ValueError on a short nonce
            raise InvalidTag
        return AESGCM(key).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)
    except InvalidTag:
        raise KeyStoreError("a wrapped key in the key store does not authenticate: the "
                            "key store is damaged or was altered") from None


def check_private(path: Path, what: str) -> None:
    """Refuse a secret file that other users could read or replace."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyStoreError(f"{what} {path} does not exist (a new installation: "
                            "`callrec keys init` makes it; otherwise restore it from "
                            "its backup)") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot read {what} {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyStoreError(f"{what} {path} is not a regular file")
    if info.st_mode & 0o077:
        raise KeyStoreError(f"{what} {path} has mode {stat.S_IMODE(info.st_mode):04o}: "
                            "other users could read it; chmod 0600 (or 0400) it")
    if info.st_uid != os.geteuid():
        raise KeyStoreError(f"{what} {path} belongs to uid {info.st_uid}, not to the user "
                            f"callrec runs as (uid {os.geteuid()})")


class KeyFileMasters:
    """Master keys in one file of lines ``<id> <64 hex digits>``, mode 0600, owned by the
    user callrec runs as. Each change rewrites the file atomically (temporary file,
    fsync, rename, fsync of the directory), so a crash leaves the old or the new file."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def ids(self) -> list[str]:
        return list(self._read())

    def create(self) -> str:
        keys = self._read() if self._path.exists() else {}
        key_id = f"file-{secrets.token_hex(8)}"
        keys[key_id] = AESGCM.generate_key(bit_length=256)
        self._write(keys)
        return key_id

    def wrap(self, key_id: str, plaintext: bytes, context: bytes) -> bytes:
        return gcm_wrap(self._key(key_id), plaintext, context)

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        return gcm_unwrap(self._key(key_id), wrapped, context)

    def destroy(self, key_id: str) -> None:
        keys = self._read()
        if keys.pop(key_id, None) is not None:
            self._write(keys)

    def close(self) -> None:
        pass

    def _key(self, key_id: str) -> bytes:
        key = self._read().get(key_id)
        if key is None:
            raise RecordingKeyDestroyed(f"master key {key_id} is no longer in "
                                        f"{self._path} (retired)")
        return key

    def _read(self) -> dict[str, bytes]:
        check_private(self._path, "master key file")
        keys: dict[str, bytes] = {}
        try:
            content = self._path.read_bytes()
            text = content.decode("ascii")
        except UnicodeDecodeError as exc:
            where = content[:exc.start].count(b"\n") + 1
            raise KeyStoreError(f"master key file {self._path}, line {where}: not ASCII, "
                                "not '<id> <64 hex digits>'") from None
        except OSError as exc:
            raise KeyStoreError(f"cannot read master key file {self._path}: "
                                f"{exc.strerror}") from None
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split()
            try:
                if len(parts) != 2 or len(parts[1]) != 64:
                    raise ValueError(line)
                keys[parts[0]] = bytes.fromhex(parts[1])
            except ValueError:
                raise KeyStoreError(f"master key file {self._path}, line {number}: not "
                                    "'<id> <64 hex digits>'") from None
        return keys

    def _write(self, keys: dict[str, bytes]) -> None:
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self._path.with_name(f".{self._path.name}.new")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(descriptor, 0o600)
            text = _FILE_HEADER + "".join(f"{k} {v.hex()}\n" for k, v in keys.items())
            os.write(descriptor, text.encode("ascii"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, self._path)
        directory = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
