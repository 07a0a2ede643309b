"""A version's target precision, changed by an admin without retraining.

The thresholds are chosen again from the version's stored out-of-fold predictions (the method of
:mod:`router.ml.thresholds`), stored as a new revision with an audit entry in the same transaction,
and every worker of every instance applies it at its next poll of the model slots
(``ROUTER_MODEL_POLL_S``, 1 s), as it follows a model swap.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from .. import audit
from ..context import Context
from ..db import ModelVersion
from ..db.thresholds import ThresholdRevision
from ..errors import NotFound, ValidationError
from ..ml.thresholds import DEFAULT_AMBIGUITY_MARGIN, MAX_TARGET, MIN_TARGET, choose
from ..ml.train import keep_reasons


def _card(ctx: Context, version: str) -> dict[str, Any]:
    with ctx.db.session() as s:
        row = s.get(ModelVersion, version)
        if row is None:
            raise NotFound(f"no model version {version!r}")
        return dict(row.card or {})


def revision_out(row: ThresholdRevision) -> dict[str, Any]:
    return {
        "revision": row.id,
        "version": row.version,
        "target_precision": row.target_precision,
        "intent_floor": row.intent_floor,
        "expected_share": row.expected_share,
        "expected_precision": row.expected_precision,
        "ambiguity_rule": row.ambiguity_margin > 0,
        "novel_rule": row.novel_review,
        "default_threshold": row.default_threshold,
        "thresholds": dict(row.thresholds),
        "actor": row.actor,
        "reason": row.reason,
        "created_at": row.created_at.isoformat(),
    }


def _trained_point(card: dict[str, Any]) -> dict[str, Any]:
    choice = card.get("threshold_choice") or {}
    return {
        "revision": None,
        "version": card.get("version"),
        "target_precision": card.get("target_precision"),
        "intent_floor": card.get("intent_precision_floor"),
        "expected_share": choice.get("expected_share"),
        "expected_precision": choice.get("expected_precision"),
    }


def revisions(ctx: Context, version: str) -> list[dict[str, Any]]:
    """The version's threshold revisions, newest first."""
    with ctx.db.session() as s:
        rows = s.scalars(
            select(ThresholdRevision).where(ThresholdRevision.version == version).order_by(ThresholdRevision.id.desc())
        )
        return [revision_out(r) for r in rows]


def status(ctx: Context, version: str) -> dict[str, Any]:
    """The version's operating point (its newest revision, else what it was trained with), the
    trade-off curve of its card (out-of-fold expectation and hold-out figures) and its revisions."""
    card = _card(ctx, version)
    history = revisions(ctx, version)
    return {
        "version": version,
        "operating_point": {**history[0]} if history else _trained_point(card),
        "trained_with": _trained_point(card),
        "precision_curve": card.get("precision_curve"),
        "revisions": history,
    }


def retarget(ctx: Context, version: str, target_precision: float, *, actor: str, reason: str = "") -> dict[str, Any]:
    """Choose ``version``'s thresholds again for ``target_precision``; returns the new revision."""
    target = float(target_precision)
    if not MIN_TARGET <= target <= MAX_TARGET:
        raise ValidationError(
            f"target precision must be between {MIN_TARGET} and {MAX_TARGET}, got {target:g}",
            errors={"target_precision": [f"between {MIN_TARGET} and {MAX_TARGET}"]},
        )
    before = status(ctx, version)["operating_point"]
    model = ctx.store.load(version)
    evidence = getattr(model, "out_of_fold", None)
    if evidence is None:
        raise ValidationError(
            f"model {version} was trained before thresholds were chosen out of fold; retrain it to change its target",
            errors={"version": ["no stored out-of-fold predictions"]},
        )
    floor = min(float(model.intent_floor), target)
    choice = choose(evidence, model.classes, target, floor)
    margin = model.ambiguity_margin or DEFAULT_AMBIGUITY_MARGIN
    rules = keep_reasons(evidence, model.classes, choice, margin, model.novelty_threshold)
    with ctx.db.session() as s:
        row = ThresholdRevision(
            version=version,
            target_precision=target,
            intent_floor=floor,
            thresholds=choice.thresholds,
            default_threshold=choice.default,
            ambiguity_margin=margin if rules["ambiguous"]["kept"] else 0.0,
            novel_review=bool(rules["novel"]["kept"]),
            expected_share=round(choice.expected_share, 4),
            expected_precision=round(choice.expected_precision, 4),
            actor=actor,
            reason=reason,
        )
        s.add(row)
        s.flush()
        out = revision_out(row)
        keys = ("target_precision", "intent_floor", "expected_share", "expected_precision", "revision")
        audit.record(
            s,
            actor=actor,
            action="model.thresholds",
            target=version,
            reason=reason,
            before={k: before.get(k) for k in keys},
            after={k: out[k] for k in keys},
        )
    ctx.runtime.invalidate()
    return out
