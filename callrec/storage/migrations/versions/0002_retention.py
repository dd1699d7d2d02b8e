"""Retention: the purge-in-progress marker on calls, indexes the purge scans, purge_runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02

Written out in full rather than imported from the models, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE = "recording_path IS NOT NULL AND recording_deleted_at IS NULL"
_PENDING = "recording_purge_started_at IS NOT NULL"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # add_column is plain ALTER TABLE ADD on both backends: no batch rebuild of calls.
    op.add_column("calls", sa.Column("recording_purge_started_at", _utc(), nullable=True))
    op.create_index(op.f("ix_calls_service_started_at_id"), "calls",
                    ["service", "started_at", "id"])
    op.create_index("ix_calls_recording_live", "calls", ["service", "started_at", "id"],
                    sqlite_where=sa.text(_LIVE), postgresql_where=sa.text(_LIVE))
    op.create_index("ix_calls_purge_pending", "calls", ["recording_purge_started_at"],
                    sqlite_where=sa.text(_PENDING), postgresql_where=sa.text(_PENDING))
    _create_purge_runs()


def _create_purge_runs() -> None:
    op.create_table(
        "purge_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("evaluated_at", _utc(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("recordings_deleted", sa.Integer(), nullable=False),
        sa.Column("bytes_freed", sa.BigInteger(), nullable=False),
        sa.Column("history_deleted", sa.Integer(), nullable=False),
        sa.Column("held_back", sa.Integer(), nullable=False),
        sa.Column("missing_files", sa.Integer(), nullable=False),
        sa.Column("orphans_found", sa.Integer(), nullable=False),
        sa.Column("orphans_deleted", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'completed', 'failed', 'interrupted', 'skipped')",
            name=op.f("ck_purge_runs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purge_runs")),
    )
    op.create_index(op.f("ix_purge_runs_started_at"), "purge_runs", ["started_at"])


def downgrade() -> None:
    op.drop_table("purge_runs")
    op.drop_index("ix_calls_purge_pending", table_name="calls")
    op.drop_index("ix_calls_recording_live", table_name="calls")
    op.drop_index(op.f("ix_calls_service_started_at_id"), table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("recording_purge_started_at")
