"""The rights register in SQL: :class:`SqlRights` implements
:class:`callrec.rights.ports.RightsStore` (and, synchronously, the Objections port).

Each write is one transaction holding the change, the request's new state and the audit
entry, so the register and the audit log never disagree with the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from callrec.domain.history import CallRecord
from callrec.pause.model import Pause
from callrec.rights.model import (
    ERASED_SUBJECT,
    Correction,
    RequestKind,
    RequestStatus,
    RightsRequest,
    Tombstone,
)
from callrec.rights.ports import (
    Change,
    Entry,
    ErasureItem,
    ErasurePlan,
    Rectify,
    Restrict,
)
from callrec.storage.audit_dao import SqlAuditLog
from callrec.storage.db import Database
from callrec.storage.history_dao import to_record
from callrec.storage.pauses_dao import SqlPauses
from callrec.storage.tables import (
    CallRow,
    CorrectionRow,
    ErasureItemRow,
    ErasureJobRow,
    ErasureTombstoneRow,
    ObjectionRow,
    RightsRequestRow,
)


class SqlRights:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._audit = SqlAuditLog(database)

    # --- reading ------------------------------------------------------------------------

    def calls_of(self, number: str) -> list[CallRecord]:
        query = (select(CallRow).where(CallRow.caller_number == number)
                 .order_by(CallRow.started_at, CallRow.id))
        with self._database.session() as session:
            return [to_record(row) for row in session.scalars(query)]

    def call(self, call_id: str) -> CallRecord | None:
        with self._database.session() as session:
            row = session.get(CallRow, call_id)
            return None if row is None else to_record(row)

    def corrections(self, call_ids: Sequence[str]) -> list[Correction]:
        if not call_ids:
            return []
        query = (select(CorrectionRow).where(CorrectionRow.call_id.in_(call_ids))
                 .order_by(CorrectionRow.corrected_at, CorrectionRow.id))
        with self._database.session() as session:
            return [_correction(row) for row in session.scalars(query)]

    def pauses(self, call_ids: Sequence[str]) -> dict[str, list[Pause]]:
        return SqlPauses(self._database).of_calls(call_ids)

    def request(self, reference: str) -> RightsRequest | None:
        with self._database.session() as session:
            row = session.get(RightsRequestRow, reference)
            return None if row is None else _request(row)

    def requests(self) -> list[RightsRequest]:
        query = select(RightsRequestRow).order_by(RightsRequestRow.due_at,
                                                  RightsRequestRow.reference)
        with self._database.session() as session:
            return [_request(row) for row in session.scalars(query)]

    def has_objected(self, e164: str) -> bool:
        """Synchronous form of :class:`callrec.domain.ports.Objections`."""
        with self._database.session() as session:
            return session.get(ObjectionRow, e164) is not None

    def objected_numbers(self) -> set[str]:
        """Every number that objected: what sampling and analytics exports leave out."""
        with self._database.session() as session:
            return set(session.scalars(select(ObjectionRow.subject_number)))

    def tombstone(self, reference: str) -> Tombstone | None:
        query = select(ErasureTombstoneRow).where(
            ErasureTombstoneRow.request_reference == reference)
        with self._database.session() as session:
            row = session.scalars(query).first()
            return None if row is None else Tombstone(
                row.request_reference, row.calls_erased, row.recordings_erased,
                row.erased_at, row.actor)

    # --- changing -----------------------------------------------------------------------

    def commit(self, entry: Entry, change: Change | None = None) -> int:
        with self._database.session() as session:
            changed = 0 if change is None else _apply(session, change, entry)
            self._log(session, entry)
            return changed

    def _log(self, session: Session, entry: Entry) -> None:
        if entry.request is not None:
            _save_request(session, entry.request)
        self._audit.record(entry.at, entry.actor, entry.action, call_id=entry.call_id,
                           request_reference=None if entry.request is None
                           else entry.request.reference,
                           details=entry.details, session=session)

    # --- erasure ------------------------------------------------------------------------

    def erasure_job(self, reference: str) -> ErasurePlan | None:
        with self._database.session() as session:
            job = session.get(ErasureJobRow, reference)
            if job is None:
                return None
            items = session.scalars(select(ErasureItemRow)
                                    .where(ErasureItemRow.request_reference == reference)
                                    .order_by(ErasureItemRow.call_id))
            return ErasurePlan(job.request_reference, job.subject_number, job.call_id,
                               job.started_at, job.actor, tuple(
                                   ErasureItem(item.call_id, item.recording_path,
                                               item.recording_live) for item in items))

    def unfinished_erasures(self, number: str) -> list[str]:
        query = (select(ErasureJobRow.request_reference)
                 .where(ErasureJobRow.subject_number == number)
                 .order_by(ErasureJobRow.started_at))
        with self._database.session() as session:
            return list(session.scalars(query))

    def start_erasure(self, plan: ErasurePlan, entry: Entry) -> None:
        with self._database.session() as session:
            session.add(ErasureJobRow(request_reference=plan.reference,
                                      subject_number=plan.subject_number,
                                      call_id=plan.call_id, started_at=plan.started_at,
                                      actor=plan.actor))
            # The job's row first: the items' foreign key needs it.
            session.flush()
            session.add_all(ErasureItemRow(request_reference=plan.reference,
                                           call_id=item.call_id,
                                           recording_path=item.recording_path,
                                           recording_live=item.recording_live)
                            for item in plan.items)
            self._log(session, entry)

    def finish_erasure(self, plan: ErasurePlan, tombstone: Tombstone, entry: Entry) -> None:
        call_ids = [item.call_id for item in plan.items]
        with self._database.session() as session:
            if call_ids:
                session.execute(delete(CorrectionRow)
                                .where(CorrectionRow.call_id.in_(call_ids)))
                session.execute(delete(CallRow).where(CallRow.id.in_(call_ids)))
            self._log(session, entry)
            if plan.call_id is None:
                # Nothing of the subject is left to answer about; the tombstone is the proof.
                session.execute(update(RightsRequestRow)
                                .where(RightsRequestRow.subject_number == plan.subject_number)
                                .values(subject_number=ERASED_SUBJECT))
            session.add(ErasureTombstoneRow(
                request_reference=tombstone.request_reference,
                calls_erased=tombstone.calls_erased,
                recordings_erased=tombstone.recordings_erased,
                erased_at=tombstone.erased_at, actor=tombstone.actor))
            session.execute(delete(ErasureItemRow)
                            .where(ErasureItemRow.request_reference == plan.reference))
            session.execute(delete(ErasureJobRow)
                            .where(ErasureJobRow.request_reference == plan.reference))


def _apply(session: Session, change: Change, entry: Entry) -> int:
    if isinstance(change, Rectify):
        return _rectify(session, change, entry)
    if isinstance(change, Restrict):
        rows = update(CallRow).where(CallRow.caller_number == change.number)
        if change.lift:
            rows = rows.where(CallRow.restricted_at.is_not(None)).values(restricted_at=None)
        else:
            rows = rows.where(CallRow.restricted_at.is_(None)).values(restricted_at=entry.at)
        return cast(CursorResult[Any], session.execute(rows)).rowcount
    if session.get(ObjectionRow, change.number) is not None:
        return 0
    reference = "" if entry.request is None else entry.request.reference
    session.add(ObjectionRow(subject_number=change.number, objected_at=entry.at,
                             request_reference=reference, actor=entry.actor))
    return 1


def _rectify(session: Session, change: Rectify, entry: Entry) -> int:
    query = select(CallRow).where(CallRow.id == change.call_id).with_for_update()
    row = session.scalars(query).one()
    old = getattr(row, change.column)
    setattr(row, change.column, change.new_value)
    session.add(CorrectionRow(
        call_id=change.call_id, field=change.field,
        old_value=None if old is None else str(old), new_value=change.new_value,
        reason=change.reason,
        request_reference="" if entry.request is None else entry.request.reference,
        corrected_at=entry.at, actor=entry.actor))
    return 1


def _save_request(session: Session, request: RightsRequest) -> None:
    row = session.get(RightsRequestRow, request.reference)
    if row is None:
        row = RightsRequestRow(reference=request.reference)
        session.add(row)
    row.kind = request.kind.value
    row.subject_number = request.subject_number
    row.received_at = request.received_at
    row.due_at = request.due_at
    row.status = request.status.value
    row.handler = request.handler
    row.outcome = request.outcome
    row.closed_at = request.closed_at


def _request(row: RightsRequestRow) -> RightsRequest:
    return RightsRequest(row.reference, RequestKind(row.kind), row.subject_number,
                         row.received_at, row.due_at, RequestStatus(row.status), row.handler,
                         row.outcome, row.closed_at)


def _correction(row: CorrectionRow) -> Correction:
    return Correction(row.id, row.call_id, row.field, row.old_value, row.new_value,
                      row.reason, row.request_reference, row.corrected_at, row.actor)
