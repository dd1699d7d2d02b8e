"""Data-subject rights: corrections, objections, erasure jobs and their items.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-03

Written out in full rather than imported from the models, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rights_corrections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request_reference", sa.String(64), nullable=False),
        sa.Column("corrected_at", _utc(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], ondelete="CASCADE",
                                name=op.f("fk_rights_corrections_call_id_calls")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_corrections")),
    )
    op.create_index(op.f("ix_rights_corrections_call_id"), "rights_corrections", ["call_id"])
    op.create_table(
        "rights_objections",
        sa.Column("subject_number", sa.String(32), nullable=False),
        sa.Column("objected_at", _utc(), nullable=False),
        sa.Column("request_reference", sa.String(64), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("subject_number", name=op.f("pk_rights_objections")),
    )
    _create_erasure_jobs()


def _create_erasure_jobs() -> None:
    op.create_table(
        "rights_erasure_jobs",
        sa.Column("request_reference", sa.String(64), nullable=False),
        sa.Column("subject_number", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(32), nullable=True),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("request_reference", name=op.f("pk_rights_erasure_jobs")),
    )
    op.create_table(
        "rights_erasure_items",
        sa.Column("request_reference", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("recording_path", sa.Text(), nullable=True),
        sa.Column("recording_live", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_reference"], ["rights_erasure_jobs.request_reference"],
            ondelete="CASCADE",
            name=op.f("fk_rights_erasure_items_request_reference_rights_erasure_jobs")),
        sa.PrimaryKeyConstraint("request_reference", "call_id",
                                name=op.f("pk_rights_erasure_items")),
    )


def downgrade() -> None:
    for table in ("rights_erasure_items", "rights_erasure_jobs", "rights_objections",
                  "rights_corrections"):
        op.drop_table(table)
