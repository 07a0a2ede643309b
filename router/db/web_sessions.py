"""Admin sign-in sessions: one row per sign-in, so a session can end everywhere at once.

The browser's signed cookie carries a random session id; only its SHA-256 is stored. A session
ends at sign-out, when its token is revoked, or after ``SESSION_HOURS``; every worker checks the
row (at most ``CACHE_S`` seconds old), so an ended session is refused by all of them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime, utcnow


class WebSession(Base):
    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_why: Mapped[str | None] = mapped_column(String(32), nullable=True)
