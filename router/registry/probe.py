"""Load a model version in a separate, resource-limited process and exercise it.

``python -m router.registry.probe MODELS_DIR VERSION --smoke FILE [--holdout FILE]`` prints one
JSON object. An artefact that crashes, hangs or eats memory takes down this process, never a worker.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def _texts(path: str) -> list[str]:
    with Path(path).open(newline="", encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh)]


def probe(models_dir: str, version: str, smoke: str, holdout: str | None) -> dict[str, Any]:
    from ..ml.normalize import normalize_text
    from .store import ModelStore, library_versions

    out: dict[str, Any] = {"loaded": False, "libraries": library_versions()}
    model = ModelStore(Path(models_dir)).load(version)
    out["loaded"] = True
    out["classes"] = list(model.classes)
    timings, errors = [], []
    for text in _texts(smoke):
        start = time.perf_counter()
        try:
            prediction = model.predict(normalize_text(text) or text)
            if not 0.0 <= prediction.confidence <= 1.0 or prediction.intent not in out["classes"]:
                raise ValueError(f"implausible prediction {prediction.intent!r} {prediction.confidence!r}")
        except Exception as exc:
            errors.append(f"{text[:60]!r}: {type(exc).__name__}: {exc}")
        timings.append((time.perf_counter() - start) * 1000)
    ordered = sorted(timings)
    out["smoke"] = {
        "n": len(timings),
        "errors": errors[:20],
        "error_count": len(errors),
        "p50_ms": round(statistics.median(ordered), 3) if ordered else None,
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3) if ordered else None,
    }
    if holdout:
        out["holdout_predictions"] = [p.intent for p in model.predict_batch(_texts(holdout), explain=False)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models_dir")
    parser.add_argument("version")
    parser.add_argument("--smoke", required=True)
    parser.add_argument("--holdout")
    args = parser.parse_args(argv)
    try:
        result = probe(args.models_dir, args.version, args.smoke, args.holdout)
    except Exception as exc:
        print(
            json.dumps(
                {"loaded": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
            )
        )
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
