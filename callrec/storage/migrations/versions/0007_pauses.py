"""Secure pause: recording_pauses, calls.recording_started_at, and the access log's
pause/resume/auto_resume actions.

Revision ID: 0007
Revises: 0006

Written out in full rather than imported from the models, like the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_METHODS = "('dtmf', 'web', 'api', 'automatic')"
_ACTIONS_BEFORE = "action IN ('play', 'download')"
_ACTIONS_AFTER = "action IN ('play', 'download', 'pause', 'resume', 'auto_resume')"
# 0004's guards: rebuilding the table in SQLite's batch mode drops its triggers with it.
_SQLITE_GUARDS = [
    f"CREATE TRIGGER access_log_no_{verb.lower()} BEFORE {verb} ON access_log "
    "BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END"
    for verb in ("UPDATE", "DELETE")
]


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("calls", sa.Column("recording_started_at", _utc(), nullable=True))
    op.create_table(
        "recording_pauses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("start_offset_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_offset_ms", sa.BigInteger(), nullable=True),
        sa.Column("paused_by", sa.Text(), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("resumed_by", sa.Text(), nullable=True),
        sa.Column("resume_method", sa.String(16), nullable=True),
        sa.Column("auto_resumed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.CheckConstraint(f"method IN {_METHODS}", name=op.f("ck_recording_pauses_method")),
        sa.CheckConstraint(f"resume_method IN {_METHODS}",
                           name=op.f("ck_recording_pauses_resume_method")),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], ondelete="CASCADE",
                                name=op.f("fk_recording_pauses_call_id_calls")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_pauses")),
    )
    op.create_index(op.f("ix_recording_pauses_call_id_started_at"), "recording_pauses",
                    ["call_id", "started_at"])
    op.create_index("uq_recording_pauses_open", "recording_pauses", ["call_id"], unique=True,
                    sqlite_where=sa.text("ended_at IS NULL"),
                    postgresql_where=sa.text("ended_at IS NULL"))
    _replace_access_check(_ACTIONS_AFTER)


def downgrade() -> None:
    op.drop_index("uq_recording_pauses_open", table_name="recording_pauses")
    op.drop_index(op.f("ix_recording_pauses_call_id_started_at"),
                  table_name="recording_pauses")
    op.drop_table("recording_pauses")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("recording_started_at")
    # The log is append-only: entries of the new actions stay, so the old check cannot
    # come back while there are any. Refuse rather than rewrite the chain.
    bind = op.get_bind()
    count = bind.execute(sa.text(
        "SELECT COUNT(*) FROM access_log WHERE action IN ('pause', 'resume', 'auto_resume')"
    )).scalar_one()
    if count:
        raise RuntimeError(f"{count} access-log entries record pauses; the append-only "
                           "log cannot go back to revision 0006")
    _replace_access_check(_ACTIONS_BEFORE)


def _replace_access_check(condition: str) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite cannot alter a constraint: batch mode rebuilds the table (names kept), and
    # the rebuilt table needs its append-only triggers again.
    with op.batch_alter_table("access_log") as batch:
        batch.drop_constraint(op.f("ck_access_log_action"), type_="check")
        batch.create_check_constraint(op.f("ck_access_log_action"), condition)
    if sqlite:
        for statement in _SQLITE_GUARDS:
            op.execute(statement)
