"""Tables of the monitoring feature (kept apart from models.py so features evolve independently).

``drift_checks`` stores every drift check (window, sizes, each detector's statistics and p-values,
model version); ``drift_references`` holds production windows pinned as a version's reference
(float32 arrays as an ``.npz`` blob, so every instance sees them without a shared disk);
``alert_states`` is what the notifiers agree on (one row per alert key: active, last sent, cleared);
``job_leases`` and ``job_runs`` make one process of the cluster run each scheduled job run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime, utcnow


class DriftCheck(Base):
    """One drift check of one window against one reference."""

    __tablename__ = "drift_checks"
    __table_args__ = (Index("ix_drift_checks_model_at", "model_version", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    model_version: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str] = mapped_column(String(64))  # "holdout" or "pinned:<id>"
    source: Mapped[str] = mapped_column(String(255))  # "decisions", "file:<name>", ...
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_decision_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_decision_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    window_size: Mapped[int] = mapped_column(Integer)
    reference_size: Mapped[int] = mapped_column(Integer)
    backend: Mapped[str] = mapped_column(String(16))
    is_drift: Mapped[bool] = mapped_column(Boolean)
    detectors: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class DriftReference(Base):
    """A production window pinned as a model version's drift reference (the newest active row wins)."""

    __tablename__ = "drift_references"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(255))
    rows: Mapped[int] = mapped_column(Integer)
    arrays: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AlertState(Base):
    """One alert key's state, shared by every worker: one problem is one alert, then one recovery."""

    __tablename__ = "alert_states"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    figures: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_count: Mapped[int] = mapped_column(Integer, default=0)


class JobLease(Base):
    """Who runs a scheduled job's current run: taken by one conditional UPDATE, released by expiry."""

    __tablename__ = "job_leases"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, default=-1)  # the schedule period last claimed
    holder: Mapped[str] = mapped_column(String(128), default="")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobRun(Base):
    """One run of a scheduled job, by the process that held the lease."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job_id", "slot", name="uq_job_runs_job_slot"),
        Index("ix_job_runs_job_started", "job_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64))
    slot: Mapped[int] = mapped_column(Integer)
    holder: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running, ok, failed, timeout
    error: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
