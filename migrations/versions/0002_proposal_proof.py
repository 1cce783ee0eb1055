"""proposals.proof: the regression-test proof of a fix

Revision ID: 0002_proposal_proof
Revises: 0001
Create Date: 2026-11-29 05:20:00

Nullable: the previous version of the bot, still running during a deploy, does not write it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_proposal_proof"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("proposals", sa.Column("proof", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.drop_column("proof")
