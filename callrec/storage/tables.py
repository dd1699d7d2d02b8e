"""The database schema as SQLAlchemy models; migrations/versions must produce exactly this.

Caller-controlled text (numbers, names, channel ids) is ``Text``: a length limit would make
a hostile or merely long caller id fail the insert, and then the call would go unrecorded
in the history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, identical on SQLite and PostgreSQL, so later migrations
# can address constraints by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
OUTCOMES = ("answered", "abandoned", "notice_hangup", "failed_over")
RECORDING_LIVE = "recording_path IS NOT NULL AND recording_deleted_at IS NULL"
PURGE_PENDING = "recording_purge_started_at IS NOT NULL"
PURGE_STATUSES = ("running", "completed", "failed", "interrupted", "skipped")


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC; always returns an aware UTC datetime, whatever the backend keeps.

    SQLite has no time zones: values go in as naive UTC text and come back naive, so the
    zone is reattached on the way out. PostgreSQL keeps ``timestamptz`` and returns it in
    the session's zone, which is converted back to UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; callrec stores "
                             "aware UTC datetimes only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CallRow(Base):
    """One contact-history row; mirrors :class:`callrec.domain.history.CallRecord`."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    asterisk_id: Mapped[str] = mapped_column(Text)
    channel_id: Mapped[str] = mapped_column(Text)
    linkedid: Mapped[str] = mapped_column(Text)
    caller_number_raw: Mapped[str | None] = mapped_column(Text)
    caller_number: Mapped[str | None] = mapped_column(String(32))
    caller_withheld: Mapped[bool] = mapped_column(Boolean)
    caller_name_raw: Mapped[str | None] = mapped_column(Text)
    service_number: Mapped[str] = mapped_column(Text)
    service: Mapped[str] = mapped_column(String(64))
    service_number_known: Mapped[bool] = mapped_column(Boolean)
    queue: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    notice_completed: Mapped[bool] = mapped_column(Boolean, server_default=false())
    recording_path: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    agent: Mapped[str | None] = mapped_column(Text)
    agent_interface: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))
    recording_bytes: Mapped[int | None] = mapped_column(BigInteger)
    recording_seconds: Mapped[float | None] = mapped_column(Float)
    recording_sha256: Mapped[str | None] = mapped_column(String(64))
    end_estimated: Mapped[bool] = mapped_column(Boolean, server_default=false())
    recording_deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    restricted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    legal_hold: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # Retention (0002): set while a purge deletes this row's recording file; see
    # callrec/retention/purge.py for the protocol.
    recording_purge_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Objection (0005): why the call was queued with no notice and no recording.
    recording_skipped_reason: Mapped[str | None] = mapped_column(String(32))
    # Secure pause (0007): when MixMonitor started (the caller was sent to the queue), the
    # zero of the pauses' offsets.
    recording_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome"),
        Index(None, "caller_number", "started_at"),
        Index(None, "started_at"),
        Index(None, "channel_id"),
        # Only the few calls without an end: what recovery after a restart looks for.
        Index("ix_calls_unfinished", "asterisk_id",
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
        # Retention (0002): the history purge scans by service and age; the recording purge
        # only the rows whose file still exists, so years of purged rows cost it nothing.
        Index(None, "service", "started_at", "id"),
        Index("ix_calls_recording_live", "service", "started_at", "id",
              sqlite_where=text(RECORDING_LIVE), postgresql_where=text(RECORDING_LIVE)),
        Index("ix_calls_purge_pending", "recording_purge_started_at",
              sqlite_where=text(PURGE_PENDING), postgresql_where=text(PURGE_PENDING)),
    )


class RightsRequestRow(Base):
    """A data-subject request (access, erasure, restriction...) and how it was handled."""

    __tablename__ = "rights_requests"

    reference: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_number: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(32))
    handler: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index(None, "status", "due_at"),)


class ErasureTombstoneRow(Base):
    """Proof that an erasure happened, holding no personal data (GDPR art. 17 + 5(2))."""

    __tablename__ = "erasure_tombstones"

    # Not a foreign key: the request row itself may be deleted once its retention ends.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_reference: Mapped[str | None] = mapped_column(String(64))
    calls_erased: Mapped[int] = mapped_column(Integer)
    recordings_erased: Mapped[int] = mapped_column(Integer)
    erased_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(Text)


class AuditLogRow(Base):
    """Who did what to which call or request; outlives the rows it names."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(32))
    request_reference: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str | None] = mapped_column(Text)  # JSON text

    __table_args__ = (Index(None, "at"), Index(None, "call_id"))


# --- Retention (migration 0002) -------------------------------------------------------------


class PurgeRunRow(Base):
    """One ``callrec purge`` run: who ran it, when, and what it deleted or held back."""

    __tablename__ = "purge_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    evaluated_at: Mapped[datetime] = mapped_column(UtcDateTime)  # --now, or the start
    actor: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(Text)
    pid: Mapped[int] = mapped_column(Integer)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    recordings_deleted: Mapped[int] = mapped_column(Integer)
    bytes_freed: Mapped[int] = mapped_column(BigInteger)
    history_deleted: Mapped[int] = mapped_column(Integer)
    held_back: Mapped[int] = mapped_column(Integer)
    missing_files: Mapped[int] = mapped_column(Integer)
    orphans_found: Mapped[int] = mapped_column(Integer)
    orphans_deleted: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    details: Mapped[str | None] = mapped_column(Text)  # JSON text: the --json summary

    __table_args__ = (
        CheckConstraint(f"status IN {PURGE_STATUSES!r}", name="status"),
        Index(None, "started_at"),
    )


# --- Data-subject rights (migration 0003) ---------------------------------------------------


class CorrectionRow(Base):
    """A rectification (GDPR art. 16): the value a field had before, and why it changed.

    The old value is personal data of the same subject, so it goes when the call goes:
    erased with it, or purged with it (ON DELETE CASCADE).
    """

    __tablename__ = "rights_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("calls.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    request_reference: Mapped[str] = mapped_column(String(64))
    corrected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index(None, "call_id"),)


class ObjectionRow(Base):
    """A caller who objected (art. 21): kept after an erasure, or the objection is lost."""

    __tablename__ = "rights_objections"

    subject_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    objected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    request_reference: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(Text)


class ErasureJobRow(Base):
    """An erasure under way: exists from the plan until the tombstone, in one transaction
    with it; a run that finds one resumes it (see callrec/rights/erasure.py)."""

    __tablename__ = "rights_erasure_jobs"

    request_reference: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_number: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[str | None] = mapped_column(String(32))  # None: every call of the subject
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(Text)


class ErasureItemRow(Base):
    """One call an erasure job covers, fixed when the job is planned."""

    __tablename__ = "rights_erasure_items"

    request_reference: Mapped[str] = mapped_column(
        String(64), ForeignKey("rights_erasure_jobs.request_reference", ondelete="CASCADE"),
        primary_key=True)
    call_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    recording_path: Mapped[str | None] = mapped_column(Text)
    # The register said the recording existed when the job was planned: what the tombstone
    # counts, however many files a killed run had already removed.
    recording_live: Mapped[bool] = mapped_column(Boolean)


# --- Web access: users, sessions, tokens, access log (migration 0004) -----------------------

ROLES = ("agent", "supervisor", "quality", "maintainer", "dpo", "admin")
ACCESS_ACTIONS = ("play", "download", "pause", "resume", "auto_resume")


class UserRow(Base):
    """A person who may log in to ``callrec web``. Never deleted: disabled, so the access
    log and the reviews keep naming someone."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    queues: Mapped[str] = mapped_column(Text)  # comma-separated, sorted
    agent_name: Mapped[str | None] = mapped_column(Text)  # matches calls.agent
    password_hash: Mapped[str | None] = mapped_column(Text)  # argon2id; None: cannot log in
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reviewed_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role"),)


class WebSessionRow(Base):
    """A browser login. The cookie holds the secret; only its SHA-256 is kept."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    client: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index(None, "user_id"),)


class ApiTokenRow(Base):
    """A bearer token for scripts; shown once when made, kept only as SHA-256."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index(None, "user_id"),)


class AccessLogRow(Base):
    """One playback or download, hash-chained to the entry before (callrec/access/chain.py).

    No foreign keys: an entry outlives the user's changes and the call's erasure.
    """

    __tablename__ = "access_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    call_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    client: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (
        CheckConstraint(f"action IN {ACCESS_ACTIONS!r}", name="action"),
        Index(None, "call_id"),
        Index(None, "username", "at"),
    )


class AccessReviewRow(Base):
    """Opened when a user's role, queues or agent name change; closed by a reviewer."""

    __tablename__ = "access_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    change: Mapped[str] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index(None, "user_id"),)


class LoginAttemptRow(Base):
    """Every login try, kept for the lockout window and for incident review."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))  # as typed (cut to 64), user or not
    client: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    succeeded: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (Index(None, "username", "at"),)


# --- Secure pause (migration 0007) ----------------------------------------------------------

PAUSE_METHODS = ("dtmf", "web", "api", "automatic")
PAUSE_OPEN = "ended_at IS NULL"


class RecordingPauseRow(Base):
    """One paused span of a call's recording; goes with its call (ON DELETE CASCADE)."""

    __tablename__ = "recording_pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("calls.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    start_offset_ms: Mapped[int] = mapped_column(BigInteger)
    end_offset_ms: Mapped[int | None] = mapped_column(BigInteger)
    paused_by: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(16))
    resumed_by: Mapped[str | None] = mapped_column(Text)
    resume_method: Mapped[str | None] = mapped_column(String(16))
    auto_resumed: Mapped[bool] = mapped_column(Boolean, server_default=false())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint(f"method IN {PAUSE_METHODS!r}", name="method"),
        CheckConstraint(f"resume_method IN {PAUSE_METHODS!r}", name="resume_method"),
        Index(None, "call_id", "started_at"),
        # At most one open pause per call, whichever process (service, web) opens it; and
        # the auto-resume's query each second reads only the open ones.
        Index("uq_recording_pauses_open", "call_id", unique=True,
              sqlite_where=text(PAUSE_OPEN), postgresql_where=text(PAUSE_OPEN)),
    )
