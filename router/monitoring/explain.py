"""Drift checks in a maintainer's words: the cost to routing first, then the detectors that explain it.

Shared by the drift alert (:func:`router.monitoring.checks.drift`) and the Monitoring page, so both
say the same thing in the same order.
"""

from __future__ import annotations

from typing import Any

from .effects import ALERTING


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _signed(points: float) -> str:
    return f"{points:+.1f} points"


def lead(estimate: dict[str, Any] | None) -> str:
    """Expected routing accuracy and review load of the window against the reference, in one sentence."""
    if not estimate:
        return "No estimate of routing accuracy for this check (it was stored before estimates existed)."
    acc = estimate["expected_accuracy"]
    text = (
        f"Expected routing accuracy {_pct(acc['window'])} (95 % interval {_pct(acc['low'])} to {_pct(acc['high'])}) "
        f"against {_pct(acc['reference'])} on the reference ({_signed(acc['change_points'])})"
    )
    load = estimate.get("review_load")
    if load:
        text += (
            f"; expected review load {_pct(load['window'])} against {_pct(load['reference'])} "
            f"({_signed(load['change_points'])})"
        )
    return text + "."


def _increase(s: dict[str, Any] | None, where: str) -> str:
    if not s:
        return "no intent rose"
    ratio = f"{s['ratio']:.1f} times" if s.get("ratio") is not None else "none expected"
    intent = s.get("intent", s.get("class"))
    text = f"{intent}: {s['window_count']} tickets {where}, {s['expected_count']:.1f} expected ({ratio})"
    if s.get("mix_spread"):  # the other intents moved too: the rise is judged against their spread
        text += f"; the other intents sit {100 * s['mix_spread']:.0f} % off their expected shares"
    return text


def effect_text(name: str, data: dict[str, Any]) -> str:
    """One detector's change in its own units."""
    eff = data.get("effect") or {}
    if name == "confidence_ks" and eff:
        mc = eff.get("mean_confidence") or {}
        text = f"mean confidence {mc.get('window', 0):.3f} against {mc.get('reference', 0):.3f}"
        below = eff.get("below_threshold")
        if below:
            text += (
                f"; below their intent's threshold {_pct(below['window'])} against {_pct(below['reference'])} "
                f"({_signed(below['change_points'])})"
            )
        return text
    if "novel_share" in eff:
        s = eff["novel_share"]
        return f"novel share {_pct(s['window'])} against {_pct(s['reference'])} ({_signed(s['change_points'])})"
    if "unseen_share" in eff:
        s = eff["unseen_share"]
        return f"unseen-token share {_pct(s['window'])} against {_pct(s['reference'])} ({_signed(s['change_points'])})"
    if eff.get("components_moved"):
        c = eff["components_moved"]
        return f"{c['count']} of {c['of']} embedding components moved"
    if eff.get("auc") is not None:
        return f"a classifier tells window from reference tickets with AUC {eff['auc']:.2f} (0.50: alike)"
    if "largest_increase" in eff:
        where = "in the last hour" if name == "intent_surge_hour" else "in the window"
        return _increase(eff["largest_increase"], where)
    return f"distance {data.get('distance', 0):.3g}"


def detector_line(name: str, data: dict[str, Any]) -> str:
    return f"{name}: {effect_text(name, data)} (p = {data['p_val']:.2g}, threshold {data['threshold']:.2g})"


def why(detectors: dict[str, Any], severities: tuple[str, ...] = ALERTING) -> list[str]:
    """The voting detectors at one of ``severities``, each in a line."""
    return [
        detector_line(name, r["data"])
        for name, r in detectors.items()
        if r["data"].get("severity") in severities and r["data"].get("votes", True)
    ]


def message(result: dict[str, Any]) -> str:
    """The drift alert's text: the cost to routing, the detectors that explain it, the ones below their minimum."""
    parts = [lead(result.get("estimate"))]
    material = why(result["detectors"])
    if material:
        parts.append("Why: " + "; ".join(material) + ".")
    minor = why(result["detectors"], ("info",))
    if minor:
        parts.append("Also significant but below the minimum effect: " + "; ".join(minor) + ".")
    parts.append("See the Monitoring page, GET /v1/monitoring/drift and `router drift report`.")
    return " ".join(parts)
