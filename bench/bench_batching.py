"""What batching concurrent tickets could save, against one ticket at a time (thread CPU per ticket).

The two batching levers a served worker could pull when several tickets arrive together:

- the model: the classifier over ``BENCH_BATCH`` texts in one vectorised call, against its one-text
  fast path (probabilities alone, and with the explanation every decision carries), and the fast
  path on a one-word text: its fixed cost per call, the most a batched fast path could share;
- group commit: ``BENCH_BATCH`` tickets' writes (ticket, decision, review item, outbox row) in one
  transaction, against one transaction each; once with a savepoint per ticket (so one ticket's
  failure leaves the others' writes standing, as separate requests need), once without.

Prints the median of ``BENCH_ROUNDS`` (5) rounds and each round, in microseconds per ticket. The
writes go to a copy of the benchmark home (``bench/out/batching``), replaced on every run.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import os
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from _common import OUT, ROOT, ensure_home

from router.config import load_settings
from router.context import build_context
from router.services import intake
from router.services.decide import decide

BATCH = int(os.environ.get("BENCH_BATCH", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
WRITES = 2000


def per_ticket_us(run: Callable[[], None], n: int) -> float:
    start = time.thread_time()
    run()
    return (time.thread_time() - start) / n * 1e6


def report(kind: str, results: dict[str, list[float]]) -> None:
    for name, values in results.items():
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"{kind} {name:<38} {statistics.median(values):7.1f} us/ticket  (rounds {rounds})")


def main() -> None:
    home = OUT / "batching"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(ensure_home(), home)
    ctx = build_context(load_settings({**os.environ, "ROUTER_HOME": str(home), "ROUTER_DELIVERY": "off"}))
    with (ROOT / "fixtures/banking77/test.csv").open() as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    model = ctx.runtime.current().model
    clf = model.classifier
    gc.freeze()
    for text in texts[:300]:
        model.predict(text)

    def batched() -> None:
        for i in range(0, len(texts), BATCH):
            clf.predict_proba(texts[i : i + BATCH])

    runs: dict[str, Callable[[], None]] = {
        "one text, with explanation": lambda: [model.predict(t) for t in texts] and None,
        "one text, probabilities": lambda: [clf.predict_proba_one(t) for t in texts] and None,
        "one word, probabilities (fixed cost)": lambda: [clf.predict_proba_one("card") for _ in texts] and None,
        f"{BATCH} texts a call, probabilities": batched,
    }
    found: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, run in runs.items():
            found[name].append(per_ticket_us(run, len(texts)))
    report("model", found)

    serial = [0]

    def fresh() -> list[tuple[dict[str, Any], dict[str, Any]]]:
        serial[0] += 1
        tickets = [
            intake._normalised("generic", {"id": f"b{serial[0]}-{i}", "body": texts[i % len(texts)]})
            for i in range(WRITES)
        ]
        return [(t, decide(ctx, t)) for t in tickets]

    def one_each(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        for t, d in pairs:
            intake._store(ctx, t, d)

    def grouped(savepoints: bool) -> Callable[[list[tuple[dict[str, Any], dict[str, Any]]]], None]:
        def run(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
            own = ctx.db.write
            for i in range(0, len(pairs), BATCH):
                with own() as conn:

                    @contextlib.contextmanager
                    def shared() -> Iterator[Any]:
                        with conn.begin_nested() if savepoints else contextlib.nullcontext():
                            yield conn

                    ctx.db.write = shared  # type: ignore[method-assign]
                    try:
                        for t, d in pairs[i : i + BATCH]:
                            intake._store(ctx, t, d)
                    finally:
                        ctx.db.write = own  # type: ignore[method-assign]

        return run

    writes = {
        "one transaction a ticket": one_each,
        f"{BATCH} a transaction, savepoint each": grouped(True),
        f"{BATCH} a transaction, no savepoints": grouped(False),
    }
    found = {name: [] for name in writes}
    for _ in range(ROUNDS):
        for name, write in writes.items():
            pairs = fresh()
            found[name].append(per_ticket_us(lambda w=write, p=pairs: w(p), WRITES))
    report("store", found)


if __name__ == "__main__":
    main()
