"""Listen grants: the link to one recording that an access-log entry has paid for.

A player fetches audio in several HTTP range requests (and again when the listener seeks).
The access is logged once, when the user asks to play or download with a purpose; the
grant then lets that user fetch that recording for a few minutes without a new entry.
Grants live in the web process only: after a restart the user presses play again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from callrec.access.chain import AccessAction

GRANT_LIFETIME = timedelta(minutes=10)
MAX_GRANTS = 10_000


@dataclass(frozen=True)
class Grant:
    token: str
    user_id: int
    call_id: str
    action: AccessAction
    access_seq: int
    expires_at: datetime


class Grants:
    def __init__(self, clock: Callable[[], datetime],
                 lifetime: timedelta = GRANT_LIFETIME) -> None:
        self._clock = clock
        self._lifetime = lifetime
        self._grants: dict[str, Grant] = {}

    def issue(self, user_id: int, call_id: str, action: AccessAction, access_seq: int) -> Grant:
        self._forget_expired()
        if len(self._grants) >= MAX_GRANTS:
            # Bounded memory whatever a client does: the oldest grants go first.
            for token in list(self._grants)[: len(self._grants) - MAX_GRANTS + 1]:
                del self._grants[token]
        grant = Grant(secrets.token_urlsafe(24), user_id, call_id, action, access_seq,
                      self._clock() + self._lifetime)
        self._grants[grant.token] = grant
        return grant

    def find(self, token: str, user_id: int) -> Grant | None:
        """The grant, if it exists, is still valid and was issued to this user."""
        grant = self._grants.get(token)
        if grant is None or grant.user_id != user_id:
            return None
        if grant.expires_at <= self._clock():
            del self._grants[token]
            return None
        return grant

    def _forget_expired(self) -> None:
        now = self._clock()
        for token in [t for t, g in self._grants.items() if g.expires_at <= now]:
            del self._grants[token]
