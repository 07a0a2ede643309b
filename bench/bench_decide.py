"""In-process single-ticket decide (classify + explanation + routing), one ticket at a time.

Prints p50/p99 over every BANKING77 test text. Target p50 <= 0.5 ms.
"""

from __future__ import annotations

import csv
import os
import time

from _common import ROOT, ensure_home, summary_ms

from router.config import load_settings
from router.context import build_context
from router.services.decide import decide


def main() -> None:
    home = ensure_home()
    ctx = build_context(load_settings({**os.environ, "ROUTER_HOME": str(home)}))
    with (ROOT / "fixtures/banking77/test.csv").open() as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    for text in texts[:200]:
        decide(ctx, {"text": text})
    timings = []
    for text in texts:
        start = time.perf_counter()
        decide(ctx, {"text": text})
        timings.append(time.perf_counter() - start)
    model = ctx.runtime.current()
    print(f"decide (classify + explanation + routing), model {model.version}")
    print(f"  {summary_ms(timings)}")
    timings = []
    for text in texts:
        start = time.perf_counter()
        model.model.predict(text)
        timings.append(time.perf_counter() - start)
    print(f"classify + explanation only: {summary_ms(timings)}")


if __name__ == "__main__":
    main()
