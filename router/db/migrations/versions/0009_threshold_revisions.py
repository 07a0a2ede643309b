"""threshold revisions: a version's thresholds re-chosen for another target precision

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "threshold_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("target_precision", sa.Float(), nullable=False),
        sa.Column("intent_floor", sa.Float(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("default_threshold", sa.Float(), nullable=False),
        sa.Column("ambiguity_margin", sa.Float(), nullable=False),
        sa.Column("novel_review", sa.Boolean(), nullable=False),
        sa.Column("expected_share", sa.Float(), nullable=False),
        sa.Column("expected_precision", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["version"], ["model_versions.version"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_threshold_revisions_version_id", "threshold_revisions", ["version", "id"])


def downgrade() -> None:
    op.drop_index("ix_threshold_revisions_version_id", table_name="threshold_revisions")
    op.drop_table("threshold_revisions")
