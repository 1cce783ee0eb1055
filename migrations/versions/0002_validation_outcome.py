"""proposals.validation_outcome: the apply pipeline's verdict, passed | failed | error

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 05:00:00

Reminder: during a deploy the previous version of the bot is still running against this schema.
Add columns as nullable or with a server default; drop nothing the old code still reads.

The column is nullable and not backfilled: for a fix recorded before it, `validation_status =
"passed"` cannot tell a real pass from a run that never happened, so `agent learn` leaves those out.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("validation_outcome", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.drop_column("validation_outcome")
