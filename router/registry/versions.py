"""Which versions exist and which one serves, kept in the database so every worker agrees."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..db import Database, ModelSlot, ModelVersion
from ..errors import Conflict, NotFound
from .store import ModelStore

ACTIVE = "active"
PREVIOUS = "previous"


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


def activate(db: Database, store: ModelStore, version: str, *, actor: str, reason: str = "") -> dict[str, Any]:
    """Point the ``active`` slot at ``version``; the one it replaces becomes ``previous``."""
    store.verify(version)
    with db.session() as s:
        row = s.get(ModelVersion, version)
        if row is None:
            raise NotFound(f"model version {version!r} is not registered")
        current = s.get(ModelSlot, ACTIVE)
        before = slots(s)
        if current is not None and current.version == version:
            raise Conflict(f"model {version} is already active")
        now = datetime.now(UTC)
        if current is not None:
            old = s.get(ModelVersion, current.version)
            if old is not None:
                old.state = "retired"
            prev = s.get(ModelSlot, PREVIOUS)
            if prev is None:
                s.add(ModelSlot(slot=PREVIOUS, version=current.version, updated_at=now))
            else:
                prev.version, prev.updated_at = current.version, now
            current.version, current.updated_at = version, now
        else:
            s.add(ModelSlot(slot=ACTIVE, version=version, updated_at=now))
        row.state = "active"
        s.flush()
        after = slots(s)
        audit.record(s, actor=actor, action="model.activate", target=version, reason=reason, before=before, after=after)
        return after
