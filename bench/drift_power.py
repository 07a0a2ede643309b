"""Drift detection power on BANKING77 with ten intents held out of training as "new" intents.

Protocol (shared with ``bench/novelty.py``): BANKING77 train + test, normalised; ten intents drawn
at random (seed 7) are never trained on. The 67 known intents are split 70/30 (stratified): the
70 % trains a model the way ``router train`` does (its own 15 % hold-out becomes the drift
reference), the 30 % is the "production" pool windows are drawn from. Windows of 500 tickets:

* known: 500 tickets drawn from the production pool (false alarms);
* new 10 %: 450 known + 50 tickets of the held-out intents (detection);
* tripled: one known intent (drawn uniformly per window) has three times its share.

Prints each rate over ``--windows`` windows (default 60) for both backends, and the time one
check takes (features of the window + every detector). The model is trained once and cached in
``bench/out/heldout-<code hash>/``. Measurements, not asserts.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
import statistics
import sys
import time
from pathlib import Path

import joblib
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.ml.normalize import normalize_text  # noqa: E402
from router.ml.novelty import reference_arrays  # noqa: E402
from router.ml.train import train_model  # noqa: E402
from router.monitoring.drift import DriftSuite  # noqa: E402

WINDOW = 500
N_NEW_INTENTS = 10


def load_protocol(seed: int = 7) -> dict:
    """The held-out-intents split and a model trained on the known part (cached on disk)."""
    rows: list[tuple[str, str]] = []
    for name in ("train", "test"):
        with (ROOT / "fixtures" / "banking77" / f"{name}.csv").open(newline="") as fh:
            rows += [(normalize_text(r["text"]), r["category"]) for r in csv.DictReader(fh)]
    intents = sorted({lab for _, lab in rows})
    new = set(random.Random(seed).sample(intents, N_NEW_INTENTS))
    digest = hashlib.sha256(str(seed).encode())
    for path in sorted((ROOT / "router" / "ml").glob("*.py")):
        digest.update(path.read_bytes())
    cache = ROOT / "bench" / "out" / f"heldout-{digest.hexdigest()[:12]}.joblib"
    if cache.is_file():
        return joblib.load(cache)
    from sklearn.model_selection import train_test_split

    known = [(t, lab) for t, lab in rows if lab not in new]
    train, prod = train_test_split(known, test_size=0.3, stratify=[lab for _, lab in known], random_state=0)
    start = time.perf_counter()
    result = train_model([t for t, _ in train], [lab for _, lab in train])
    print(f"trained the {len(intents) - N_NEW_INTENTS}-intent model in {time.perf_counter() - start:.1f} s", flush=True)
    data = {
        "model": result.model,
        "reference": result.reference,
        "holdout_texts": result.holdout_texts,
        "prod": prod,
        "novel": [(t, lab) for t, lab in rows if lab in new],
        "new_intents": sorted(new),
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(data, cache, compress=3)
    return data


def windows(data: dict, kind: str, n: int, rng: np.random.Generator) -> list[list[str]]:
    prod_x = [t for t, _ in data["prod"]]
    prod_y = np.array([lab for _, lab in data["prod"]])
    novel_x = [t for t, _ in data["novel"]]
    intents = sorted(set(prod_y))
    out = []
    for _ in range(n):
        if kind == "known":
            idx = rng.choice(len(prod_x), WINDOW, replace=False)
            out.append([prod_x[i] for i in idx])
        elif kind == "new10":
            idx = rng.choice(len(prod_x), WINDOW - WINDOW // 10, replace=False)
            nov = rng.choice(len(novel_x), WINDOW // 10, replace=False)
            out.append([prod_x[i] for i in idx] + [novel_x[i] for i in nov])
        else:  # one intent's share triples
            boosted = intents[int(rng.integers(len(intents)))]
            w = np.where(prod_y == boosted, 3.0, 1.0)
            idx = rng.choice(len(prod_x), WINDOW, replace=False, p=w / w.sum())
            out.append([prod_x[i] for i in idx])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=60, help="windows per condition (at least 50)")
    parser.add_argument("--backends", default="scipy,alibi", help="comma-separated: scipy, alibi")
    args = parser.parse_args()
    data = load_protocol()
    model = data["model"]
    rng = np.random.default_rng(0)
    sets = {kind: windows(data, kind, args.windows, rng) for kind in ("known", "new10", "tripled")}
    features = {kind: [reference_arrays(model, w) for w in ws] for kind, ws in sets.items()}
    print(
        f"reference: {len(data['holdout_texts'])} held-out tickets; windows of {WINDOW}; "
        f"{args.windows} windows per condition; new intents: {', '.join(data['new_intents'])}"
    )
    for backend in args.backends.split(","):
        suite = DriftSuite(
            data["reference"], backend=backend, n_classes=len(model.classes), novelty_threshold=model.novelty_threshold
        )
        suite.check(features["known"][0])  # warm-up (alibi's import)
        print(f"\nbackend={backend}")
        for kind, label in (
            ("known", "false alarms, known intents only"),
            ("new10", "detected, 10 % new-intent tickets"),
            ("tripled", "detected, one intent's share tripled"),
        ):
            results = [suite.check(f) for f in features[kind]]
            rate = sum(r["is_drift"] for r in results) / len(results)
            per = {
                name: sum(r["detectors"][name]["data"]["is_drift"] for r in results) / len(results)
                for name in results[0]["detectors"]
            }
            print(f"  {label:<40} {rate:6.1%}   by detector: " + "  ".join(f"{k}={v:.0%}" for k, v in per.items()))
        times = []
        for w in sets["known"][:20]:
            start = time.perf_counter()
            suite.check(reference_arrays(model, w))
            times.append(time.perf_counter() - start)
        print(
            f"  time per check (500 tickets: features + all detectors): median {statistics.median(times):.3f} s, "
            f"max {max(times):.3f} s"
        )


if __name__ == "__main__":
    main()
