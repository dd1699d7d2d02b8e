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
OUTCOMES = ("answered", "abandoned", "notice_hangup")


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

    __table_args__ = (
        CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome"),
        Index(None, "caller_number", "started_at"),
        Index(None, "started_at"),
        Index(None, "channel_id"),
        # Only the few calls without an end: what recovery after a restart looks for.
        Index("ix_calls_unfinished", "asterisk_id",
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
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
