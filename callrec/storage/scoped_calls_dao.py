"""Contact-history reads limited to what one principal may see.

The role's scope (agents, queues, restriction) becomes part of the SQL, so rows outside it
never leave the database. Objections live in another part of the register and are checked
per row through an :data:`~callrec.access.roles.ObjectionCheck`.
"""

from __future__ import annotations

from sqlalchemy import Select, false, select

from callrec.access.roles import CallFilters, CallScope, ObjectionCheck, in_scope
from callrec.domain.history import CallRecord
from callrec.pause.model import Pause
from callrec.storage.db import Database
from callrec.storage.history_dao import to_record
from callrec.storage.pauses_dao import SqlPauses
from callrec.storage.tables import CallRow

# Objected calls are dropped after the query; fetch more than asked so one round is enough
# in the usual case, but never loop without end.
_OVERFETCH = 2
_MAX_ROUNDS = 20


class ScopedCalls:
    def __init__(self, database: Database, has_objected: ObjectionCheck) -> None:
        self._database = database
        self._has_objected = has_objected

    def pauses(self, call_id: str) -> list[Pause]:
        """The recording pauses of a call already found in scope (:meth:`get`)."""
        return SqlPauses(self._database).of_calls([call_id]).get(call_id, [])

    def get(self, scope: CallScope, call_id: str) -> CallRecord | None:
        """The call if it exists and is in scope; None in every other case, alike."""
        query = _scoped(select(CallRow).where(CallRow.id == call_id), scope)
        with self._database.session() as session:
            row = session.scalars(query).first()
            record = None if row is None else to_record(row)
        if record is None or not in_scope(scope, record, self._has_objected):
            return None
        return record

    def search(self, scope: CallScope, filters: CallFilters) -> list[CallRecord]:
        """Newest first, at most ``filters.limit``."""
        query = _scoped(_filtered(select(CallRow), filters), scope)
        query = query.order_by(CallRow.started_at.desc(), CallRow.id.desc())
        found: list[CallRecord] = []
        batch = filters.limit * (_OVERFETCH if scope.exclude_objected else 1)
        for round_ in range(_MAX_ROUNDS):
            with self._database.session() as session:
                rows = [to_record(row) for row in
                        session.scalars(query.offset(round_ * batch).limit(batch))]
            found += [r for r in rows if in_scope(scope, r, self._has_objected)]
            if len(found) >= filters.limit or len(rows) < batch:
                break
        return found[: filters.limit]


def _filtered(query: Select[CallRow], filters: CallFilters) -> Select[CallRow]:
    if filters.number is not None:
        query = query.where(CallRow.caller_number == filters.number)
    if filters.service is not None:
        query = query.where(CallRow.service == filters.service)
    if filters.queue is not None:
        query = query.where(CallRow.queue == filters.queue)
    if filters.agent is not None:
        query = query.where(CallRow.agent == filters.agent)
    if filters.since is not None:
        query = query.where(CallRow.started_at >= filters.since)
    if filters.until is not None:
        query = query.where(CallRow.started_at < filters.until)
    return query


def _scoped(query: Select[CallRow], scope: CallScope) -> Select[CallRow]:
    if scope.agents is not None:
        query = query.where(CallRow.agent.in_(scope.agents) if scope.agents else false())
    if scope.queues is not None:
        query = query.where(CallRow.queue.in_(scope.queues) if scope.queues else false())
    if not scope.include_restricted:
        query = query.where(CallRow.restricted_at.is_(None))
    return query
