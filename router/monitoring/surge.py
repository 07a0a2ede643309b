"""Intent surges on time windows: the last hour against the same clock hour of the previous days.

One intent taking more traffic is what an outage looks like (a card processor down, a payment rail
late). Ticket-count windows need ``ROUTER_DRIFT_WINDOW`` tickets, which a low-traffic helpdesk takes
a day to collect; an hour always ends, so every hour gets a verdict.

For each intent, its count ``k`` in the last hour (``n`` tickets) is compared with its count ``m`` in
the same clock hour of the previous ``days`` days (``M`` tickets): under "nothing changed" the
intent's tickets fall into the last hour in proportion to the volume, so ``k`` given ``k + m`` is
binomial with success rate ``n / (n + M)`` (the exact conditional test of two Poisson rates). The
expected count is the intent's share of those hours times this hour's volume: a busier hour for
every intent is volume, not a surge. One-sided (more tickets), Bonferroni over the intents seen,
at ``alpha``; the minimum material effect is the one of the ticket-window share test (a ratio of
at least ``ROUTER_DRIFT_MIN_SURGE_RATIO`` and ``ROUTER_DRIFT_MIN_SURGE_TICKETS`` more tickets than
expected). Both backends compute it with ``scipy.stats.binom`` (alibi-detect has no such test).
No Flask here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.stats import binom

from . import effects
from .detectors import VERSION, increases

NAME = "intent_surge_hour"
#: fewer tickets than this in the same hours of the previous days give no expected rate to test against
MIN_HISTORY = 20


def hourly(
    last: Mapping[str, int],
    history: Mapping[str, int],
    *,
    days: int,
    alpha: float = 0.05,
    minimums: effects.Minimums | None = None,
    backend: str = "scipy",
) -> dict[str, Any]:
    """A detector result (alibi-detect's shape, plus ``effect`` and ``severity``) for one hour."""
    minimums = minimums or effects.Minimums()
    names = sorted(set(last) | set(history))
    k = np.array([int(last.get(i, 0)) for i in names], dtype=np.int64)
    m = np.array([int(history.get(i, 0)) for i in names], dtype=np.int64)
    n, big_m = int(k.sum()), int(m.sum())
    data: dict[str, Any] = {
        "sizes": {"hour": n, "history": big_m, "days": days},
        "threshold": alpha,
        "n_features": len(names),
        "votes": True,
    }
    meta = {"name": NAME, "version": VERSION, "backend": backend, "statistic": "binomial"}
    if big_m < MIN_HISTORY or n == 0:
        data.update(is_drift=False, significant=False, p_val=1.0, distance=0.0, severity="ok", increases=[])
        data["effect"] = {"largest_increase": None, "material_intents": []}
        data["skipped"] = f"{n} tickets in the last hour, {big_m} in the same hour of the previous {days} days"
        return {"data": data, "meta": meta}
    p = np.asarray(binom.sf(k - 1, k + m, n / (n + big_m)), dtype=np.float64)
    expected = n * m / big_m
    p_adj = np.minimum(1.0, p * len(names))
    ratio = np.where(expected > 0, k / np.maximum(expected, 1e-12), 0.0)
    data.update(p_val=float(p_adj.min()), distance=float(ratio.max()))
    data["increases"] = increases(np.arange(len(names)), k, expected, p_adj)
    for s in data["increases"]:
        s["intent"] = names[s.pop("class")]
    effects.judge({NAME: {"data": data}}, None, minimums)
    return {"data": data, "meta": meta}
