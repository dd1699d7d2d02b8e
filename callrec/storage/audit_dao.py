"""The audit log: who did what to which call or request, when. Append-only.

Every purge run, rights action and administrative change writes one entry. Pass the
caller's ``Session`` to :meth:`SqlAuditLog.record` when the entry must commit or roll back
together with the change it describes (an erasure, say).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callrec.storage.db import Database
from callrec.storage.tables import AuditLogRow


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    call_id: str | None
    request_reference: str | None
    details: Mapping[str, object]


class SqlAuditLog:
    def __init__(self, database: Database) -> None:
        self._database = database

    def record(self, at: datetime, actor: str, action: str, *, call_id: str | None = None,
               request_reference: str | None = None,
               details: Mapping[str, object] | None = None,
               session: Session | None = None) -> None:
        row = AuditLogRow(at=at, actor=actor, action=action, call_id=call_id,
                          request_reference=request_reference,
                          details=json.dumps(dict(details or {}), sort_keys=True,
                                             ensure_ascii=False, default=str))
        if session is not None:
            session.add(row)
            return
        with self._database.session() as own:
            own.add(row)

    def entries(self, *, action: str | None = None, since: datetime | None = None,
                limit: int = 100) -> list[AuditEntry]:
        """Newest first."""
        query = select(AuditLogRow).order_by(AuditLogRow.id.desc()).limit(limit)
        if action is not None:
            query = query.where(AuditLogRow.action == action)
        if since is not None:
            query = query.where(AuditLogRow.at >= since)
        with self._database.session() as session:
            return [_entry(row) for row in session.scalars(query)]


def _entry(row: AuditLogRow) -> AuditEntry:
    return AuditEntry(id=row.id, at=row.at, actor=row.actor, action=row.action,
                      call_id=row.call_id, request_reference=row.request_reference,
                      details=json.loads(row.details) if row.details else {})
