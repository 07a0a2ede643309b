"""Decide: classify a normalised ticket and route it. No storage here; intake commits."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..context import Context
from ..db.lifecycle import ModelError
from ..errors import ServiceUnavailable
from ..monitoring import metrics
from ..registry.runtime import Loaded
from ..routing.engine import route
from ..routing.ruleset import RuleSet

log = logging.getLogger(__name__)


def decide(
    ctx: Context, ticket: dict[str, Any], *, ruleset: RuleSet | None = None, loaded: Loaded | None = None
) -> dict[str, Any]:
    """An explained decision for ``ticket`` (a dict with at least ``text``).

    ``ruleset`` and ``loaded`` replace the rule set and model in force (contract tests, dry runs).
    """
    if loaded is None:
        key = f"{ticket.get('source', '')}:{ticket.get('id', '')}"
        loaded = ctx.runtime.for_ticket(key)
    loaded, prediction = _predict(ctx, loaded, ticket["text"])
    return decision_for(ctx, ticket, prediction.to_dict(), model_version=loaded.version, ruleset=ruleset)


def decide_batch(
    ctx: Context,
    tickets: Sequence[dict[str, Any]],
    loaded: Loaded,
    *,
    ruleset: RuleSet | None = None,
    explain: bool = True,
) -> list[dict[str, Any]]:
    """Decisions for many tickets with one model call: what :func:`decide` gives for each (batch commands).

    ``explain=False`` leaves out the words that decided each ticket (figures only).
    """
    predictions = loaded.model.predict_batch([t["text"] for t in tickets], explain=explain)
    ruleset = ruleset or ctx.ruleset()
    return [
        decision_for(ctx, t, p.to_dict(), model_version=loaded.version, ruleset=ruleset)
        for t, p in zip(tickets, predictions, strict=True)
    ]


def decision_for(
    ctx: Context,
    ticket: Mapping[str, Any],
    prediction: Mapping[str, Any],
    *,
    model_version: str,
    ruleset: RuleSet | None = None,
) -> dict[str, Any]:
    """Route a prediction the way the service does: the rule set with every rule function, then the plugins.

    ``prediction`` is the model's (``Prediction.to_dict()``) or a stored one; its ``review_reasons``
    are the model's own (low confidence, ambiguity, novelty).
    """
    ruleset = ruleset or ctx.ruleset()
    routing = route(ruleset, ticket, prediction, ctx.rule_functions)
    reasons = list(dict.fromkeys([*prediction.get("review_reasons", []), *routing.review_reasons]))
    decision: dict[str, Any] = {
        "intent": prediction["intent"],
        "confidence": prediction["confidence"],
        "alternatives": prediction["alternatives"],
        "queue": routing.queue,
        "priority": routing.priority,
        "escalation": routing.escalation,
        "tags": routing.tags,
        "needs_review": bool(reasons),
        "review_reasons": reasons,
        "explanation": {
            "words": prediction.get("explanation") or {},
            "rules": routing.trace,
            # the model's review reasons in words, e.g. "confidence 0.62 below the 0.71 needed for card_arrival"
            "review": dict(prediction.get("review_notes") or {}),
        },
        "novelty": prediction.get("novelty"),
        "model_version": model_version,
        "ruleset_version": ruleset.version,
        "decided_at": datetime.now(UTC),
    }
    if routing.notify:
        decision["explanation"]["notify"] = routing.notify
    _explain_thresholds(decision, prediction)
    ctx.plugins.call_each("router_adjust_decision", decision=decision, ticket=ticket, prediction=prediction)
    decision["needs_review"] = bool(decision["review_reasons"])
    return decision


def _explain_thresholds(decision: dict[str, Any], prediction: Mapping[str, Any]) -> None:
    """Keep the cutoff the confidence was compared with, and say it beside a ``low_confidence`` reason.

    Each intent has its own threshold, so 99.88 % can need a person while 45 % routes itself.
    """
    threshold = prediction.get("threshold")
    if threshold is None:
        return
    decision["explanation"]["threshold"] = threshold
    if "low_confidence" in decision["review_reasons"]:
        confidence, threshold_text = percent_pair(decision["confidence"], threshold)
        decision["explanation"].setdefault("review", {}).setdefault(
            "low_confidence",
            f"confidence {confidence} is below the threshold of {decision['intent']}, {threshold_text}",
        )


def percent_pair(value: float, threshold: float) -> tuple[str, str]:
    """Both as percentages with as many decimals (up to 4) as it takes to tell them apart."""
    for decimals in range(1, 5):
        a, b = f"{value * 100:.{decimals}f} %", f"{threshold * 100:.{decimals}f} %"
        if a != b:
            return a, b
    return a, b


def _predict(ctx: Context, loaded: Loaded, text: str) -> tuple[Loaded, Any]:
    """The model's prediction; a canary that fails is recorded and the active version decides instead."""
    try:
        return loaded, loaded.model.predict(text)
    except Exception as exc:
        record_model_error(ctx, loaded.version, exc)
        active = ctx.runtime.current()
        if active.version == loaded.version:
            raise ServiceUnavailable(f"model {loaded.version} failed on this ticket; it was not stored, retry") from exc
        return active, active.model.predict(text)


def record_model_error(ctx: Context, version: str, exc: BaseException) -> None:
    """Count a failure against the version (the automatic-rollback watch compares error shares)."""
    log.error("model %s failed on a ticket: %s", version, exc, exc_info=exc)
    metrics.MODEL_ERRORS.labels(version=version).inc()
    try:
        with ctx.db.session() as s:
            s.add(ModelError(version=version, error=f"{type(exc).__name__}: {exc}"[:500]))
    except Exception:  # the count is best effort; the ticket matters more
        log.exception("could not record the model error")


def observe(decision: dict[str, Any]) -> None:
    """Count a committed decision in the metrics."""
    metrics.DECISIONS.labels(intent=decision["intent"], queue=decision["queue"]).inc()
    metrics.CONFIDENCE.observe(decision["confidence"])
    for reason in decision["review_reasons"]:
        metrics.REVIEWS.labels(reason=reason).inc()
