"""Passwords (argon2id), session and API-token secrets (random, stored only as SHA-256).

Session ids and API tokens are 256 random bits: a fast hash is enough to keep the stored
form useless to someone who reads the database, and lets every request look its secret up
by hash. Passwords are chosen by people, so they get argon2id's deliberate slowness.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from callrec.errors import InputError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
TOKEN_PREFIX = "crt_"  # noqa: S105 - a marker that makes leaked tokens greppable


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        # A hash of a password nobody knows: checking a login against it when the user does
        # not exist takes as long as a real check, so timing does not reveal user names.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        check_password(password)
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Constant effort whether or not there is a stored hash."""
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InputError(f"a password must be {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} "
                         "characters long")
    if password.strip() != password or any(ord(char) < 32 for char in password):
        raise InputError("a password must not start or end with spaces or hold control "
                         "characters")


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def csrf_token(session_id: str) -> str:
    """Derived from the session secret, so nothing more is stored and it dies with it."""
    return hmac.new(session_id.encode("utf-8"), b"callrec csrf", hashlib.sha256).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
