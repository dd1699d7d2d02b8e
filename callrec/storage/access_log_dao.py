"""The access log in SQL: appended under a lock, read back for listing and verifying.

Appending reads the newest entry and writes the next one in one transaction. Within this
process a lock keeps appends in line. Between processes, PostgreSQL appends take a table
lock that only other appenders wait for (readers do not); on SQLite the primary key on
``seq`` (or SQLite's own write lock) makes a racing second writer fail, and it tries again
on top of the new head.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select, text

from callrec.access.chain import GENESIS, AccessEvent, ChainedEntry, seal
from callrec.errors import StorageError
from callrec.storage.db import Database
from callrec.storage.tables import AccessLogRow

APPEND_ATTEMPTS = 8
VERIFY_BATCH = 1000


class SqlAccessLog:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._lock = threading.Lock()

    def append(self, event: AccessEvent) -> ChainedEntry:
        with self._lock:
            for attempt in range(APPEND_ATTEMPTS):
                try:
                    return self._append_once(event)
                except StorageError:
                    if attempt == APPEND_ATTEMPTS - 1:
                        raise
                    time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311
        raise AssertionError("unreachable")

    def _append_once(self, event: AccessEvent) -> ChainedEntry:
        with self._database.session() as session:
            if self._database.dialect == "postgresql":
                session.execute(text("LOCK TABLE access_log IN SHARE ROW EXCLUSIVE MODE"))
            head = session.scalars(
                select(AccessLogRow).order_by(AccessLogRow.seq.desc()).limit(1)).first()
            seq, prev_hash = (1, GENESIS) if head is None else (head.seq + 1, head.hash)
            entry = seal(seq, event, prev_hash)
            session.add(_row(entry))
            return entry

    def entries(self, *, limit: int = 100, call_id: str | None = None,
                username: str | None = None, since: datetime | None = None,
                ) -> list[ChainedEntry]:
        """Newest first."""
        query = select(AccessLogRow).order_by(AccessLogRow.seq.desc()).limit(limit)
        if call_id is not None:
            query = query.where(AccessLogRow.call_id == call_id)
        if username is not None:
            query = query.where(AccessLogRow.username == username)
        if since is not None:
            query = query.where(AccessLogRow.at >= since)
        with self._database.session() as session:
            return [to_entry(row) for row in session.scalars(query)]

    def chain(self) -> Iterator[ChainedEntry]:
        """Every entry, oldest first, read in batches so a long log fits in memory."""
        after = 0
        while True:
            query = (select(AccessLogRow).where(AccessLogRow.seq > after)
                     .order_by(AccessLogRow.seq).limit(VERIFY_BATCH))
            with self._database.session() as session:
                batch = [to_entry(row) for row in session.scalars(query)]
            yield from batch
            if len(batch) < VERIFY_BATCH:
                return
            after = batch[-1].seq


def _row(entry: ChainedEntry) -> AccessLogRow:
    event = entry.event
    return AccessLogRow(seq=entry.seq, at=event.at, username=event.username, role=event.role,
                        call_id=event.call_id, action=str(event.action),
                        purpose=event.purpose, note=event.note, client=event.client,
                        prev_hash=entry.prev_hash, hash=entry.hash)


def to_entry(row: AccessLogRow) -> ChainedEntry:
    event = AccessEvent(at=row.at, username=row.username, role=row.role, call_id=row.call_id,
                        action=row.action, purpose=row.purpose, note=row.note,
                        client=row.client)
    return ChainedEntry(row.seq, event, row.prev_hash, row.hash)
