"""Novel tickets on BANKING77 with ten intents held out of training (the protocol of drift_power.py).

Prints: the share of unseen-intent tickets flagged (``novel`` or ``low_confidence``), the share of
known-intent tickets flagged ``novel`` (calibrated at 5 % on the held-out split), the accuracy of
the known-intent tickets that are auto-routed, the AUROC of the novelty score, and its cost per
ticket. Measurements, not asserts.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drift_power import load_protocol


def main() -> None:
    data = load_protocol()
    model = data["model"]
    known_x = [t for t, _ in data["prod"]]
    known_y = [lab for _, lab in data["prod"]]
    novel_x = [t for t, _ in data["novel"]]
    known = model.predict_batch(known_x, explain=False)
    novel = model.predict_batch(novel_x, explain=False)

    def share(preds: list, reasons: set[str]) -> float:
        return float(np.mean([bool(reasons & set(p.review_reasons)) for p in preds]))

    auto = [(p, y) for p, y in zip(known, known_y, strict=True) if not p.needs_review]
    from sklearn.metrics import roc_auc_score

    scores = [p.novelty for p in known] + [p.novelty for p in novel]
    auroc = roc_auc_score([0] * len(known) + [1] * len(novel), scores)
    print(
        f"known-intent tickets: {len(known)} (production split), unseen-intent tickets: {len(novel)} "
        f"({', '.join(data['new_intents'])})"
    )
    print(f"novelty threshold (95th percentile of the held-out split): {model.novelty_threshold:.4f}")
    print(
        f"unseen-intent tickets flagged novel or low_confidence: {share(novel, {'novel', 'low_confidence'}):.1%}"
        f"   (novel alone {share(novel, {'novel'}):.1%}, "
        f"any review reason {share(novel, {'novel', 'low_confidence', 'ambiguous'}):.1%})"
    )
    print(f"known-intent tickets flagged novel:                   {share(known, {'novel'}):.1%}")
    print(
        f"known-intent tickets auto-routed: {len(auto) / len(known):.1%}, accuracy of those: "
        f"{np.mean([p.intent == y for p, y in auto]):.2%}"
    )
    unseen_auto = sum(not p.needs_review for p in novel)
    print(
        f"unseen-intent tickets auto-routed anyway (necessarily wrong): {unseen_auto} ({unseen_auto / len(novel):.1%})"
    )
    print(f"novelty AUROC, unseen vs known: {auroc:.3f}")
    det = model.novelty_detector
    probas = [model.classifier.predict_proba_one(t) for t in known_x[:500]]
    times = []
    for p in probas:
        start = time.perf_counter()
        det.score_proba(p)
        times.append(time.perf_counter() - start)
    print(
        f"novelty cost per ticket (from the decision's probabilities): median {statistics.median(times) * 1e6:.1f} µs"
    )


if __name__ == "__main__":
    main()
