"""The contact history in SQL: :class:`SqlContactHistory` implements the domain's port.

A finished row (one with ``ended_at``) is final: every update below is conditioned on
``ended_at IS NULL``, so a late or repeated event can never rewrite what was recorded.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from callrec.domain.history import CallEnd, CallRecord, NewCall, Outcome
from callrec.errors import InputError
from callrec.storage.db import Database
from callrec.storage.tables import CallRow

MAX_SEARCH_LIMIT = 100_000


class SqlContactHistory:
    """:class:`callrec.domain.history.ContactHistory` on a :class:`Database`.

    Thread-safe: every method runs in its own session and transaction.
    """

    def __init__(self, database: Database) -> None:
        self._database = database

    def open_call(self, call: NewCall) -> None:
        row = CallRow(
            id=call.id,
            asterisk_id=call.asterisk_id,
            channel_id=call.channel_id,
            linkedid=call.linkedid,
            caller_number_raw=call.caller_number_raw,
            caller_number=call.caller_number,
            caller_withheld=call.caller_withheld,
            caller_name_raw=call.caller_name_raw,
            service_number=call.service_number,
            service=call.service,
            service_number_known=call.service_number_known,
            queue=call.queue,
            language=call.language,
            started_at=call.started_at,
            notice_completed=False,
            end_estimated=False,
            legal_hold=False,
        )
        with self._database.session() as session:
            session.add(row)

    def notice_completed(self, call_id: str, recording_path: str) -> None:
        with self._database.session() as session:
            session.execute(
                update(CallRow)
                .where(CallRow.id == call_id, CallRow.ended_at.is_(None))
                .values(notice_completed=True, recording_path=recording_path)
            )

    def queued_unrecorded(self, call_id: str, reason: str) -> None:
        with self._database.session() as session:
            session.execute(
                update(CallRow)
                .where(CallRow.id == call_id, CallRow.ended_at.is_(None))
                .values(recording_skipped_reason=reason)
            )

    def agent_connected(self, call_id: str, agent: str, agent_interface: str,
                        at: datetime) -> bool:
        with self._database.session() as session:
            session.execute(
                update(CallRow)
                .where(CallRow.id == call_id, CallRow.agent.is_(None),
                       CallRow.ended_at.is_(None))
                .values(agent=agent, agent_interface=agent_interface, answered_at=at)
            )
            return session.get(CallRow, call_id) is not None

    def finish_call(self, call_id: str, end: CallEnd) -> None:
        recording = end.recording
        values: dict[str, object] = {
            "ended_at": end.ended_at,
            "outcome": end.outcome.value,
            "end_estimated": end.end_estimated,
        }
        if recording is not None:
            values.update(recording_path=recording.path, recording_bytes=recording.bytes,
                          recording_seconds=recording.seconds,
                          recording_sha256=recording.sha256)
        with self._database.session() as session:
            session.execute(
                update(CallRow)
                .where(CallRow.id == call_id, CallRow.ended_at.is_(None))
                .values(values)
            )

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
    )
