"""Storage: SQLAlchemy tables, engine and sessions, Alembic migrations."""

from . import (  # noqa: F401 - their tables join Base.metadata
    delivery,
    lifecycle,
    monitoring,
    outcomes,
    review,
    thresholds,
    web_sessions,
)
from .models import ApiToken, AuditEntry, Base, Decision, ModelSlot, ModelVersion, RulesetVersion, Ticket
from .session import Database, upgrade

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "Database",
    "Decision",
    "ModelSlot",
    "ModelVersion",
    "RulesetVersion",
    "Ticket",
    "upgrade",
]
