"""A call callrec passed to the dialplan's fail-open path: outcome "failed_over".

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = "outcome IN ('answered', 'abandoned', 'notice_hangup')"
_AFTER = "outcome IN ('answered', 'abandoned', 'notice_hangup', 'failed_over')"


def _replace_check(condition: str) -> None:
    # SQLite cannot alter a constraint: batch mode rebuilds the table (names kept).
    with op.batch_alter_table("calls") as batch:
        batch.drop_constraint(op.f("ck_calls_outcome"), type_="check")
        batch.create_check_constraint(op.f("ck_calls_outcome"), condition)


def upgrade() -> None:
    _replace_check(_AFTER)


def downgrade() -> None:
    op.execute("UPDATE calls SET outcome = 'abandoned' WHERE outcome = 'failed_over'")
    _replace_check(_BEFORE)
