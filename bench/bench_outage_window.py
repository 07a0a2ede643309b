"""The outage-burst plugin's count of each intent's recent tickets, with its window full.

A served worker refreshes ``count_recent`` for every intent it sees every ``cache_seconds`` (2 s).
This fills a fresh SQLite database with ``BENCH_RATE`` (700) tickets a second for the plugin's whole
10-minute window, spread over the 77 BANKING77 intents, then times refresh rounds of all 77 counts,
with 2 s of new tickets stored between rounds: once counting the whole window every time
(``recount_seconds: 0``), once counting only its edges (the default; a whole count every 60 s).
Prints the thread CPU of a round and its share of one core at one round per 2 s, per worker.
"""

from __future__ import annotations

import csv
import os
import shutil
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from _common import OUT, ROOT
from sqlalchemy import insert

from router.db import Database, Decision, Ticket, upgrade
from router.plugins import PluginHost

RATE = int(os.environ.get("BENCH_RATE", "700"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "10"))
WINDOW_S = 600
REFRESH_S = 2.0


def store(db: Database, intents: list[str], start: int, n: int, newest: datetime, span_s: float) -> None:
    """``n`` tickets with one decision each, ids from ``start``, decided evenly over ``span_s`` up to ``newest``."""
    tickets, decisions = [], []
    for i in range(n):
        at = newest - timedelta(seconds=span_s * (n - i) / n)
        tid = start + i
        tickets.append({"id": tid, "source": "generic", "external_id": f"t{tid}", "content_hash": "h"})
        decisions.append(
            {
                "ticket_id": tid,
                "revision": 1,
                "content_hash": "h",
                "intent": intents[tid % len(intents)],
                "confidence": 0.9,
                "queue": "q",
                "priority": "normal",
                "model_version": "v",
                "ruleset_version": "r",
                "decided_at": at,
            }
        )
    with db.engine.begin() as conn:
        conn.execute(insert(Ticket), tickets)
        conn.execute(insert(Decision), decisions)


def host_for(db: Database, home: Path, recount_s: float) -> tuple[PluginHost, Any]:
    cfg = home / f"plugins-{recount_s:g}.yaml"
    cfg.write_text(yaml.safe_dump({"outage_burst": {"recount_seconds": recount_s}}))
    host = PluginHost([ROOT / "plugins"], entry_points=False)
    host.configure(cfg, None, db)
    [count] = [
        g["count_recent"] for g in host.call_each("router_rule_functions", settings=None, db=db) if "count_recent" in g
    ]
    return host, count


def main() -> None:
    home = OUT / "outage_window"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    url = f"sqlite:///{home / 'router.db'}"
    upgrade(url)
    db = Database(url)
    with (ROOT / "fixtures/banking77/train.csv").open() as fh:
        intents = sorted({r["category"] for r in csv.DictReader(fh)})
    filled = RATE * WINDOW_S
    started = time.monotonic()
    for chunk in range(0, filled, 50_000):
        n = min(50_000, filled - chunk)
        newest = datetime.now(UTC) - timedelta(seconds=WINDOW_S * (filled - chunk - n) / filled)
        store(db, intents, chunk + 1, n, newest, WINDOW_S * n / filled)
    print(
        f"{filled:,} tickets over {WINDOW_S} s ({RATE}/s, {len(intents)} intents) in {time.monotonic() - started:.0f} s"
    )
    next_id = filled + 1
    for label, recount_s in (("whole window each refresh", 0.0), ("edges, whole every 60 s", 60.0)):
        _, count = host_for(db, home, recount_s)
        for intent in intents:  # the first refresh counts the whole window either way
            count(intent, 10)
        per_round = []
        for _ in range(ROUNDS):
            per_batch = int(RATE * REFRESH_S)
            store(db, intents, next_id, per_batch, datetime.now(UTC), REFRESH_S)
            next_id += per_batch
            time.sleep(REFRESH_S)  # the cache holds each count this long
            t0 = time.thread_time()
            for intent in intents:
                count(intent, 10)
            per_round.append(time.thread_time() - t0)
        ms = statistics.median(per_round) * 1000
        share = ms / 1000 / REFRESH_S * 100
        print(f"  {label:<28} {ms:7.2f} ms a round of {len(intents)} counts  ({share:.2f} % of a core per worker)")
    db.dispose()


if __name__ == "__main__":
    main()
