"""Master keys in an HSM through PKCS#11 (tested with SoftHSM2).

Each master key is an AES-256 secret key object on the token, labelled
``callrec-master-<id>``, generated on the token as sensitive and not extractable: it
never leaves the HSM, which does the AES-GCM wrapping itself. Destroying it is
``C_DestroyObject``. Needs the ``hsm`` extra (python-pkcs11).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from callrec.crypto.masters import NONCE_BYTES, check_private
from callrec.crypto.settings import Pkcs11Settings
from callrec.errors import KeyStoreError, RecordingKeyDestroyed

LABEL_PREFIX = "callrec-master-"


@dataclass
class _Login:
    """The one logged-in session of a token in this process. PKCS#11 login state is the
    application's, not the session's: a second C_Login fails (USER_ALREADY_LOGGED_IN),
    and closing any logged-in session logs out all the others, whose keys then vanish
    from view (NoSuchKey, which would read as "retired"). So every Pkcs11Masters of one
    token shares this session, and the last one closed closes it."""
    session: Any
    pin_digest: bytes
    lock: threading.Lock = field(default_factory=threading.Lock)  # used from several threads
    users: int = 0


_LOGINS: dict[tuple[str, str], _Login] = {}
_LOGINS_LOCK = threading.Lock()


class Pkcs11Masters:
    def __init__(self, settings: Pkcs11Settings) -> None:
        try:
            import pkcs11
        except ImportError:
            raise KeyStoreError("a PKCS#11 master key needs python-pkcs11: install "
                                "callrec with its 'hsm' extra") from None
        self._pkcs11: Any = pkcs11
        check_private(settings.pin_file, "PKCS#11 PIN file")
        try:
            pin = settings.pin_file.read_bytes().decode("utf-8").strip()
        except OSError as exc:
            raise KeyStoreError(f"cannot read PKCS#11 PIN file {settings.pin_file}: "
                                f"{exc.strerror}") from None
        except UnicodeDecodeError:     # its text stays out of the message: it is a secret
            raise KeyStoreError(f"PKCS#11 PIN file {settings.pin_file} is not UTF-8 "
                                "text") from None
        self._login_key = (str(settings.module), settings.token)
        digest = hashlib.sha256(pin.encode("utf-8")).digest()
        with _LOGINS_LOCK:
            login = _LOGINS.get(self._login_key)
            if login is None:
                try:
                    library = pkcs11.lib(str(settings.module))
                    token = library.get_token(token_label=settings.token)
                    session = token.open(user_pin=pin, rw=True)
                except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
                    raise KeyStoreError(f"cannot open PKCS#11 token {settings.token!r} with "
                                        f"{settings.module}: {type(exc).__name__} {exc}") \
                        from None
                login = _LOGINS[self._login_key] = _Login(session, digest)
            elif not hmac.compare_digest(login.pin_digest, digest):
                raise KeyStoreError(f"cannot open PKCS#11 token {settings.token!r} with "
                                    f"{settings.module}: it is open in this process "
                                    "already, with another PIN")
            login.users += 1
        self._login: _Login | None = login
        self._session: Any = login.session
        self._lock = login.lock

    def ids(self) -> list[str]:
        attribute, object_class = self._pkcs11.Attribute, self._pkcs11.ObjectClass
        with self._lock:
            labels = [found[attribute.LABEL] for found in self._session.get_objects(
                {attribute.CLASS: object_class.SECRET_KEY})]
        return sorted(label.removeprefix(LABEL_PREFIX) for label in labels
                      if label.startswith(LABEL_PREFIX))

    def create(self) -> str:
        key_id = f"hsm-{secrets.token_hex(8)}"
        attribute = self._pkcs11.Attribute
        with self._lock:
            self._session.generate_key(
                self._pkcs11.KeyType.AES, 256, label=LABEL_PREFIX + key_id, store=True,
                template={attribute.SENSITIVE: True, attribute.EXTRACTABLE: False,
                          attribute.ENCRYPT: True, attribute.DECRYPT: True})
        return key_id

    def wrap(self, key_id: str, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        with self._lock:
            sealed = self._key(key_id).encrypt(
                plaintext, mechanism=self._pkcs11.Mechanism.AES_GCM,
                mechanism_param=self._pkcs11.GCMParams(nonce, context, 128))
        return nonce + bytes(sealed)

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        nonce, sealed = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        with self._lock:
            key = self._key(key_id)
            try:
                return bytes(key.decrypt(
                    sealed, mechanism=self._pkcs11.Mechanism.AES_GCM,
                    mechanism_param=self._pkcs11.GCMParams(nonce, context, 128)))
            except self._pkcs11.PKCS11Error:
                raise KeyStoreError("a wrapped key in the key store does not "
                                    "authenticate under the HSM's master key") from None

    def destroy(self, key_id: str) -> None:
        with self._lock, contextlib.suppress(RecordingKeyDestroyed):   # gone already: done
            self._key(key_id).destroy()

    def close(self) -> None:
        with _LOGINS_LOCK:
            login, self._login = self._login, None
            if login is None:
                return      # closed already
            login.users -= 1
            if login.users:
                return
            del _LOGINS[self._login_key]
            with login.lock:
                login.session.close()

    def _key(self, key_id: str) -> Any:
        pkcs11 = self._pkcs11
        try:
            return self._session.get_key(object_class=pkcs11.ObjectClass.SECRET_KEY,
                                         label=LABEL_PREFIX + key_id)
        except pkcs11.NoSuchKey:
            raise RecordingKeyDestroyed(f"master key {key_id} is no longer on the "
                                        "token (retired)") from None
