"""What agents did with routed tickets: one outcome per decision, from the helpdesk's events.

An outcome records where the ticket went after the router's decision (the agents' group changes,
the router's own write-back left out), whether and when it was solved and in which queue, and the
labels that follow: the final queue, and an intent when that queue is reached by one intent only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime, utcnow


class Outcome(Base):
    __tablename__ = "outcomes"
    __table_args__ = (
        Index("ix_outcomes_solved_at", "solved_at"),
        Index("ix_outcomes_version", "model_version", "decision_id"),
        Index("ix_outcomes_ticket", "ticket_id"),
    )

    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[str] = mapped_column(String(64))
    intent: Mapped[str] = mapped_column(String(128))  # the model's
    queue: Mapped[str] = mapped_column(String(128))  # the router's
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    current_group: Mapped[str | None] = mapped_column(String(255), nullable=True)
    current_queue: Mapped[str | None] = mapped_column(String(128), nullable=True)
    overridden: Mapped[bool] = mapped_column(Boolean, default=False)  # an agent moved it to another queue
    priority_changed: Mapped[bool] = mapped_column(Boolean, default=False)
    first_change_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_change_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    solved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    final_queue: Mapped[str | None] = mapped_column(String(128), nullable=True)
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # solved in the router's queue
    intent_label: Mapped[str | None] = mapped_column(String(128), nullable=True)
    events: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
