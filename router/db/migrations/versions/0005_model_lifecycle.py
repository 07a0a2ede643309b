"""model lifecycle

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gate_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("ruleset_version", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["version"], ["model_versions.version"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gate_reports_version", "gate_reports", ["version"])
    op.create_table(
        "shadow_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("active_version", sa.String(length=64), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("intent", sa.String(length=128), nullable=False),
        sa.Column("active_intent", sa.String(length=128), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("agrees", sa.Boolean(), nullable=False),
        sa.Column("ms", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shadow_results_version_at", "shadow_results", ["version", "at"])
    with op.batch_alter_table("model_slots") as batch:
        batch.add_column(sa.Column("since_decision_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("previous_version", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_slots") as batch:
        batch.drop_column("previous_version")
        batch.drop_column("since_decision_id")
    op.drop_index("ix_shadow_results_version_at", table_name="shadow_results")
    op.drop_table("shadow_results")
    op.drop_index("ix_gate_reports_version", table_name="gate_reports")
    op.drop_table("gate_reports")
