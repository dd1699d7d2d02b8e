"""The purge's SQL: :class:`SqlPurgeStore` implements :class:`callrec.retention.ports.PurgeStore`.

Every statement that changes a calls row re-checks, in its WHERE clause, that the row is
not held (restricted, on legal hold, caller with an open request) and in the expected
state, so a hold set while the purge runs wins over the purge.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    delete,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from callrec.errors import StorageError
from callrec.retention.ports import CallCandidate
from callrec.retention.report import PurgeReport
from callrec.storage.db import Database
from callrec.storage.tables import AuditLogRow, CallRow, PurgeRunRow, RightsRequestRow

# pg_advisory_lock key: "callrec\x01" as a big-endian integer; any fixed number would do,
# it only has to be the same on every node.
PG_LOCK_KEY = int.from_bytes(b"callrec\x01", "big") - (1 << 63)
AUDIT_ACTION = "retention.purge"


def _open_requests() -> Select[str]:
    return select(RightsRequestRow.subject_number).where(RightsRequestRow.status == "open")


def _not_held() -> ColumnElement[bool]:
    return and_(CallRow.restricted_at.is_(None), CallRow.legal_hold == false(),
                or_(CallRow.caller_number.is_(None),
                    CallRow.caller_number.not_in(_open_requests().scalar_subquery())))


def _recording_live() -> ColumnElement[bool]:
    return and_(CallRow.recording_path.is_not(None), CallRow.recording_deleted_at.is_(None))


_CANDIDATE_COLUMNS = (CallRow.id, CallRow.started_at, CallRow.recording_path,
                      CallRow.recording_deleted_at, CallRow.restricted_at, CallRow.legal_hold,
                      CallRow.caller_number)


def _candidate(row: Any) -> CallCandidate:
    return CallCandidate(call_id=row.id, started_at=row.started_at,
                         recording_path=row.recording_path,
                         recording_live=row.recording_path is not None and
                         row.recording_deleted_at is None,
                         restricted=row.restricted_at is not None,
                         legal_hold=bool(row.legal_hold), caller_number=row.caller_number)


class SqlPurgeStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    # --- the lock ---------------------------------------------------------------------

    @contextmanager
    def purge_lock(self) -> Iterator[bool]:
        """PostgreSQL: a session advisory lock, which every node sees and which dies with
        the connection. SQLite: flock on a file beside the database, which dies with the
        process (a SQLite database cannot be shared between nodes anyway)."""
        if self._database.dialect == "postgresql":
            with self._pg_lock() as acquired:
                yield acquired
        else:
            with _file_lock(self._sqlite_lock_path()) as acquired:
                yield acquired

    @contextmanager
    def _pg_lock(self) -> Iterator[bool]:
        try:
            connection = self._database.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT")
            acquired = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                               {"key": PG_LOCK_KEY}).scalar())
        except SQLAlchemyError as exc:
            raise self._database.error(exc) from exc
        try:
            yield acquired
        finally:
            # Unlock whatever the run raised: the connection goes back to the pool.
            if acquired:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                       {"key": PG_LOCK_KEY})
                except SQLAlchemyError:
                    connection.invalidate()  # closing the session is what releases it then
            connection.close()

    def _sqlite_lock_path(self) -> Path | None:
        database = self._database.engine.url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return None
        return Path(f"{database}.purge-lock")

    def running_purges(self) -> list[str]:
        query = (select(PurgeRunRow).where(PurgeRunRow.status == "running",
                                           PurgeRunRow.dry_run == false())
                 .order_by(PurgeRunRow.id))
        with self._database.session() as session:
            return [f"run {row.id} on {row.host} (pid {row.pid}, {row.actor}), since "
                    f"{row.started_at.isoformat()}" for row in session.scalars(query)]

    # --- reading candidates -----------------------------------------------------------

    def open_request_numbers(self) -> frozenset[str]:
        with self._database.session() as session:
            return frozenset(session.scalars(_open_requests()))

    def live_recordings(self, service: str, before: datetime,
                        after: tuple[datetime, str] | None, limit: int) -> list[CallCandidate]:
        query = select(*_CANDIDATE_COLUMNS).where(
            CallRow.service == service, _recording_live(), CallRow.started_at < before,
            CallRow.recording_purge_started_at.is_(None))
        return self._page(query, after, limit)

    def history_rows(self, service: str, before: datetime,
                     after: tuple[datetime, str] | None, limit: int) -> list[CallCandidate]:
        query = select(*_CANDIDATE_COLUMNS).where(
            CallRow.service == service, CallRow.started_at < before,
            CallRow.recording_purge_started_at.is_(None))
        return self._page(query, after, limit)

    def _page(self, query: Any, after: tuple[datetime, str] | None,
              limit: int) -> list[CallCandidate]:
        if after is not None:
            key = tuple_(literal(after[0], CallRow.started_at.type), literal(after[1], String()))
            query = query.where(tuple_(CallRow.started_at, CallRow.id) > key)
        query = query.order_by(CallRow.started_at, CallRow.id).limit(limit)
        with self._database.session() as session:
            return [_candidate(row) for row in session.execute(query)]

    def count_live_recordings(self, service: str, before: datetime) -> int:
        query = select(func.count()).select_from(CallRow).where(
            CallRow.service == service, _recording_live(), CallRow.started_at < before)
        with self._database.session() as session:
            return int(session.scalar(query) or 0)

    def pending(self, after: str | None, limit: int) -> list[CallCandidate]:
        query = select(*_CANDIDATE_COLUMNS).where(CallRow.recording_purge_started_at.is_not(None))
        if after is not None:
            query = query.where(CallRow.id > after)
        with self._database.session() as session:
            return [_candidate(row) for row in
                    session.execute(query.order_by(CallRow.id).limit(limit))]

    def known_recordings(self, call_ids: Collection[str]) -> Mapping[str, str]:
        query = select(CallRow.id, CallRow.recording_path).where(
            CallRow.id.in_(list(call_ids)), _recording_live())
        with self._database.session() as session:
            return {row.id: row.recording_path for row in session.execute(query)}

    def unconfigured_services(self, configured: Collection[str]) -> dict[str, int]:
        query = (select(CallRow.service, func.count()).where(
            not_(CallRow.service.in_(list(configured))), _recording_live())
            .group_by(CallRow.service).order_by(CallRow.service))
        with self._database.session() as session:
            return {service: int(count) for service, count in session.execute(query)}

    # --- changing rows ----------------------------------------------------------------

    def claim(self, call_ids: Collection[str], at: datetime) -> set[str]:
        statement = (update(CallRow)
                     .where(CallRow.id.in_(list(call_ids)), _recording_live(), _not_held(),
                            CallRow.recording_purge_started_at.is_(None))
                     .values(recording_purge_started_at=at)
                     .returning(CallRow.id)
                     .execution_options(synchronize_session=False))
        with self._database.session() as session:
            return set(session.scalars(statement))

    def finish_deleted(self, call_ids: Collection[str], at: datetime) -> None:
        if not call_ids:
            return
        with self._database.session() as session:
            session.execute(update(CallRow)
                            .where(CallRow.id.in_(list(call_ids)))
                            .values(recording_deleted_at=at, recording_purge_started_at=None)
                            .execution_options(synchronize_session=False))

    def release(self, call_ids: Collection[str]) -> None:
        if not call_ids:
            return
        with self._database.session() as session:
            session.execute(update(CallRow)
                            .where(CallRow.id.in_(list(call_ids)))
                            .values(recording_purge_started_at=None)
                            .execution_options(synchronize_session=False))

    def delete_rows(self, call_ids: Collection[str]) -> int:
        statement = (delete(CallRow)
                     .where(CallRow.id.in_(list(call_ids)), _not_held(),
                            not_(_recording_live()),
                            CallRow.recording_purge_started_at.is_(None))
                     .execution_options(synchronize_session=False))
        with self._database.session() as session:
            return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]

    # --- the run's own record ---------------------------------------------------------

    def start_run(self, report: PurgeReport) -> int:
        row = PurgeRunRow(**_run_columns(report))
        with self._database.session() as session:
            session.add(row)
            session.flush()
            return row.id

    def mark_interrupted(self, except_run: int) -> int:
        statement = (update(PurgeRunRow)
                     .where(PurgeRunRow.status == "running", PurgeRunRow.dry_run == false(),
                            PurgeRunRow.id != except_run)
                     .values(status="interrupted")
                     .execution_options(synchronize_session=False))
        with self._database.session() as session:
            return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def finish_run(self, report: PurgeReport) -> None:
        """Skipped runs have no row yet: they get one here, so every run leaves a record."""
        summary = report.to_json()
        with self._database.session() as session:
            row = session.get(PurgeRunRow, report.run_id) if report.run_id else None
            if row is None:
                row = PurgeRunRow(**_run_columns(report))
                session.add(row)
            for key, value in _run_columns(report).items():
                setattr(row, key, value)
            session.flush()
            report.run_id = row.id
            summary["run_id"] = row.id
            row.details = json.dumps(summary, sort_keys=True)
            session.add(AuditLogRow(at=report.finished_at or report.started_at,
                                    actor=report.actor, action=AUDIT_ACTION,
                                    details=json.dumps(summary, sort_keys=True)))


def _run_columns(report: PurgeReport) -> dict[str, Any]:
    totals = report.totals()
    return {
        "started_at": report.started_at, "finished_at": report.finished_at,
        "evaluated_at": report.evaluated_at, "actor": report.actor, "host": report.host,
        "pid": report.pid, "dry_run": report.dry_run, "status": report.status,
        "recordings_deleted": totals["recordings_deleted"],
        "bytes_freed": totals["bytes_freed"], "history_deleted": totals["history_deleted"],
        "held_back": totals["held_back"], "missing_files": totals["missing_files"],
        "orphans_found": totals["orphans_found"], "orphans_deleted": totals["orphans_deleted"],
        "errors": totals["errors"],
    }


@contextmanager
def _file_lock(path: Path | None) -> Iterator[bool]:
    if path is None:
        yield True  # an in-memory database: only this process can see it
        return
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StorageError(f"cannot open the purge lock {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)  # closing releases the flock
