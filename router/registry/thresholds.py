"""A version's threshold revisions, as every worker applies them: the newest revision of a version wins."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db.thresholds import ThresholdRevision

__all__ = ["ThresholdRevision", "apply", "as_served", "latest_ids"]


def latest_ids(session: Session, versions: Iterable[str]) -> dict[str, int]:
    """The newest revision id of each of ``versions`` that has one (one indexed query)."""
    wanted = sorted(set(versions))
    if not wanted:
        return {}
    rows = session.execute(
        select(ThresholdRevision.version, func.max(ThresholdRevision.id))
        .where(ThresholdRevision.version.in_(wanted))
        .group_by(ThresholdRevision.version)
    )
    return {str(version): int(rev) for version, rev in rows}


def apply(model: Any, revision: ThresholdRevision) -> Any:
    """``model`` routing with ``revision``'s thresholds (a copy; the classifier is shared)."""
    return model.retargeted(
        thresholds=dict(revision.thresholds),
        default_threshold=revision.default_threshold,
        target_precision=revision.target_precision,
        ambiguity_margin=revision.ambiguity_margin,
        novel_review=revision.novel_review,
    )


def as_served(session: Session, version: str, model: Any) -> Any:
    """``model`` (just loaded from the store) with the thresholds the workers route ``version`` with."""
    revision_id = latest_ids(session, [version]).get(version)
    revision = session.get(ThresholdRevision, revision_id) if revision_id is not None else None
    return model if revision is None else apply(model, revision)
