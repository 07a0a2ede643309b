"""Tables of the review feature (kept apart from models.py so features evolve independently)."""

from __future__ import annotations

from .models import Base  # noqa: F401 - tables defined here register on Base.metadata
