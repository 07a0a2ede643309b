"""Which versions exist and which one serves, kept in the database so every worker agrees."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..db import Database, ModelSlot, ModelVersion

ACTIVE = "active"


def register(db: Database, card: dict[str, Any], *, actor: str = "cli") -> None:
    with db.session() as s:
        s.add(ModelVersion(version=card["version"], state="candidate", sha256=card["artefact"]["sha256"], card=card))
        audit.record(s, actor=actor, action="model.register", target=card["version"], after={"state": "candidate"})


def slots(session: Session) -> dict[str, str]:
    return {row.slot: row.version for row in session.scalars(select(ModelSlot))}


def active_version(db: Database) -> str | None:
    with db.session() as s:
        row = s.get(ModelSlot, ACTIVE)
        return row.version if row else None


def list_versions(db: Database) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = s.scalars(select(ModelVersion).order_by(ModelVersion.created_at)).all()
        return [
            {
                "version": r.version,
                "state": r.state,
                "created_at": r.created_at.isoformat() if r.created_at else None,
                "metrics": {k: r.card.get("metrics", {}).get(k) for k in ("accuracy", "macro_f1", "ece")},
                "rows": r.card.get("training_data", {}).get("rows"),
            }
            for r in rows
        ]
