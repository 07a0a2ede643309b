"""Auto-routing thresholds on BANKING77: the share people never see, at the promised precision.

Run: ``.venv/bin/python bench/bench_thresholds.py``.  Prints figures only (no assertions).

Protocols (the test set is never used for choosing anything):

* **full**: ``train_model`` on the whole train.csv (90 % fit, thresholds on its out-of-fold
  predictions, 10 % hold-out for the card);
* **20 per intent**: the training split cut to 20 random examples per intent (a small helpdesk's
  first model), three samples.

For each: the share of test tickets the model auto-routes (no ``low_confidence``, ``ambiguous`` or
``novel``) and their precision, against the targets (full: >= 88 % auto-routed at >= 97 %;
20 per intent: >= 95 % correct); what ``ambiguous`` and ``novel`` add to ``low_confidence``;
every intent whose auto-routed test tickets fall below its floor, by name; the curve of target
precision against share; and, for reference, the best single cutoff chosen on the test set itself.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router.ml.data import TrainingData, load_training_csv  # noqa: E402
from router.ml.evaluate import global_cutoff  # noqa: E402
from router.ml.model import RouterModel  # noqa: E402
from router.ml.thresholds import CURVE_TARGETS, OutOfFold, choose  # noqa: E402
from router.ml.train import train_model  # noqa: E402

DATA = ROOT / "fixtures" / "banking77"
SMALL_PER_INTENT = 20
SMALL_SEEDS = (0, 1, 2)


def _sample(data: TrainingData, per_intent: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    by_intent: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(data.labels):
        by_intent[label].append(i)
    keep = sorted(j for rows in by_intent.values() for j in rng.choice(rows, per_intent, replace=False))
    return [data.texts[i] for i in keep], [data.labels[i] for i in keep]


def measure(model: RouterModel, test: TrainingData) -> dict[str, Any]:
    """The model's own review reasons on the test set, and what each adds."""
    preds = model.predict_batch(test.texts, explain=False)
    y = np.asarray(test.labels, dtype=object)
    correct = np.array([p.intent == lab for p, lab in zip(preds, y, strict=True)])
    low = np.array(["low_confidence" in p.review_reasons for p in preds])
    amb = np.array([p.margin < model.ambiguity_margin for p in preds])
    nov = np.array([p.novelty is not None and p.novelty > model.novelty_threshold for p in preds])
    routed = np.array([not p.needs_review for p in preds])

    def fig(mask: np.ndarray) -> tuple[float, float]:
        return float(mask.mean()), float(correct[mask].mean()) if mask.any() else 0.0

    intents = np.array([p.intent for p in preds], dtype=object)
    below = []
    for intent in model.classes:
        m = routed & (intents == intent)
        if m.any() and correct[m].mean() < model.intent_floor:
            below.append((intent, int(correct[m].sum()), int(m.sum())))
    conf = np.array([p.confidence for p in preds])
    return {
        "routed": fig(routed),
        "low": fig(~low),
        "low+ambiguous": fig(~low & ~amb),
        "low+novel": fig(~low & ~nov),
        "ambiguous_extra": int((~low & amb).sum()),
        "novel_extra": int((~low & nov).sum()),
        "below_floor": below,
        "oracle_share": global_cutoff(conf, correct.astype(float), model.target_precision)[1],
        "test": OutOfFold.from_proba(np.searchsorted(model.classes, test.labels), model.predict_proba(test.texts)),
    }


def _pct(share_prec: tuple[float, float]) -> str:
    return f"{share_prec[0]:6.1%} auto-routed at {share_prec[1]:6.2%} correct"


def report(name: str, model: RouterModel, result: dict[str, Any], seconds: float) -> dict[str, Any]:
    m = measure(model, result["test"])
    choice = result["choice"]
    print(f"\n== {name}: trained in {seconds:.1f} s; thresholds from {choice['source']} ({choice['rows']} rows)")
    print(
        f"  OOF expectation at target {model.target_precision:.3f}: {choice['expected_share']:.1%} "
        f"at {choice['expected_precision']:.2%}; floor {model.intent_floor:.2f} raised: "
        f"{', '.join(choice['raised_by_floor']) or 'none'}"
    )
    print(f"  model review reasons (the product figure): {_pct(m['routed'])}")
    print(f"    low_confidence only:                    {_pct(m['low'])}")
    print(f"    + ambiguous:                            {_pct(m['low+ambiguous'])}  ({m['ambiguous_extra']} more)")
    print(f"    + novel:                                {_pct(m['low+novel'])}  ({m['novel_extra']} more)")
    rules = choice["reasons"]
    print(
        f"  rules kept by training: ambiguous {rules['ambiguous']['kept']} (flags {rules['ambiguous']['extra']} OOF "
        f"tickets), novel {rules['novel']['kept']} (flags {rules['novel']['extra']})"
    )
    print(f"  best single cutoff chosen on the test set itself: {m['oracle_share']:.1%}")
    if m["below_floor"]:
        print("  intents below their floor on the test set:")
        for intent, k, n in m["below_floor"]:
            print(f"    {intent}: {k}/{n} = {k / n:.1%}")
    else:
        print("  every intent's auto-routed test tickets reach the floor")
    return m


def curve(model: RouterModel, test: OutOfFold) -> None:
    assert model.out_of_fold is not None
    print("  target  OOF share  test share  test precision")
    for target in CURVE_TARGETS:
        ch = choose(model.out_of_fold, model.classes, target, min(model.intent_floor, target))
        routed = test.confidence >= ch.as_array(model.classes)[test.predicted.astype(np.intp)] - 1e-7
        prec = float(test.correct[routed].mean()) if routed.any() else 0.0
        print(f"  {target:6.3f}  {ch.expected_share:9.1%}  {routed.mean():10.1%}  {prec:14.2%}")


def main() -> None:
    train = load_training_csv(DATA / "train.csv")
    test = load_training_csv(DATA / "test.csv")
    print(f"BANKING77: {train.n_rows} train rows, {test.n_rows} test rows, {len(train.label_counts)} intents")

    start = time.perf_counter()
    full = train_model(train.texts, train.labels)
    m = report(
        "full training set", full.model, {"test": test, "choice": full.threshold_choice}, time.perf_counter() - start
    )
    share, prec = m["routed"]
    ok = share >= 0.88 and prec >= 0.97
    print(f"  target >= 88.0 % auto-routed at >= 97.00 %: {'met' if ok else 'NOT met'}")
    curve(full.model, m["test"])

    small = []
    for seed in SMALL_SEEDS:
        texts, labels = _sample(train, SMALL_PER_INTENT, seed)
        start = time.perf_counter()
        res = train_model(texts, labels, random_state=seed)
        name = f"{SMALL_PER_INTENT} per intent, sample {seed}"
        small.append(
            report(name, res.model, {"test": test, "choice": res.threshold_choice}, time.perf_counter() - start)
        )
    shares = [s["routed"][0] for s in small]
    precs = [s["routed"][1] for s in small]
    print(
        f"\n{SMALL_PER_INTENT} per intent, mean of {len(small)} samples: {np.mean(shares):.1%} auto-routed at "
        f"{np.mean(precs):.2%} correct (lowest {min(precs):.2%}); target >= 95 % correct: "
        f"{'met' if min(precs) >= 0.95 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
