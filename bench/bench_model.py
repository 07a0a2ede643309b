"""Benchmark the intent model on BANKING77: training time, quality, per-ticket latency, memory.

Run: ``.venv/bin/python bench/bench_model.py``.  Prints figures only (no assertions).

* training: ``train_model`` on the full train.csv (it holds out 10 % for metrics; thresholds come
  from the out-of-fold predictions of the other 90 %, see ``bench/bench_thresholds.py``);
* quality: accuracy / macro-F1 / ECE / coverage on the real test.csv;
* latency: ``RouterModel.predict`` (fast path: classify + explanation + routing decision) on every
  test text one at a time, versus scikit-learn's ``predict_proba([text])`` for one text;
* memory: VmRSS of a *fresh* Python process before and after ``joblib.load`` of the artefact.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router.ml.data import load_training_csv  # noqa: E402
from router.ml.evaluate import evaluate  # noqa: E402
from router.ml.train import train_model  # noqa: E402

DATA = ROOT / "fixtures" / "banking77"

_RSS_SCRIPT = """
import sys

def rss_mb():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
before = rss_mb()
import joblib, numpy, scipy, sklearn
import router.ml.model
imported = rss_mb()
model = joblib.load(sys.argv[1])
model.predict('my card was stolen')
print(before, imported, rss_mb())
"""


def _percentiles(samples_s: list[float]) -> tuple[float, float, float]:
    ms = np.asarray(samples_s) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms.mean())


def main() -> None:
    train = load_training_csv(DATA / "train.csv")
    test = load_training_csv(DATA / "test.csv")
    print(f"BANKING77: {train.n_rows} train rows, {test.n_rows} test rows, {len(train.label_counts)} intents")

    start = time.perf_counter()
    result = train_model(train.texts, train.labels)
    print(f"training (train_model, {len(result.holdout_texts)} rows held out): {time.perf_counter() - start:.1f} s")
    model = result.model
    print(f"  calibration temperature: {model.classifier.temperature_:.4f}")
    print(f"  features: {model.classifier.fast_coef_.shape[0]}, default threshold {model.default_threshold:.3f}")
    hold = result.metrics
    print(
        f"  hold-out ({hold['n']}): accuracy {hold['accuracy']:.4f}, ECE {hold['ece']:.4f}, "
        f"auto-routed {hold['auto_routed_share']:.3f} at accuracy {hold['auto_routed_accuracy']:.4f}"
    )

    proba = model.predict_proba(test.texts)
    m = evaluate(
        test.labels, proba, model.classes, thresholds=model.thresholds, default_threshold=model.default_threshold
    )
    cov = m["coverage_at_precision"]
    print(f"test set ({m['n']} tickets):")
    print(f"  accuracy {m['accuracy']:.4f}   macro-F1 {m['macro_f1']:.4f}   ECE(15 bins) {m['ece']:.4f}")
    print(f"  coverage at precision 0.95/0.97/0.99: {cov['0.95']:.4f} / {cov['0.97']:.4f} / {cov['0.99']:.4f}")
    print(
        f"  per-intent thresholds: auto-routed {m['auto_routed_share']:.4f} at accuracy {m['auto_routed_accuracy']:.4f}"
    )
    preds = model.predict_batch(test.texts, explain=False)
    auto = [p.intent == y for p, y in zip(preds, test.labels, strict=True) if not p.needs_review]
    print(f"  with the ambiguity rule too: auto-routed {len(auto) / len(preds):.4f} at accuracy {np.mean(auto):.4f}")

    for text in test.texts[:200]:  # warm-up
        model.predict(text)
    times: list[float] = []
    for text in test.texts:
        t0 = time.perf_counter()
        model.predict(text)
        times.append(time.perf_counter() - t0)
    p50, p99, mean = _percentiles(times)
    print(
        f"RouterModel.predict (one ticket, incl. explanation): p50 {p50:.3f} ms  p99 {p99:.3f} ms  mean {mean:.3f} ms"
    )

    clf = model.classifier
    times = []
    for text in test.texts[:1000]:
        t0 = time.perf_counter()
        clf.predict_proba_one(text)
        times.append(time.perf_counter() - t0)
    p50, p99, _ = _percentiles(times)
    print(f"IntentClassifier.predict_proba_one (no explanation): p50 {p50:.3f} ms  p99 {p99:.3f} ms")

    times = []
    for text in test.texts[:500]:
        t0 = time.perf_counter()
        clf.predict_proba([text])
        times.append(time.perf_counter() - t0)
    p50, p99, _ = _percentiles(times)
    print(f"scikit-learn path predict_proba([text]) for comparison: p50 {p50:.3f} ms  p99 {p99:.3f} ms")

    t0 = time.perf_counter()
    model.predict_batch(test.texts, explain=False)
    print(f"predict_batch of {len(test.texts)} (no explanations): {(time.perf_counter() - t0) * 1e3:.0f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "router.joblib"
        joblib.dump(model, path)
        size_mb = path.stat().st_size / 1e6
        out = subprocess.run(
            [sys.executable, "-c", _RSS_SCRIPT, str(path)], capture_output=True, text=True, check=True, cwd=ROOT
        )
        before, imported, loaded = (float(v) for v in out.stdout.split())
    print(
        f"memory (fresh process, VmRSS): interpreter {before:.0f} MB, after imports {imported:.0f} MB, "
        f"after joblib.load + 1 predict {loaded:.0f} MB (model adds {loaded - imported:.0f} MB); "
        f"artefact file {size_mb:.1f} MB"
    )


if __name__ == "__main__":
    main()
