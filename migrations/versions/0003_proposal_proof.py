"""proposals.proof: the regression-test proof of a fix

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 05:20:00

Nullable: the previous version of the bot, still running during a deploy, does not write it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("proposals", sa.Column("proof", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.drop_column("proof")
