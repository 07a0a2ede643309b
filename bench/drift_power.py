"""Drift detection power on BANKING77 with ten intents held out of training as "new" intents.

Protocol (shared with ``bench/novelty.py``): BANKING77 train + test, normalised; ten intents drawn
at random (seed 7) are never trained on. The 67 known intents are split 70/30 (stratified): the
70 % trains a model the way ``router train`` does (its own 15 % hold-out becomes the drift
reference), the 30 % is the "production" pool windows are drawn from. Windows of 500 tickets:

* known: 500 tickets drawn from the production pool (false alarms);
* new 10 %: 450 known + 50 tickets of the held-out intents (detection);
* tripled: one known intent (drawn uniformly per window) has three times its share.

Prints each rate over ``--windows`` windows (default 60) for both backends, and the time one
check takes (features of the window + every detector). ``--window`` changes the window size
(default 500, the protocol the targets are set for; 1000 shows what a longer ``ROUTER_DRIFT_WINDOW`` buys).

It also prints the best detection rate any test could reach on tripled windows: the
likelihood-ratio test for "one of the known intents tripled" (the Neyman-Pearson test for that
alternative) on the *true* intents of the tickets, its threshold set by simulation at the same
5 % false-alarm budget. The router sees predicted intents and splits the budget over several
detectors, so this is an upper bound on what it can do. The model is trained once and cached in
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


def window_indices(data: dict, kind: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices into the production pool and into the new-intent tickets for one window."""
    prod_y = np.array([lab for _, lab in data["prod"]])
    none = np.array([], dtype=np.int64)
    if kind == "known":
        return rng.choice(len(prod_y), size, replace=False), none
    if kind == "new10":
        idx = rng.choice(len(prod_y), size - size // 10, replace=False)
        return idx, rng.choice(len(data["novel"]), size // 10, replace=False)
    # one intent's share triples
    intents = sorted(set(prod_y))
    boosted = intents[int(rng.integers(len(intents)))]
    w = np.where(prod_y == boosted, 3.0, 1.0)
    return rng.choice(len(prod_y), size, replace=False, p=w / w.sum()), none


def windows(data: dict, kind: str, n: int, size: int, rng: np.random.Generator) -> list[list[str]]:
    out = []
    for _ in range(n):
        idx, nov = window_indices(data, kind, size, rng)
        out.append([data["prod"][i][0] for i in idx] + [data["novel"][i][0] for i in nov])
    return out


def best_possible_tripled(data: dict, size: int, rng: np.random.Generator, alpha: float = 0.05) -> float:
    """Detection rate of the likelihood-ratio test for "one intent tripled" on true intents, at ``alpha``."""
    labels = [lab for _, lab in data["prod"]]
    intents = sorted(set(labels))
    y = np.array([intents.index(lab) for lab in labels])
    q = np.bincount(y, minlength=len(intents)) / len(y)
    q3 = 3 * q / (1 + 2 * q)

    def statistic(kind: str) -> float:
        c = np.bincount(y[window_indices(data, kind, size, rng)[0]], minlength=len(intents))
        llr = c * np.log(q3 / q) + (size - c) * np.log((1 - q3) / (1 - q))
        top = llr.max()
        return float(top + np.log(np.exp(llr - top).mean()))  # log of the mean likelihood ratio

    null = [statistic("known") for _ in range(2000)]
    threshold = float(np.quantile(null, 1 - alpha))
    return float(np.mean([statistic("tripled") > threshold for _ in range(1000)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=60, help="windows per condition (at least 50)")
    parser.add_argument("--backends", default="scipy,alibi", help="comma-separated: scipy, alibi")
    parser.add_argument("--window", type=int, default=WINDOW, help="tickets per window (default 500)")
    args = parser.parse_args()
    data = load_protocol()
    model = data["model"]
    rng = np.random.default_rng(0)
    sets = {kind: windows(data, kind, args.windows, args.window, rng) for kind in ("known", "new10", "tripled")}
    features = {kind: [reference_arrays(model, w) for w in ws] for kind, ws in sets.items()}
    print(
        f"reference: {len(data['holdout_texts'])} held-out tickets; windows of {args.window}; "
        f"{args.windows} windows per condition; new intents: {', '.join(data['new_intents'])}"
    )
    print(
        "best possible on tripled windows (likelihood-ratio test on the true intents, 5 % false alarms): "
        f"{best_possible_tripled(data, args.window, np.random.default_rng(1)):.1%}"
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
            f"  time per check ({args.window} tickets: features + all detectors): "
            f"median {statistics.median(times):.3f} s, max {max(times):.3f} s"
        )


if __name__ == "__main__":
    main()
