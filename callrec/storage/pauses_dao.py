"""Recording pauses in SQL, and the async adapters the pause service runs them through.

:class:`SqlPauses` is synchronous and thread-safe, like the other DAOs. At most one pause
of a call is open at a time, whichever process opens it: a partial unique index says so,
and a racing second opener renews the first one's pause instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from callrec.access.chain import AccessEvent
from callrec.errors import StorageError
from callrec.pause.model import DuePause, Pause, PauseEnd, PauseMethod, PauseStart
from callrec.storage.access_log_dao import SqlAccessLog
from callrec.storage.db import Database
from callrec.storage.tables import CallRow, RecordingPauseRow

T = TypeVar("T")
_OPEN_ATTEMPTS = 3
_IN_BATCH = 500   # call ids per IN (...) list


class SqlPauses:
    def __init__(self, database: Database) -> None:
        self._database = database

    def open_or_renew(self, start: PauseStart) -> Pause:
        for _ in range(_OPEN_ATTEMPTS):
            try:
                return self._open_or_renew_once(start)
            except StorageError:
                # Another process opened one in between: the unique index refused ours.
                if self.current(start.call_id) is None:
                    raise
        raise StorageError(f"could not open a pause of call {start.call_id}")

    def _open_or_renew_once(self, start: PauseStart) -> Pause:
        with self._database.session() as session:
            row = _open_row(session, start.call_id)
            if row is not None:
                row.expires_at = start.expires_at
            else:
                row = RecordingPauseRow(
                    call_id=start.call_id, started_at=start.at, start_offset_ms=start.offset_ms,
                    paused_by=start.by, method=start.method.value, auto_resumed=False,
                    expires_at=start.expires_at)
                session.add(row)
            session.flush()
            return to_pause(row)

    def close(self, pause_id: int, end: PauseEnd) -> Pause | None:
        with self._database.session() as session:
            changed = session.execute(
                update(RecordingPauseRow)
                .where(RecordingPauseRow.id == pause_id, RecordingPauseRow.ended_at.is_(None))
                .values(ended_at=end.at, end_offset_ms=end.offset_ms, resumed_by=end.by,
                        resume_method=end.method.value if end.method else None,
                        auto_resumed=end.auto_resumed)
                .returning(RecordingPauseRow)).scalars().first()
            return to_pause(changed) if changed is not None else None

    def current(self, call_id: str) -> Pause | None:
        with self._database.session() as session:
            row = _open_row(session, call_id)
            return to_pause(row) if row is not None else None

    def due(self, now: datetime) -> list[DuePause]:
        query = (select(RecordingPauseRow, CallRow.channel_id, CallRow.ended_at,
                        CallRow.recording_started_at)
                 .join(CallRow, CallRow.id == RecordingPauseRow.call_id)
                 .where(RecordingPauseRow.ended_at.is_(None),
                        or_(RecordingPauseRow.expires_at <= now, CallRow.ended_at.is_not(None)))
                 .order_by(RecordingPauseRow.id))
        with self._database.session() as session:
            return [DuePause(to_pause(row), channel_id, ended_at, started_at)
                    for row, channel_id, ended_at, started_at in session.execute(query)]

    def of_calls(self, call_ids: Iterable[str]) -> dict[str, list[Pause]]:
        wanted = sorted(set(call_ids))
        found: dict[str, list[Pause]] = {}
        with self._database.session() as session:
            for first in range(0, len(wanted), _IN_BATCH):
                batch = wanted[first:first + _IN_BATCH]
                query = (select(RecordingPauseRow)
                         .where(RecordingPauseRow.call_id.in_(batch))
                         .order_by(RecordingPauseRow.call_id, RecordingPauseRow.started_at,
                                   RecordingPauseRow.id))
                for row in session.scalars(query):
                    found.setdefault(row.call_id, []).append(to_pause(row))
        return found


def _open_row(session: Session, call_id: str) -> RecordingPauseRow | None:
    return session.scalars(select(RecordingPauseRow).where(
        RecordingPauseRow.call_id == call_id, RecordingPauseRow.ended_at.is_(None))).first()


def to_pause(row: RecordingPauseRow) -> Pause:
    return Pause(id=row.id, call_id=row.call_id, started_at=row.started_at,
                 ended_at=row.ended_at, start_offset_ms=row.start_offset_ms,
                 end_offset_ms=row.end_offset_ms, paused_by=row.paused_by,
                 method=PauseMethod(row.method), resumed_by=row.resumed_by,
                 resume_method=PauseMethod(row.resume_method) if row.resume_method else None,
                 auto_resumed=row.auto_resumed, expires_at=row.expires_at)


# --- async adapters ---------------------------------------------------------------------


class Offload(Protocol):
    """Runs blocking work away from the event loop (the service's database thread)."""

    async def run(self, work: Callable[..., T], *args: object) -> T: ...


class ToThread:
    """:class:`Offload` on asyncio's default thread pool (the web process)."""

    async def run(self, work: Callable[..., T], *args: object) -> T:
        return await asyncio.to_thread(work, *args)


class AsyncPauses:
    """The pause service's PauseStore port over :class:`SqlPauses`."""

    def __init__(self, pauses: SqlPauses, offload: Offload) -> None:
        self._pauses = pauses
        self._offload = offload

    async def open_or_renew(self, start: PauseStart) -> Pause:
        return await self._offload.run(self._pauses.open_or_renew, start)

    async def close(self, pause_id: int, end: PauseEnd) -> Pause | None:
        return await self._offload.run(self._pauses.close, pause_id, end)

    async def current(self, call_id: str) -> Pause | None:
        return await self._offload.run(self._pauses.current, call_id)

    async def due(self, now: datetime) -> list[DuePause]:
        return await self._offload.run(self._pauses.due, now)

    async def of_calls(self, call_ids: Iterable[str]) -> dict[str, list[Pause]]:
        return await self._offload.run(self._pauses.of_calls, list(call_ids))


class AsyncAccessLog:
    """The pause service's audit port over the hash-chained :class:`SqlAccessLog`."""

    def __init__(self, access_log: SqlAccessLog, offload: Offload) -> None:
        self._access_log = access_log
        self._offload = offload

    async def append(self, event: AccessEvent) -> None:
        await self._offload.run(self._access_log.append, event)
