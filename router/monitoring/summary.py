"""What stored decisions say: intent mix over time, confidence histogram, review and novelty rates,
clusters of recent novel tickets as candidate new intents, and the intent counts of the last hour
against the same clock hour of the previous days (for the hourly surge test)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import and_, func, select

from ..db import Decision, Ticket

BINS = 20


def _decisions(ctx: Any, since: datetime, limit: int = 50_000) -> list[Any]:
    with ctx.db.session() as s:
        return list(
            s.execute(
                select(
                    Decision.id,
                    Decision.decided_at,
                    Decision.intent,
                    Decision.confidence,
                    Decision.needs_review,
                    Decision.review_reasons,
                    Decision.novelty,
                    Decision.model_version,
                )
                .where(Decision.decided_at >= since)
                .order_by(Decision.id.desc())
                .limit(limit)
            ).all()
        )


def summary(ctx: Any, days: int = 14, bucket: str = "day", top: int = 10) -> dict[str, Any]:
    """Intent mix per day (or hour), confidence histogram, review rate and novelty rate."""
    now = datetime.now(UTC)
    rows = _decisions(ctx, now - timedelta(days=days))
    fmt = "%Y-%m-%dT%H:00" if bucket == "hour" else "%Y-%m-%d"
    totals = Counter(r.intent for r in rows)
    leaders = [i for i, _ in totals.most_common(top)]
    mix: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        mix[r.decided_at.strftime(fmt)][r.intent if r.intent in leaders else "other"] += 1
    n = len(rows)
    conf = np.array([r.confidence for r in rows], dtype=float)
    hist, edges = np.histogram(conf, bins=BINS, range=(0.0, 1.0))
    reasons = Counter(reason for r in rows for reason in (r.review_reasons or []))
    return {
        "since": now - timedelta(days=days),
        "decisions": n,
        "intent_mix": [{"bucket": b, "counts": dict(c), "total": sum(c.values())} for b, c in sorted(mix.items())],
        "top_intents": leaders,
        "confidence_histogram": {"edges": [round(float(e), 3) for e in edges], "counts": hist.tolist()},
        "mean_confidence": round(float(conf.mean()), 4) if n else None,
        "review_rate": round(sum(bool(r.needs_review) for r in rows) / n, 4) if n else None,
        "novelty_rate": round(reasons.get("novel", 0) / n, 4) if n else None,
        "review_reasons": dict(reasons),
        "by_model_version": dict(Counter(r.model_version for r in rows)),
    }


def hour_counts(ctx: Any, days: int = 7, now: datetime | None = None) -> dict[str, Any]:
    """Decisions per intent in the last hour and in the same clock hour of each of the previous ``days`` days."""
    now = now or datetime.now(UTC)
    hour = timedelta(hours=1)
    spans = [(now - timedelta(days=d) - hour, now - timedelta(days=d)) for d in range(days + 1)]
    out: dict[str, Any] = {"last": Counter(), "history": Counter(), "days": days, "end": now}
    with ctx.db.session() as s:
        for i, (start, end) in enumerate(spans):
            rows = s.execute(
                select(Decision.intent, func.count())
                .where(and_(Decision.decided_at >= start, Decision.decided_at < end))
                .group_by(Decision.intent)
            ).all()
            out["last" if i == 0 else "history"].update({intent: int(c) for intent, c in rows})
    return out


def novel_clusters(
    ctx: Any, days: int = 7, limit: int = 2000, max_clusters: int = 8, examples: int = 5
) -> dict[str, Any]:
    """Recent tickets flagged ``novel``, grouped (TF-IDF + k-means) with their top terms and examples."""
    since = datetime.now(UTC) - timedelta(days=days)
    with ctx.db.session() as s:
        rows = s.execute(
            select(
                Decision.id,
                Decision.review_reasons,
                Decision.intent,
                Decision.novelty,
                Ticket.text,
                Ticket.source,
                Ticket.external_id,
            )
            .join(Ticket, Ticket.id == Decision.ticket_id)
            .where(Decision.decided_at >= since, Decision.needs_review.is_(True))
            .order_by(Decision.id.desc())
            .limit(limit * 4)
        ).all()
    novel = [r for r in rows if "novel" in (r.review_reasons or [])][:limit]
    out: dict[str, Any] = {"since": since, "novel_tickets": len(novel), "clusters": []}
    if len(novel) < 2:
        if novel:
            out["clusters"] = [_cluster([novel[0]], ["—"], examples)]
        return out
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [r.text for r in novel]
    vec = TfidfVectorizer(ngram_range=(1, 2), stop_words="english", min_df=1, sublinear_tf=True)
    try:
        X = vec.fit_transform(texts)
    except ValueError:  # only stop words
        return {**out, "clusters": [_cluster(novel, [], examples)]}
    k = int(max(1, min(max_clusters, round(np.sqrt(len(texts) / 2)))))
    km = KMeans(n_clusters=k, n_init=5, random_state=0).fit(X)
    terms = np.asarray(vec.get_feature_names_out())
    clusters = []
    for c in range(k):
        members = [novel[i] for i in np.flatnonzero(km.labels_ == c)]
        if not members:
            continue
        top_terms = terms[np.argsort(-km.cluster_centers_[c])[:6]].tolist()
        clusters.append(_cluster(members, top_terms, examples))
    out["clusters"] = sorted(clusters, key=lambda c: -c["size"])
    return out


def _cluster(members: list[Any], top_terms: list[str], examples: int) -> dict[str, Any]:
    return {
        "size": len(members),
        "top_terms": top_terms,
        "predicted_intents": dict(Counter(m.intent for m in members).most_common(3)),
        "mean_novelty": round(float(np.mean([m.novelty or 0.0 for m in members])), 4),
        "examples": [
            {"source": m.source, "ticket_id": m.external_id, "text": m.text[:300]} for m in members[:examples]
        ],
    }
