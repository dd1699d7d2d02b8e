"""Initial schema: contact history, rights requests, erasure tombstones, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Written out in full rather than imported from the models: a migration must keep creating
the schema of its day after the models have moved on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    _create_calls()
    _create_rights_tables()
    _create_audit_log()


def _create_calls() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("asterisk_id", sa.Text(), nullable=False),
        sa.Column("channel_id", sa.Text(), nullable=False),
        sa.Column("linkedid", sa.Text(), nullable=False),
        sa.Column("caller_number_raw", sa.Text(), nullable=True),
        sa.Column("caller_number", sa.String(32), nullable=True),
        sa.Column("caller_withheld", sa.Boolean(), nullable=False),
        sa.Column("caller_name_raw", sa.Text(), nullable=True),
        sa.Column("service_number", sa.Text(), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("service_number_known", sa.Boolean(), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("notice_completed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("recording_path", sa.Text(), nullable=True),
        sa.Column("answered_at", _utc(), nullable=True),
        sa.Column("agent", sa.Text(), nullable=True),
        sa.Column("agent_interface", sa.Text(), nullable=True),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("recording_bytes", sa.BigInteger(), nullable=True),
        sa.Column("recording_seconds", sa.Float(), nullable=True),
        sa.Column("recording_sha256", sa.String(64), nullable=True),
        sa.Column("end_estimated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("recording_deleted_at", _utc(), nullable=True),
        sa.Column("restricted_at", _utc(), nullable=True),
        sa.Column("legal_hold", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint("outcome IN ('answered', 'abandoned', 'notice_hangup')",
                           name=op.f("ck_calls_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
    )
    op.create_index(op.f("ix_calls_caller_number_started_at"), "calls",
                    ["caller_number", "started_at"])
    op.create_index(op.f("ix_calls_started_at"), "calls", ["started_at"])
    op.create_index(op.f("ix_calls_channel_id"), "calls", ["channel_id"])
    unfinished = sa.text("ended_at IS NULL")
    op.create_index("ix_calls_unfinished", "calls", ["asterisk_id"],
                    sqlite_where=unfinished, postgresql_where=unfinished)


def _create_rights_tables() -> None:
    op.create_table(
        "rights_requests",
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject_number", sa.String(32), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.Column("due_at", _utc(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("handler", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("reference", name=op.f("pk_rights_requests")),
    )
    op.create_index(op.f("ix_rights_requests_status_due_at"), "rights_requests",
                    ["status", "due_at"])
    op.create_table(
        "erasure_tombstones",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_reference", sa.String(64), nullable=True),
        sa.Column("calls_erased", sa.Integer(), nullable=False),
        sa.Column("recordings_erased", sa.Integer(), nullable=False),
        sa.Column("erased_at", _utc(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_tombstones")),
    )


def _create_audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(32), nullable=True),
        sa.Column("request_reference", sa.String(64), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_call_id"), "audit_log", ["call_id"])


def downgrade() -> None:
    for table in ("audit_log", "erasure_tombstones", "rights_requests", "calls"):
        op.drop_table(table)
