"""The small interfaces the pause service depends on; adapters: AMI in
:mod:`callrec.calls.ami`, SQL in :mod:`callrec.storage.pauses_dao`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from callrec.access.chain import AccessEvent
from callrec.pause.model import DuePause, Pause, PauseEnd, PauseStart

Clock = Callable[[], datetime]


class RecordingMuter(Protocol):
    """Silences a call's recording (both directions), not the call itself."""

    async def mute(self, channel_id: str) -> None: ...

    async def unmute(self, channel_id: str) -> None: ...


class PauseStore(Protocol):
    """Where pauses are kept, with their call (erased and purged with it)."""

    async def open_or_renew(self, start: PauseStart) -> Pause:
        """Open a pause, or, if the call has an open one, move its expiry to
        ``start.expires_at`` and return it (its start unchanged)."""

    async def close(self, pause_id: int, end: PauseEnd) -> Pause | None:
        """End an open pause; None if it had ended already (someone else ended it)."""

    async def current(self, call_id: str) -> Pause | None:
        """The call's open pause, if any."""

    async def due(self, now: datetime) -> list[DuePause]:
        """Open pauses past their expiry or whose call has ended, in one query."""

    async def of_calls(self, call_ids: Iterable[str]) -> dict[str, list[Pause]]:
        """Every pause of these calls, oldest first; calls without pauses are absent."""


class PauseAudit(Protocol):
    """The hash-chained access log (:mod:`callrec.access.chain`)."""

    async def append(self, event: AccessEvent) -> None: ...
