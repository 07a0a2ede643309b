"""The audit log: every change of what decides tickets, with actor, reason, before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .db.models import AuditEntry


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    reason: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(actor=actor, action=action, target=target, reason=reason, before=before, after=after)
    session.add(entry)
    return entry
