"""review queue

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=128), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("priority", sa.String(length=32), nullable=False),
        sa.Column("priority_rank", sa.Integer(), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("labels_needed", sa.Integer(), nullable=False),
        sa.Column("labels_count", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("decision_id", name="uq_review_items_decision"),
    )
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_review_items_status_order", ["status", "escalated", "priority_rank", "enqueued_at"], unique=False
        )
        batch_op.create_index("ix_review_items_ticket_status", ["ticket_id", "status"], unique=False)

    op.create_table(
        "review_item_reasons",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["review_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", "reason"),
    )
    with op.batch_alter_table("review_item_reasons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_item_reasons_reason"), ["reason"], unique=False)

    op.create_table(
        "review_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=128), nullable=False),
        sa.Column("intent", sa.String(length=128), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("model_intent", sa.String(length=128), nullable=False),
        sa.Column("model_queue", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("overridden", sa.Boolean(), nullable=False),
        sa.Column("corrected", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["review_items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "reviewer", name="uq_review_labels_item_reviewer"),
    )
    with op.batch_alter_table("review_labels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_labels_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_labels_model_version"), ["model_version"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_labels_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_labels_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_review_labels_model_version"))
        batch_op.drop_index(batch_op.f("ix_review_labels_item_id"))
    op.drop_table("review_labels")
    with op.batch_alter_table("review_item_reasons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_item_reasons_reason"))
    op.drop_table("review_item_reasons")
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.drop_index("ix_review_items_ticket_status")
        batch_op.drop_index("ix_review_items_status_order")
    op.drop_table("review_items")
