"""Calibration from people: accuracy and ECE of reviewed tickets per model version and per week,
and the confidence-based estimate of accuracy on unlabeled traffic.

Labels come from the review queue (``review_labels``; imported guarded, so this module works before
that feature is installed: it then reports no labels). Reviewed tickets are mostly the ones the
model was unsure of, so their accuracy understates the traffic's; the report says so. The estimate
for unlabeled traffic is the mean calibrated confidence (expected accuracy when confidences are
calibrated), compared with the version's held-out accuracy: a drop beyond
``ROUTER_ALERT_ACCURACY_DROP`` raises an alert. :func:`window_accuracy` measures a drift check's
window where reviewers labelled some of its tickets, beside the estimate for those same tickets.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from ..db import Decision, ModelVersion
from ..db.review import ReviewLabel
from ..ml.evaluate import expected_calibration_error


def _week(at: datetime) -> str:
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


def _labels(ctx: Any, since: datetime) -> list[Any]:
    with ctx.db.session() as s:
        return list(
            s.execute(
                select(
                    Decision.model_version,
                    Decision.decided_at,
                    Decision.confidence,
                    Decision.intent,
                    ReviewLabel.intent.label("label"),
                )
                .join(ReviewLabel, ReviewLabel.decision_id == Decision.id)
                .where(Decision.decided_at >= since)
            ).all()
        )


def _figures(conf: list[float], correct: list[bool]) -> dict[str, Any]:
    return {
        "labels": len(conf),
        "accuracy": round(float(np.mean(correct)), 4),
        "ece": round(expected_calibration_error(np.array(conf), np.array(correct, dtype=float)), 4),
        "mean_confidence": round(float(np.mean(conf)), 4),
    }


def report(ctx: Any, weeks: int = 8) -> dict[str, Any]:
    """Per model version and per ISO week: labelled accuracy/ECE and the unlabeled estimate."""
    since = datetime.now(UTC) - timedelta(weeks=weeks)
    groups: dict[tuple[str, str], tuple[list[float], list[bool]]] = defaultdict(lambda: ([], []))
    for r in _labels(ctx, since):
        conf, ok = groups[(r.model_version, _week(r.decided_at))]
        conf.append(float(r.confidence))
        ok.append(r.label == r.intent)
    with ctx.db.session() as s:
        traffic = s.execute(
            select(Decision.model_version, Decision.decided_at, Decision.confidence).where(Decision.decided_at >= since)
        ).all()
        held_out = {
            v: (card or {}).get("metrics", {}) for v, card in s.execute(select(ModelVersion.version, ModelVersion.card))
        }
    expected: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in traffic:
        expected[(r.model_version, _week(r.decided_at))].append(float(r.confidence))
    rows = []
    for key in sorted(set(groups) | set(expected)):
        version, week = key
        entry: dict[str, Any] = {
            "model_version": version,
            "week": week,
            "held_out_accuracy": held_out.get(version, {}).get("accuracy"),
            "decisions": len(expected.get(key, [])),
        }
        if expected.get(key):
            entry["expected_accuracy"] = round(float(np.mean(expected[key])), 4)
        if key in groups:
            entry["reviewed"] = _figures(*groups[key])
        rows.append(entry)
    per_version: dict[str, Any] = {}
    by_version: dict[str, tuple[list[float], list[bool]]] = defaultdict(lambda: ([], []))
    for (version, _), (conf, ok) in groups.items():
        by_version[version][0].extend(conf)
        by_version[version][1].extend(ok)
    for version, (conf, ok) in by_version.items():
        per_version[version] = _figures(conf, ok)
    return {
        "since": since,
        "weeks": rows,
        "reviewed_by_model_version": per_version,
        "note": "reviewed tickets are mostly low-confidence ones; their accuracy understates the traffic's",
    }


def expected_accuracy(ctx: Any, version: str, window: int) -> dict[str, Any]:
    """Mean calibrated confidence of the last ``window`` decisions of ``version`` against held-out accuracy."""
    with ctx.db.session() as s:
        conf = list(
            s.scalars(
                select(Decision.confidence)
                .where(Decision.model_version == version)
                .order_by(Decision.id.desc())
                .limit(window)
            )
        )
        row = s.get(ModelVersion, version)
        held = ((row.card if row else {}) or {}).get("metrics", {}).get("accuracy")
    return {
        "model_version": version,
        "decisions": len(conf),
        "expected_accuracy": round(float(np.mean(conf)), 4) if conf else None,
        "held_out_accuracy": held,
    }


def window_accuracy(ctx: Any, version: str, first_id: int | None, last_id: int | None) -> dict[str, Any] | None:
    """Reviewers' labels for the decisions of a drift check's window: measured accuracy of the labelled
    tickets beside their own expected accuracy (reviewed tickets are mostly the unsure ones, so the
    fair comparison is with the estimate for the same tickets, not with the window's). None without labels."""
    if first_id is None or last_id is None:
        return None
    with ctx.db.session() as s:
        rows = s.execute(
            select(Decision.id, Decision.confidence, Decision.intent, ReviewLabel.intent.label("label"))
            .join(ReviewLabel, ReviewLabel.decision_id == Decision.id)
            .where(Decision.model_version == version, Decision.id >= first_id, Decision.id <= last_id)
            .order_by(Decision.id, ReviewLabel.id)
        ).all()
    latest = {r.id: r for r in rows}  # a decision relabelled: the latest label counts
    if not latest:
        return None
    conf = [float(r.confidence) for r in latest.values()]
    ok = [r.label == r.intent for r in latest.values()]
    return {
        "labels": len(latest),
        "accuracy": round(float(np.mean(ok)), 4),
        "expected_accuracy": round(float(np.mean(conf)), 4),
    }
