"""Tables of the model lifecycle (gate reports, shadow scores, model errors) and its conditional updates.

Every change of a version's state or of a slot is one ``UPDATE``/``DELETE`` conditioned on what the
caller read (the state it expects, the version it expects in the slot). A statement that matches no
row means another request changed it first: :class:`~router.errors.Conflict` is raised and the whole
transaction is rolled back, so two concurrent transitions can never both apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..errors import Conflict
from .models import Base, ModelSlot, ModelVersion, UTCDateTime, utcnow

_VERSIONS = cast(Table, ModelVersion.__table__)
_SLOTS = cast(Table, ModelSlot.__table__)
_CHANGED = "changed while this request ran; nothing was changed (read the models again and retry)"


def read_state(conn: Connection, version: str) -> str | None:
    state: str | None = conn.scalar(select(_VERSIONS.c.state).where(_VERSIONS.c.version == version))
    return state


def read_slots(conn: Connection, lock: bool = False) -> dict[str, Mapping[str, Any]]:
    """The slot rows; ``lock`` takes them all, in one order, until the transaction ends.

    Transitions lock the slots before anything else, so on PostgreSQL two transitions that touch
    the same versions in different orders wait for each other instead of deadlocking (SQLite
    writers already take turns for the whole transaction). The rows are read again after the lock:
    a locking read keeps the snapshot it started with, which misses a slot another transition
    inserted while this one waited.
    """
    stmt = select(_SLOTS).order_by(_SLOTS.c.slot)
    if lock and conn.dialect.name != "sqlite":
        conn.execute(stmt.with_for_update()).all()
    return {row["slot"]: dict(row) for row in conn.execute(stmt).mappings()}


def set_state(conn: Connection, version: str, expected: str, new: str) -> None:
    """``version`` goes from ``expected`` to ``new``, or nothing happens and Conflict is raised."""
    done = conn.execute(
        update(_VERSIONS).where(_VERSIONS.c.version == version, _VERSIONS.c.state == expected).values(state=new)
    )
    if done.rowcount != 1:
        raise Conflict(f"model {version} {_CHANGED}")


def take_slot(conn: Connection, slot: str, version: str, held_by: str | None, **values: Any) -> None:
    """Put ``version`` in ``slot``, which must still hold ``held_by`` (None: the slot must still be empty)."""
    row = {
        "version": version,
        "updated_at": datetime.now(UTC),
        "percent": values.get("percent"),
        "since_decision_id": values.get("since_decision_id"),
        "previous_version": values.get("previous_version"),
    }
    if held_by is None:
        try:
            conn.execute(insert(_SLOTS), {"slot": slot, **row})
        except IntegrityError:  # another request filled it first; the caller's transaction is rolled back
            raise Conflict(f"the {slot} slot {_CHANGED}") from None
        return
    done = conn.execute(update(_SLOTS).where(_SLOTS.c.slot == slot, _SLOTS.c.version == held_by).values(**row))
    if done.rowcount != 1:
        raise Conflict(f"the {slot} slot {_CHANGED}")


def leave_slot(conn: Connection, slot: str, version: str) -> None:
    """Empty ``slot``, which must still hold ``version``."""
    done = conn.execute(delete(_SLOTS).where(_SLOTS.c.slot == slot, _SLOTS.c.version == version))
    if done.rowcount != 1:
        raise Conflict(f"the {slot} slot {_CHANGED}")


def end_watch(conn: Connection | Session, slot: str, version: str) -> None:
    """Close the watch window of ``slot`` if it still holds ``version`` (a no-op otherwise)."""
    conn.execute(
        update(_SLOTS).where(_SLOTS.c.slot == slot, _SLOTS.c.version == version).values(since_decision_id=None)
    )


class GateReport(Base):
    """The result of the promotion gates for one version and one target state."""

    __tablename__ = "gate_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(ForeignKey("model_versions.version"), index=True)
    target: Mapped[str] = mapped_column(String(16))
    passed: Mapped[bool] = mapped_column(Boolean)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ruleset_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ShadowResult(Base):
    """What the shadow version said about a ticket the active version decided."""

    __tablename__ = "shadow_results"
    __table_args__ = (Index("ix_shadow_results_version_at", "version", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    active_version: Mapped[str] = mapped_column(String(64))
    decision_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    intent: Mapped[str] = mapped_column(String(128))
    active_intent: Mapped[str] = mapped_column(String(128))
    confidence: Mapped[float] = mapped_column(Float)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    agrees: Mapped[bool] = mapped_column(Boolean)
    ms: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelError(Base):
    """A ticket a model version failed to classify (the ticket was decided by another version or refused)."""

    __tablename__ = "model_errors"
    __table_args__ = (Index("ix_model_errors_version_at", "version", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
