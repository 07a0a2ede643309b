"""outcomes: what agents did with routed tickets

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("intent", sa.String(length=128), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_group", sa.String(length=255), nullable=True),
        sa.Column("current_queue", sa.String(length=128), nullable=True),
        sa.Column("overridden", sa.Boolean(), nullable=False),
        sa.Column("priority_changed", sa.Boolean(), nullable=False),
        sa.Column("first_change_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_change_s", sa.Float(), nullable=True),
        sa.Column("solved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("final_queue", sa.String(length=128), nullable=True),
        sa.Column("correct", sa.Boolean(), nullable=True),
        sa.Column("intent_label", sa.String(length=128), nullable=True),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("decision_id"),
    )
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.create_index("ix_outcomes_solved_at", ["solved_at"], unique=False)
        batch_op.create_index("ix_outcomes_version", ["model_version", "decision_id"], unique=False)
        batch_op.create_index("ix_outcomes_ticket", ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.drop_index("ix_outcomes_ticket")
        batch_op.drop_index("ix_outcomes_version")
        batch_op.drop_index("ix_outcomes_solved_at")
    op.drop_table("outcomes")
