"""Threshold revisions: a version's auto-routing thresholds re-chosen for another target precision.

A version's artefact keeps the thresholds it was trained with; each revision here replaces them
for every worker (the newest revision of a version wins). Rows are only ever added.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime, utcnow


class ThresholdRevision(Base):
    __tablename__ = "threshold_revisions"
    __table_args__ = (Index("ix_threshold_revisions_version_id", "version", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64), ForeignKey("model_versions.version"))
    target_precision: Mapped[float] = mapped_column(Float)
    intent_floor: Mapped[float] = mapped_column(Float)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON)
    default_threshold: Mapped[float] = mapped_column(Float)
    ambiguity_margin: Mapped[float] = mapped_column(Float)
    novel_review: Mapped[bool] = mapped_column(Boolean, default=True)
    expected_share: Mapped[float] = mapped_column(Float)
    expected_precision: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
