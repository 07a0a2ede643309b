"""Tables of write-back (kept apart from models.py so features evolve independently).

``deliveries`` is the transactional outbox: one row per decision (or reviewer correction) that
must reach the helpdesk, written in the same transaction as the decision. ``helpdesk_events``
records every event a helpdesk sent by its own id, so a redelivered event is recognised.
``connector_budgets`` holds each connector's rate budget, shared by every process (see
``router.delivery.budget``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime, utcnow

ID_MAX = 2**31 - 1  # deliveries.id is a 32-bit INTEGER; a larger id names no delivery and never reaches the database


class Delivery(Base):
    """A decision to write back; status pending, sending, delivered, skipped, superseded or dead."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_status_due", "status", "next_attempt_at"),
        Index("ix_deliveries_ticket", "ticket_id", "id"),
        Index("ix_deliveries_decision", "decision_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))
    connector: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), default="decision")  # decision | correction
    mode: Mapped[str] = mapped_column(String(16))  # suggest | route
    status: Mapped[str] = mapped_column(String(16), default="pending")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    superseded_by: Mapped[int | None] = mapped_column(Integer, nullable=True)


class HelpdeskEvent(Base):
    """An event a helpdesk sent (created, commented, reassigned, solved...), once per event id."""

    __tablename__ = "helpdesk_events"
    __table_args__ = (
        UniqueConstraint("source", "event_id", name="uq_helpdesk_events_source_event"),
        Index("ix_helpdesk_events_ticket", "source", "external_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(128))
    external_id: Mapped[str] = mapped_column(String(255), default="")
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(255), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decision_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ConnectorBudget(Base):
    """A connector's write-back budget: its token bucket (``tokens`` as of ``refilled_at``) and the
    pause a 429 or 503 asked for (``paused_until``); times in seconds since the epoch."""

    __tablename__ = "connector_budgets"

    connector: Mapped[str] = mapped_column(String(32), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    refilled_at: Mapped[float] = mapped_column(Float)
    paused_until: Mapped[float] = mapped_column(Float, default=0.0)
