"""Storage: SQLAlchemy tables, engine and sessions, Alembic migrations."""

from .models import ApiToken, AuditEntry, Base, Decision, ModelSlot, ModelVersion, RulesetVersion, Ticket
from . import lifecycle, monitoring, review  # noqa: F401 - their tables join Base.metadata
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
