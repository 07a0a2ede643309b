"""In-process single-ticket decide (classify + explanation + routing), one ticket at a time.

Prints p50/p99 over every BANKING77 test text (target p50 <= 0.5 ms), then the same for each part
on its own: the model (classify + explanation), the routing rules, and the escalation plugins'
``router_adjust_decision`` hooks.
"""

from __future__ import annotations

import csv
import os
import time

from _common import ROOT, ensure_home, summary_ms

from router.config import load_settings
from router.context import build_context
from router.routing.engine import route
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
    tickets = [{"text": text} for text in texts]
    predictions = [model.model.predict(text).to_dict() for text in texts]
    ruleset = ctx.ruleset()
    timings = []
    for ticket, pred in zip(tickets, predictions, strict=True):
        start = time.perf_counter()
        route(ruleset, ticket, pred, ctx.rule_functions)
        timings.append(time.perf_counter() - start)
    print(f"routing rules only ({len(ruleset.rules)} rules, explanations included): {summary_ms(timings)}")
    decisions = [decide(ctx, ticket) for ticket in tickets]
    timings = []
    for ticket, pred, decision in zip(tickets, predictions, decisions, strict=True):
        start = time.perf_counter()
        ctx.plugins.call_each("router_adjust_decision", decision=decision, ticket=ticket, prediction=pred)
        timings.append(time.perf_counter() - start)
    print(f"plugins only (router_adjust_decision): {summary_ms(timings)}")


if __name__ == "__main__":
    main()
