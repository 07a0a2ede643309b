"""Tables of the review feature (kept apart from models.py so features evolve independently).

``review_items`` holds one item per ticket revision whose decision needs a person; the text
reviewed is copied in, because the ticket row only keeps its latest revision. ``review_labels``
holds what reviewers decided, linked to the ticket, the decision and the model version.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime, utcnow

REASON_MAX = 128
ITEM_ID_MAX = 2**31 - 1  # review_items.id is a 32-bit INTEGER; URL converters refuse larger ids with a 404


class ReviewItem(Base):
    """A decision waiting for (or given) a person's label; status open, resolved or superseded."""

    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("decision_id", name="uq_review_items_decision"),
        Index("ix_review_items_status_order", "status", "escalated", "priority_rank", "enqueued_at"),
        Index("ix_review_items_ticket_status", "ticket_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    text: Mapped[str] = mapped_column(Text, default="")
    intent: Mapped[str] = mapped_column(String(128))
    queue: Mapped[str] = mapped_column(String(128))
    priority: Mapped[str] = mapped_column(String(32))
    priority_rank: Mapped[int] = mapped_column(Integer)  # 0 urgent .. 3 low, for ordering
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    model_version: Mapped[str] = mapped_column(String(64))
    labels_needed: Mapped[int] = mapped_column(Integer, default=1)
    labels_count: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    superseded_by: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ReviewItemReason(Base):
    """Why an item needs a person (one row per reason, so filters and stats stay plain SQL)."""

    __tablename__ = "review_item_reasons"

    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(REASON_MAX), primary_key=True, index=True)


class ReviewLabel(Base):
    """One reviewer's label on one item: the intent and queue they chose, and what the model said."""

    __tablename__ = "review_labels"
    __table_args__ = (UniqueConstraint("item_id", "reviewer", name="uq_review_labels_item_reviewer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    reviewer: Mapped[str] = mapped_column(String(128))
    intent: Mapped[str] = mapped_column(String(128))
    queue: Mapped[str] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text, default="")
    model_intent: Mapped[str] = mapped_column(String(128))
    model_queue: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    overridden: Mapped[bool] = mapped_column(Boolean, default=False)  # intent differs from the model's
    corrected: Mapped[bool] = mapped_column(Boolean, default=False)  # intent or queue differs
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
