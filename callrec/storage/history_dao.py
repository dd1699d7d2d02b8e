"""The contact history in SQL: :class:`SqlContactHistory` implements the domain's port.

A finished row (one with ``ended_at``) is final: every update below is conditioned on
``ended_at IS NULL``, so a late or repeated event can never rewrite what was recorded.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime

from sqlalchemy import Table, bindparam, insert, select, update

from callrec.domain.history import CallEnd, CallRecord, NewCall, Outcome
from callrec.errors import InputError
from callrec.storage.db import Database
from callrec.storage.prepared import Prepared, cursor_transaction
from callrec.storage.tables import CallRow

MAX_SEARCH_LIMIT = 100_000
_CALLS: Table = CallRow.__table__  # type: ignore[assignment]  # a Table, typed as FromClause
_INSERT_CALL = insert(_CALLS).values(
    {column: bindparam(column) for column in (
        *(field.name for field in dataclasses.fields(NewCall)),
        "notice_completed", "end_estimated", "legal_hold")})
_SET_FIRST_AGENT = (update(_CALLS)
                    .where(_CALLS.c.id == bindparam("call_id"), _CALLS.c.agent.is_(None),
                           _CALLS.c.ended_at.is_(None))
                    .values(agent=bindparam("agent"),
                            agent_interface=bindparam("agent_interface"),
                            answered_at=bindparam("answered_at")))


class SqlContactHistory:
    """:class:`callrec.domain.history.ContactHistory` on a :class:`Database`.

    Thread-safe: every method runs in its own session and transaction.
    """

    def __init__(self, database: Database, *, pinned: bool = False) -> None:
        self._database = database
        # pinned: the writes run on the calling thread's own connection (the service's
        # one database thread); otherwise each takes a pooled one.
        self._pinned = pinned
        self._updates: dict[tuple[str, ...], Prepared] = {}  # by the columns they set

    # Compiled on first use: a process that only reads (callrec calls) never pays for it.
    @functools.cached_property
    def _insert(self) -> Prepared:
        return Prepared.of(_INSERT_CALL, self._database.engine.dialect)

    @functools.cached_property
    def _first_agent(self) -> Prepared:
        return Prepared.of(_SET_FIRST_AGENT, self._database.engine.dialect)

    def open_call(self, call: NewCall) -> None:
        with cursor_transaction(self._database, self._pinned) as run:
            run(self._insert, {**vars(call), "notice_completed": False,
                               "end_estimated": False, "legal_hold": False})

    def notice_completed(self, call_id: str, recording_path: str) -> None:
        self._update_open(call_id, notice_completed=True, recording_path=recording_path)

    def queued_unrecorded(self, call_id: str, reason: str) -> None:
        self._update_open(call_id, recording_skipped_reason=reason)

    def agent_connected(self, call_id: str, agent: str, agent_interface: str,
                        at: datetime, recording_path: str | None = None,
                        recording_started_at: datetime | None = None) -> bool:
        with cursor_transaction(self._database, self._pinned) as run:
            hand_over: dict[str, object] = {}
            if recording_path is not None:
                hand_over.update(notice_completed=True, recording_path=recording_path)
            if recording_started_at is not None:
                hand_over["recording_started_at"] = recording_started_at
            if hand_over:
                run(self._update(set(hand_over)), {"call_id": call_id, **hand_over})
            changed = run(self._first_agent, {"call_id": call_id, "agent": agent,
                                              "agent_interface": agent_interface,
                                              "answered_at": at})
            if changed == 1:
                return True
        # Not changed: an agent was already there, the call had ended, or no such call.
        return self.get(call_id) is not None

    def finish_call(self, call_id: str, end: CallEnd) -> None:
        recording = end.recording
        values: dict[str, object] = {
            "ended_at": end.ended_at,
            "outcome": end.outcome.value,
            "end_estimated": end.end_estimated,
        }
        if end.notice_completed:
            values["notice_completed"] = True
        if end.recording_path is not None:
            values["recording_path"] = end.recording_path
        if end.recording_started_at is not None:
            values["recording_started_at"] = end.recording_started_at
        if recording is not None:
            values.update(recording_path=recording.path, recording_bytes=recording.bytes,
                          recording_seconds=recording.seconds,
                          recording_sha256=recording.sha256)
        self._update_open(call_id, **values)

    def _update_open(self, call_id: str, **values: object) -> None:
        with cursor_transaction(self._database, self._pinned) as run:
            run(self._update(set(values)), {"call_id": call_id, **values})

    def _update(self, columns: set[str]) -> Prepared:
        """UPDATE of an unfinished row setting these columns (compiled once per set)."""
        key = tuple(sorted(columns))
        prepared = self._updates.get(key)
        if prepared is None:
            statement = (update(_CALLS)
                         .where(_CALLS.c.id == bindparam("call_id"),
                                _CALLS.c.ended_at.is_(None))
                         .values({name: bindparam(name) for name in key}))
            prepared = self._updates[key] = Prepared.of(statement,
                                                        self._database.engine.dialect)
        return prepared

    def get(self, call_id: str) -> CallRecord | None:
        with self._database.session() as session:
            row = session.get(CallRow, call_id)
            return None if row is None else to_record(row)

    def find_by_channel(self, channel_id: str) -> CallRecord | None:
        """The newest call on that channel id (ids can repeat across Asterisk nodes)."""
        query = (select(CallRow).where(CallRow.channel_id == channel_id)
                 .order_by(CallRow.started_at.desc(), CallRow.id.desc()).limit(1))
        with self._database.session() as session:
            row = session.scalars(query).first()
            return None if row is None else to_record(row)

    def unfinished_calls(self, asterisk_id: str) -> list[CallRecord]:
        query = (select(CallRow)
                 .where(CallRow.asterisk_id == asterisk_id, CallRow.ended_at.is_(None))
                 .order_by(CallRow.started_at, CallRow.id))
        with self._database.session() as session:
            return [to_record(row) for row in session.scalars(query)]

    def search(self, number: str | None = None, since: datetime | None = None,
               limit: int = 100) -> list[CallRecord]:
        if not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise InputError(f"limit {limit} is out of range 1..{MAX_SEARCH_LIMIT}")
        query = select(CallRow)
        if number is not None:
            query = query.where(CallRow.caller_number == number)
        if since is not None:
            query = query.where(CallRow.started_at >= since)
        query = query.order_by(CallRow.started_at.desc(), CallRow.id.desc()).limit(limit)
        with self._database.session() as session:
            return [to_record(row) for row in session.scalars(query)]


def to_record(row: CallRow) -> CallRecord:
    return CallRecord(
        id=row.id,
        asterisk_id=row.asterisk_id,
        channel_id=row.channel_id,
        linkedid=row.linkedid,
        caller_number_raw=row.caller_number_raw,
        caller_number=row.caller_number,
        caller_withheld=row.caller_withheld,
        caller_name_raw=row.caller_name_raw,
        service_number=row.service_number,
        service=row.service,
        service_number_known=row.service_number_known,
        queue=row.queue,
        language=row.language,
        started_at=row.started_at,
        notice_completed=row.notice_completed,
        recording_path=row.recording_path,
        answered_at=row.answered_at,
        agent=row.agent,
        agent_interface=row.agent_interface,
        ended_at=row.ended_at,
        outcome=None if row.outcome is None else Outcome(row.outcome),
        recording_bytes=row.recording_bytes,
        recording_seconds=row.recording_seconds,
        recording_sha256=row.recording_sha256,
        end_estimated=row.end_estimated,
        recording_deleted_at=row.recording_deleted_at,
        restricted_at=row.restricted_at,
        legal_hold=row.legal_hold,
        recording_skipped_reason=row.recording_skipped_reason,
        recording_started_at=row.recording_started_at,
    )
