"""What a drift check costs the routing, and how loudly the router should say so.

A large window makes every difference significant; a p-value alone cannot tell a maintainer whether
to act. Here every detector's change gets an *effect* in points or ratios, and a *severity*:

* ``ok``: not statistically significant;
* ``info``: significant, but smaller than the detector's minimum material effect (stored, shown,
  never alerted);
* ``warning``: significant and at least the minimum effect (alerted);
* ``critical``: a warning while the window's expected routing accuracy is more than
  ``critical_points`` below the reference's.

The cost comes first: :func:`estimate` turns a window's calibrated confidences into its expected
routing accuracy (the mean calibrated confidence, with a 95 % interval for the window's accuracy)
and its expected review load (the share the model's own rules send to review: below the intent's
threshold, ambiguous, or novel). A change is material when its own effect reaches its minimum, or
when the window's cost does: expected accuracy down, or review load up, by its minimum (each change
is shown with its 95 % sampling margin). So new-intent tickets that push the review load up 8 points matter
even when the novel share rose a little less than its minimum. Detectors of the input (embedding
components, the reference-vs-window classifier, unseen tokens) describe *why* traffic changed, not
what it costs (a new greeting moves every embedding component and may cost nothing), so only the
cost makes their change material.

An intent's rise (``prediction_share``, ``prediction_chi2``, ``intent_surge_hour``) is material
when it is significant on its own, at least ``surge_ratio`` times and ``surge_tickets`` above its
expected count, *and* larger than the window's whole mix explains (``p_beyond_mix`` below the
detector's level). Intent mixes move without anything being wrong (a season, a campaign, a new
customer segment): with every intent's share up or down by as much as half, the mix moves
significantly, and among dozens of intents one then reaches twice its expected count by chance
every few windows, looking, on its own count, just like a tripled intent. An outage is one intent
standing out from the others. So each rising intent is tested again with its expected share as
uncertain as the *other* intents' shares turned out to be in the same window: :func:`mix_spread`
measures how far they sit from their expected shares beyond sampling (a relative standard
deviation; 0.3 means about 30 % off), and :func:`share_tail` is the intent's one-sided tail under
a beta-binomial with that spread. The judged intent is left out of its own spread, so a real surge
cannot hide itself. The spread also takes in what a fixed expected mix leaves out: the reference's
own sampling noise (its shares are estimated from a finite sample) and the classifier's steady
confusions, which move predicted shares off the labels' shares. ``prediction_share`` calibrates
that tail on its own simulated windows, as it does the intent's p-value, so with no spread the
second test *is* the first and a surge in a steady mix is judged exactly as before; the other share
tests use Bonferroni over the intents (:func:`beyond_mix_p`). This decides severity only: the
detectors' p-values are what they were.

Measured on the benchmark's production pool (``bench/drift_power.py``: its model's predicted
intents, ``prediction_share`` alone, 1,000 windows per condition), the bounded mix shift of
``±50 %`` per intent alerted 0.6 % of its windows instead of 4.1 %, for a tripled intent 56.7 %
instead of 58.3 % at 500 tickets and 92.8 % instead of 93.1 % at 1,000. Judging the ratio on a
confidence bound instead (its one-sided 95 % lower bound at least ``surge_ratio``) silenced the mix
shift too (0.1 %) but found 33.0 % of the tripled intents at 500 and 58.4 % at 1,000: a tripled
intent seen through the classifier reaches about 2.7 times its share, too close to the minimum of
2 for a bound to clear it. The bound asks every surge for more tickets; the spread asks that only
of a window whose whole mix moved.

No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import betabinom, binom

SEVERITIES = ("ok", "info", "warning", "critical")
#: severities that mean drift (``is_drift``) and raise an alert
ALERTING = ("warning", "critical")
SHARE_SIDE = ("prediction_share", "prediction_chi2", "intent_surge_hour")
Z95 = 1.959964


@dataclass(frozen=True)
class Minimums:
    """The smallest changes worth a maintainer's attention (``ROUTER_DRIFT_MIN_*``, see the README)."""

    accuracy_points: float = 2.0
    review_points: float = 5.0
    novel_points: float = 3.0
    surge_ratio: float = 2.0
    surge_tickets: float = 10.0
    critical_points: float = 5.0

    @classmethod
    def from_settings(cls, settings: Any) -> Minimums:
        return cls(
            accuracy_points=settings.drift_min_accuracy_points,
            review_points=settings.drift_min_review_points,
            novel_points=settings.drift_min_novel_points,
            surge_ratio=settings.drift_min_surge_ratio,
            surge_tickets=settings.drift_min_surge_tickets,
            critical_points=settings.drift_critical_points,
        )


@dataclass(frozen=True)
class Routing:
    """The model's review rules, to count the review load a window brings.

    ``thresholds`` holds each intent's auto-route threshold in class order.
    """

    thresholds: np.ndarray
    ambiguity_margin: float = 0.0
    novelty_threshold: float = float("inf")
    novel_review: bool = True

    @classmethod
    def of(cls, model: Any) -> Routing:
        return cls(
            thresholds=np.array([model.threshold_for(c) for c in model.classes], dtype=np.float64),
            ambiguity_margin=float(getattr(model, "ambiguity_margin", 0.0)),
            novelty_threshold=float(model.novelty_threshold),
            novel_review=bool(getattr(model, "novel_review", True)),
        )


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if len(mask) else 0.0


def figures(arrays: dict[str, np.ndarray], routing: Routing | None) -> dict[str, Any]:
    """One sample's expected accuracy (with its interval), review load and share below threshold."""
    conf = np.asarray(arrays["confidence"], dtype=np.float64).ravel()
    n = len(conf)
    mean = float(conf.mean()) if n else 0.0
    half = Z95 * float(np.sqrt(np.sum(conf * (1 - conf)))) / max(1, n)
    out: dict[str, Any] = {
        "n": n,
        "accuracy": mean,
        "var": float(conf.var()) if n else 0.0,
        "low": max(0.0, mean - half),
        "high": min(1.0, mean + half),
    }
    if routing is None or "predicted" not in arrays:
        return out
    pred = np.asarray(arrays["predicted"]).ravel().astype(np.int64)
    known = pred < len(routing.thresholds)
    below = np.zeros(n, dtype=bool)
    below[known] = conf[known] < routing.thresholds[pred[known]]
    review = below.copy()
    if "margin" in arrays and routing.ambiguity_margin > 0:
        review |= np.asarray(arrays["margin"], dtype=np.float64).ravel() < routing.ambiguity_margin
    if "novelty" in arrays and routing.novel_review:
        review |= np.asarray(arrays["novelty"], dtype=np.float64).ravel() > routing.novelty_threshold
    out.update(below_threshold=_share(below), review_load=_share(review))
    return out


def _points(a: float, b: float) -> float:
    return round(100 * (b - a), 2)


def _margin(var_r: float, n_r: int, var_w: float, n_w: int) -> float:
    """95 % margin, in points, of a difference between the window's and the reference's figure."""
    return round(100 * Z95 * float(np.sqrt(var_r / max(1, n_r) + var_w / max(1, n_w))), 2)


def estimate(reference: dict[str, Any], window: dict[str, Any]) -> dict[str, Any]:
    """The window's routing cost against the reference's, from two :func:`figures` answers.

    ``margin_points`` is each change's 95 % sampling margin (both the window and the reference are
    samples), shown beside the change. The minimum effects are judged on the change itself: taking
    the margin off first was measured on ``bench/drift_power.py`` and lost a sixth of the new-intent
    windows while barely quietening the greeting windows (whose estimate is biased, not noisy).
    """
    n_r, n_w = reference["n"], window["n"]
    out: dict[str, Any] = {
        "expected_accuracy": {
            "reference": round(reference["accuracy"], 4),
            "window": round(window["accuracy"], 4),
            "low": round(window["low"], 4),
            "high": round(window["high"], 4),
            "change_points": _points(reference["accuracy"], window["accuracy"]),
            "margin_points": _margin(reference.get("var", 0.0), n_r, window.get("var", 0.0), n_w),
        }
    }
    for key in ("review_load", "below_threshold"):
        if key in reference and key in window:
            p_r, p_w = reference[key], window[key]
            out[key] = {
                "reference": round(p_r, 4),
                "window": round(p_w, 4),
                "change_points": _points(p_r, p_w),
                "margin_points": _margin(p_r * (1 - p_r), n_r, p_w * (1 - p_w), n_w),
            }
    return out


def _at_least(change: dict[str, Any] | None, sign: float) -> float:
    """How far ``change`` went in direction ``sign``, in points (the point estimate: see :func:`estimate`)."""
    if not change:
        return 0.0
    return sign * float(change["change_points"])


def accuracy_drop(est: dict[str, Any]) -> float:
    return _at_least(est["expected_accuracy"], -1.0)


def costs(est: dict[str, Any], minimums: Minimums) -> list[str]:
    """The cost changes in ``est`` that reach their minimum, in words (empty: routing not hurt)."""
    out = []
    acc, load = est["expected_accuracy"], est.get("review_load")
    if accuracy_drop(est) >= minimums.accuracy_points:
        out.append(
            f"expected accuracy down {-acc['change_points']:.1f} ± {acc.get('margin_points', 0):.1f} points "
            f"(minimum {minimums.accuracy_points:g})"
        )
    if load and _at_least(load, 1.0) >= minimums.review_points:
        out.append(
            f"expected review load up {load['change_points']:.1f} ± {load.get('margin_points', 0):.1f} points "
            f"(minimum {minimums.review_points:g})"
        )
    return out


def mix_spread(counts: np.ndarray, expected: np.ndarray, leave_out: int) -> float:
    """How far the intents other than ``leave_out`` sit from their expected shares beyond sampling,
    as a relative standard deviation (0.3: about 30 % off; 0 when sampling explains their counts).

    The method-of-moments estimate from the other intents' counts against their expected counts
    rescaled to the tickets they hold: a count's variance is its sampling variance plus
    ``(spread * expected) ** 2`` when its share moves by a relative ``spread``.
    """
    keep = np.arange(len(counts)) != leave_out
    c = np.asarray(counts, dtype=np.float64)[keep]
    e = np.asarray(expected, dtype=np.float64)[keep]
    if len(c) < 2 or e.sum() <= 0 or c.sum() <= 0:
        return 0.0
    e = e * c.sum() / e.sum()
    sampling = e * (1 - e / c.sum())
    a = float(np.sum((c - e) ** 2 - sampling) / max(float(np.sum(e**2)), 1e-12))
    return float(np.sqrt(max(0.0, a)))


def share_tail(count: int, n: int, share: float, spread: float) -> float:
    """``P(X >= count)`` for ``n`` tickets when the intent's share is itself uncertain by a relative
    ``spread`` around ``share`` (beta-binomial; the exact binomial tail when ``spread`` is 0)."""
    if count <= 0:
        return 1.0
    if share <= 0:
        return 0.0
    if share >= 1:
        return 1.0
    v = (spread * share) ** 2
    if v <= 1e-15:
        return float(binom.sf(count - 1, n, share))
    s = max(share * (1 - share) / min(v, 0.999 * share * (1 - share)) - 1, 1e-9)
    return float(betabinom.sf(count - 1, n, share * s, (1 - share) * s))


def beyond_mix_p(count: int, n: int, share: float, spread: float, tests: int) -> float:
    """:func:`share_tail`, Bonferroni-corrected over ``tests`` intents: small when the intent rose more
    than the window's whole mix explains (detectors with a calibrated null use theirs instead)."""
    return min(1.0, share_tail(count, n, share, spread) * max(1, tests))


def _surges(data: dict[str, Any], minimums: Minimums) -> list[dict[str, Any]]:
    """The intents whose rise is significant on its own, at least the minimum ratio and tickets, and
    beyond the spread of the window's whole mix (``p_beyond_mix``; a list without it is judged without)."""
    return [
        s
        for s in data.get("increases", [])
        if s["p_val"] < data["threshold"]
        and (s["ratio"] is None or s["ratio"] >= minimums.surge_ratio)
        and s["window_count"] - s["expected_count"] >= minimums.surge_tickets
        and s.get("p_beyond_mix", 0.0) < data["threshold"]
    ]


def effect(
    name: str, data: dict[str, Any], est: dict[str, Any] | None, minimums: Minimums
) -> tuple[dict[str, Any], bool]:
    """``(effect, material)`` of one detector's change, in the units a maintainer reads.

    A change is material when its own effect reaches its minimum, or when the window's routing cost
    does (:func:`costs`); the input-side detectors have only the second. ``est`` is None for a test
    with no features behind it (the hourly surge counts intents only).
    """
    out, own = _own(name, data, est, minimums)
    return out, own or (est is not None and bool(costs(est, minimums)))


def _own(
    name: str, data: dict[str, Any], est: dict[str, Any] | None, minimums: Minimums
) -> tuple[dict[str, Any], bool]:
    if name in SHARE_SIDE:
        increases = data.get("increases", [])
        rising = _surges(data, minimums)
        top = rising[0] if rising else (increases[0] if increases else None)
        names = [s.get("intent", s.get("class")) for s in rising]
        return {"largest_increase": top, "material_intents": names}, bool(rising)
    if name == "novelty_rate":
        share = data["novel_share"]
        points = _points(share["reference"], share["window"])
        return {"novel_share": {**share, "change_points": points}}, points >= minimums.novel_points
    if name == "vocabulary":
        share = data["unseen_share"]
        return {"unseen_share": {**share, "change_points": _points(share["reference"], share["window"])}}, False
    if name == "input_ks":
        return {"components_moved": data.get("components_moved")}, False
    if name == "input_classifier":
        return {"auc": data.get("auc")}, False
    if name == "confidence_ks" and est is not None:
        acc = est["expected_accuracy"]
        out = {"expected_accuracy": acc, "mean_confidence": data.get("mean_confidence")}
        material = accuracy_drop(est) >= minimums.accuracy_points
        if "below_threshold" in est:
            out["below_threshold"] = est["below_threshold"]
            material |= _at_least(est["below_threshold"], 1.0) >= minimums.review_points
        if "review_load" in est:
            out["review_load"] = est["review_load"]  # kept with the check: the page leads with it
        return out, material
    return {}, True  # a detector this module does not know: its significance is its verdict


def severity(significant: bool, material: bool, est: dict[str, Any] | None, minimums: Minimums) -> str:
    if not significant:
        return "ok"
    if not material:
        return "info"
    if est is not None and accuracy_drop(est) > minimums.critical_points:
        return "critical"
    return "warning"


def judge(results: dict[str, dict[str, Any]], est: dict[str, Any] | None, minimums: Minimums) -> str:
    """Give every detector result its ``effect`` and ``severity`` (``is_drift``: warning or worse);
    the check's severity is the highest among the voting detectors."""
    worst = "ok"
    for name, r in results.items():
        data = r["data"]
        data["significant"] = bool(data["p_val"] < data["threshold"])
        data["effect"], material = effect(name, data, est, minimums)
        data["severity"] = severity(data["significant"], material, est, minimums)
        data["is_drift"] = data["severity"] in ALERTING
        if data.get("votes", True) and SEVERITIES.index(data["severity"]) > SEVERITIES.index(worst):
            worst = data["severity"]
    return worst


def worst(severities: list[str]) -> str:
    return max(severities, key=SEVERITIES.index, default="ok")


def stored_severity(detectors: dict[str, Any], is_drift: bool) -> str:
    """A stored check's severity (checks stored before severities existed: warning when drift)."""
    found = [d["data"]["severity"] for d in detectors.values() if d.get("data", {}).get("severity")]
    voting = [
        d["data"]["severity"] for d in detectors.values() if d["data"].get("severity") and d["data"].get("votes", True)
    ]
    if found:
        return worst(voting)
    return "warning" if is_drift else "ok"


def stored_estimate(detectors: dict[str, Any]) -> dict[str, Any] | None:
    """A stored check's estimate (kept in the confidence detector's effect), or None for older checks."""
    eff = (detectors.get("confidence_ks") or {}).get("data", {}).get("effect") or {}
    if "expected_accuracy" not in eff:
        return None
    return {k: eff[k] for k in ("expected_accuracy", "review_load", "below_threshold") if k in eff}
