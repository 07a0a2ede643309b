"""Queue figures: backlog by reason, waiting time, override rates, reviewer agreement.

Override rate is per label: the share of labels whose intent differs from the model's, grouped
by the intent the model predicted and by the model version that decided. Agreement is over items
with two or more labels: the share of reviewer pairs that chose the same intent.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime
from itertools import combinations
from typing import Any

from sqlalchemy import Integer, case, func, select

from ..context import Context
from ..db.review import ReviewItem, ReviewItemReason, ReviewLabel
from .queue import utcnow


def _rates(rows: Any) -> dict[str, dict[str, Any]]:
    return {
        key: {"labels": n, "overridden": int(k or 0), "rate": round((k or 0) / n, 4) if n else 0.0}
        for key, n, k in rows
    }


def counts(ctx: Context, now: datetime | None = None) -> dict[str, int]:
    """Open, claimed (open with a live claim) and resolved items: the figures the review page keeps current."""
    now = now or utcnow()
    live_claim = case((ReviewItem.claim_expires_at >= now, 1), else_=0)
    with ctx.db.session() as s:
        rows = s.execute(
            select(ReviewItem.status, func.count(ReviewItem.id), func.sum(live_claim)).group_by(ReviewItem.status)
        ).all()
    by_status = {status: (int(n), int(c or 0)) for status, n, c in rows}
    return {
        "open": by_status.get("open", (0, 0))[0],
        "claimed": by_status.get("open", (0, 0))[1],
        "resolved": by_status.get("resolved", (0, 0))[0],
    }


def stats(ctx: Context, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    overridden = func.sum(case((ReviewLabel.overridden, 1), else_=0)).cast(Integer)
    with ctx.db.session() as s:
        by_status = dict(
            s.execute(select(ReviewItem.status, func.count(ReviewItem.id)).group_by(ReviewItem.status)).tuples().all()
        )
        backlog = dict(
            s.execute(
                select(ReviewItemReason.reason, func.count(ReviewItem.id))
                .join(ReviewItem, ReviewItem.id == ReviewItemReason.item_id)
                .where(ReviewItem.status == "open")
                .group_by(ReviewItemReason.reason)
            )
            .tuples()
            .all()
        )
        waiting_since = list(s.scalars(select(ReviewItem.enqueued_at).where(ReviewItem.status == "open")))
        claimed = s.scalar(
            select(func.count(ReviewItem.id)).where(ReviewItem.status == "open", ReviewItem.claim_expires_at >= now)
        )
        by_intent = _rates(
            s.execute(
                select(ReviewLabel.model_intent, func.count(ReviewLabel.id), overridden).group_by(
                    ReviewLabel.model_intent
                )
            )
        )
        by_model = _rates(
            s.execute(
                select(ReviewLabel.model_version, func.count(ReviewLabel.id), overridden).group_by(
                    ReviewLabel.model_version
                )
            )
        )
        totals = s.execute(select(func.count(ReviewLabel.id), overridden)).one()
        per_item: dict[int, list[str]] = defaultdict(list)
        multi = select(ReviewLabel.item_id).group_by(ReviewLabel.item_id).having(func.count(ReviewLabel.id) > 1)
        for item_id, intent in s.execute(
            select(ReviewLabel.item_id, ReviewLabel.intent).where(ReviewLabel.item_id.in_(multi))
        ):
            per_item[item_id].append(intent)
    waits = [(now - t).total_seconds() for t in waiting_since]
    pairs = [a == b for intents in per_item.values() for a, b in combinations(intents, 2)]
    n_labels, n_overridden = totals[0] or 0, totals[1] or 0
    return {
        "open": by_status.get("open", 0),
        "claimed": claimed or 0,
        "resolved": by_status.get("resolved", 0),
        "superseded": by_status.get("superseded", 0),
        "backlog_by_reason": dict(sorted(backlog.items())),
        "median_wait_s": round(statistics.median(waits), 3) if waits else None,
        "oldest_wait_s": round(max(waits), 3) if waits else None,
        "labels": n_labels,
        "override_rate": round(n_overridden / n_labels, 4) if n_labels else None,
        "override_by_intent": dict(sorted(by_intent.items())),
        "override_by_model_version": dict(sorted(by_model.items())),
        "agreement": {
            "items": len(per_item),
            "pairs": len(pairs),
            "agreeing": sum(pairs),
            "rate": round(sum(pairs) / len(pairs), 4) if pairs else None,
        },
    }
