"""Drift checks as a service: windows from stored decisions or a CSV, references, stored results.

A check recomputes the window's features with the model version being checked (probabilities,
embedding, unseen-token share, novelty) from the ticket texts, so a scheduled check over stored
decisions and ``router drift check --data WINDOW.csv`` are the same computation. The reference is
the held-out sample kept with the version (``reference.npz``), or the production window pinned for
it (newest active ``drift_references`` row).
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from typing import Any

import numpy as np
from sqlalchemy import select, update

from ..db import Decision, Ticket
from ..db.monitoring import DriftCheck, DriftReference
from ..errors import NotFound, ValidationError
from ..ml.novelty import reference_arrays
from ..registry import versions
from . import effects, surge
from .drift import DriftSuite
from .summary import hour_counts

log = logging.getLogger(__name__)
_SUITES: dict[tuple[Any, ...], DriftSuite] = {}
_LOCK = threading.Lock()


def model_for(ctx: Any, version: str | None) -> tuple[str, Any]:
    """The model ``version`` (default: the active one), loaded through the registry's checks."""
    active = versions.active_version(ctx.db)
    version = version or active
    if version is None:
        raise NotFound("no active model; train one with `router train --activate` or pass --model")
    try:
        loaded = ctx.runtime.current()
        if loaded.version == version:
            return version, loaded.model
    except Exception:
        pass
    return version, ctx.store.load(version)


def _pack(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})
    return buf.getvalue()


def _unpack(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def reference_for(ctx: Any, version: str) -> tuple[str, dict[str, np.ndarray]]:
    """``(name, arrays)``: the pinned production window for ``version`` if any, else its held-out sample."""
    with ctx.db.session() as s:
        row = s.scalars(
            select(DriftReference)
            .where(DriftReference.model_version == version, DriftReference.active.is_(True))
            .order_by(DriftReference.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            if hashlib.sha256(row.arrays).hexdigest() != row.sha256:
                raise ValidationError(f"pinned reference {row.id} does not match its checksum")
            return f"pinned:{row.id}", _unpack(row.arrays)
    return "holdout", ctx.store.reference(version)


def _suite(ctx: Any, version: str, ref_name: str, reference: dict[str, np.ndarray], model: Any) -> DriftSuite:
    routing, minimums = effects.Routing.of(model), effects.Minimums.from_settings(ctx.settings)
    rules = (routing.thresholds.tobytes(), routing.ambiguity_margin, routing.novel_review)  # a threshold revision
    key = (version, ref_name, ctx.settings.drift_backend, ctx.settings.drift_alpha, minimums, rules)
    with _LOCK:
        suite = _SUITES.get(key)
        if suite is None:
            suite = DriftSuite(
                reference,
                backend=ctx.settings.drift_backend,
                alpha=ctx.settings.drift_alpha,
                n_classes=len(model.classes),
                novelty_threshold=model.novelty_threshold,
                routing=routing,
                minimums=minimums,
                classes=model.classes,
            )
            _SUITES.clear() if len(_SUITES) > 8 else None
            _SUITES[key] = suite
    return suite


def recent_window(ctx: Any, version: str, size: int) -> dict[str, Any]:
    """The last ``size`` decisions of ``version`` with their ticket texts."""
    with ctx.db.session() as s:
        rows = s.execute(
            select(Decision.id, Decision.decided_at, Ticket.text)
            .join(Ticket, Ticket.id == Decision.ticket_id)
            .where(Decision.model_version == version)
            .order_by(Decision.id.desc())
            .limit(size)
        ).all()
    rows = rows[::-1]
    return {
        "texts": [r.text for r in rows],
        "first_decision_id": rows[0].id if rows else None,
        "last_decision_id": rows[-1].id if rows else None,
        "window_start": rows[0].decided_at if rows else None,
        "window_end": rows[-1].decided_at if rows else None,
    }


def check(
    ctx: Any,
    texts: list[str] | None = None,
    *,
    version: str | None = None,
    source: str = "decisions",
    store: bool = True,
) -> dict[str, Any]:
    """Run every detector on ``texts`` (default: the last ``drift_window`` decisions) and store the result."""
    version, model = model_for(ctx, version)
    if getattr(model, "novelty_detector", None) is None:
        raise ValidationError(f"model {version} predates drift monitoring (no embedding); retrain it")
    window: dict[str, Any] = {"texts": texts}
    hour: dict[str, Any] | None = None
    if texts is None:
        window = recent_window(ctx, version, ctx.settings.drift_window)
        hour = hourly_surge(ctx)  # scheduled checks of stored decisions also test the last hour
    texts = [t for t in window["texts"] if t and t.strip()]
    if len(texts) < max(2, ctx.settings.drift_min_window if source == "decisions" else 2):
        return {
            "is_drift": None,  # a check that did not run says nothing about drift
            "skipped": f"only {len(texts)} tickets in the window (need {ctx.settings.drift_min_window})",
            "model_version": version,
            "window_size": len(texts),
            **({"surge": hour} if hour is not None else {}),
        }
    ref_name, reference = reference_for(ctx, version)
    suite = _suite(ctx, version, ref_name, reference, model)
    features = reference_arrays(model, texts)
    result = suite.check(features)
    if hour is not None:  # its own test at alpha on its own window: not part of the detectors' split
        result["detectors"][surge.NAME] = hour
        result["severity"] = effects.worst([result["severity"], hour["data"]["severity"]])
        result["is_drift"] = result["severity"] in effects.ALERTING
    out = {
        "model_version": version,
        "reference": ref_name,
        "source": source,
        **result,
        "window": {k: window.get(k) for k in ("first_decision_id", "last_decision_id", "window_start", "window_end")},
    }
    if store:
        with ctx.db.session() as s:
            row = DriftCheck(
                model_version=version,
                reference=ref_name,
                source=source[:255],
                window_start=window.get("window_start"),
                window_end=window.get("window_end"),
                first_decision_id=window.get("first_decision_id"),
                last_decision_id=window.get("last_decision_id"),
                window_size=len(texts),
                reference_size=result["sizes"]["reference"],
                backend=result["backend"],
                is_drift=result["is_drift"],
                detectors=result["detectors"],
                seconds=result["seconds"],
            )
            s.add(row)
            s.flush()
            out["id"] = row.id
            out["at"] = row.at
    return out


def hourly_surge(ctx: Any) -> dict[str, Any]:
    """The hourly surge test on the last hour of stored decisions (see :mod:`router.monitoring.surge`)."""
    counts = hour_counts(ctx, days=ctx.settings.drift_surge_days)
    return surge.hourly(
        counts["last"],
        counts["history"],
        days=counts["days"],
        alpha=ctx.settings.drift_alpha,
        minimums=effects.Minimums.from_settings(ctx.settings),
        backend=ctx.settings.drift_backend,
    )


def history(ctx: Any, limit: int = 100, version: str | None = None) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        stmt = select(DriftCheck).order_by(DriftCheck.id.desc()).limit(limit)
        if version:
            stmt = stmt.where(DriftCheck.model_version == version)
        return [
            {
                "id": r.id,
                "at": r.at,
                "model_version": r.model_version,
                "reference": r.reference,
                "source": r.source,
                "window_start": r.window_start,
                "window_end": r.window_end,
                "first_decision_id": r.first_decision_id,
                "last_decision_id": r.last_decision_id,
                "window_size": r.window_size,
                "reference_size": r.reference_size,
                "backend": r.backend,
                "is_drift": r.is_drift,
                "severity": effects.stored_severity(r.detectors or {}, r.is_drift),
                "estimate": effects.stored_estimate(r.detectors or {}),
                "seconds": r.seconds,
                "detectors": r.detectors,
            }
            for r in s.scalars(stmt)
        ]


def pin_reference(
    ctx: Any,
    *,
    actor: str,
    reason: str = "",
    texts: list[str] | None = None,
    version: str | None = None,
    last: int | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Make a production window (``texts``, or the last ``last`` decisions) the reference of ``version``."""
    version, model = model_for(ctx, version)
    if texts is None:
        texts = recent_window(ctx, version, last or ctx.settings.drift_window)["texts"]
        source = source or f"decisions:last {len(texts)}"
    texts = [t for t in texts if t and t.strip()]
    if len(texts) < ctx.settings.drift_min_window:
        raise ValidationError(
            f"a reference needs at least {ctx.settings.drift_min_window} tickets, got {len(texts)}",
            errors={"rows": [f"at least {ctx.settings.drift_min_window}"]},
        )
    blob = _pack(reference_arrays(model, texts))
    with ctx.db.session() as s:
        s.execute(update(DriftReference).where(DriftReference.model_version == version).values(active=False))
        row = DriftReference(
            model_version=version,
            actor=actor,
            reason=reason,
            source=(source or "texts")[:255],
            rows=len(texts),
            arrays=blob,
            sha256=hashlib.sha256(blob).hexdigest(),
            active=True,
        )
        s.add(row)
        s.flush()
        return {
            "id": row.id,
            "model_version": version,
            "rows": len(texts),
            "source": row.source,
            "reference": f"pinned:{row.id}",
        }


def unpin_reference(ctx: Any, *, version: str | None = None) -> dict[str, Any]:
    """Back to the held-out sample kept with the version."""
    version, _ = model_for(ctx, version)
    with ctx.db.session() as s:
        done = s.execute(
            update(DriftReference)
            .where(DriftReference.model_version == version, DriftReference.active.is_(True))
            .values(active=False)
        )
        return {"model_version": version, "unpinned": done.rowcount, "reference": "holdout"}


def reference_info(ctx: Any, version: str | None = None) -> dict[str, Any]:
    version, _ = model_for(ctx, version)
    name, arrays = reference_for(ctx, version)
    info: dict[str, Any] = {
        "model_version": version,
        "reference": name,
        "rows": len(arrays["confidence"]),
        "mean_confidence": float(arrays["confidence"].mean()),
    }
    with ctx.db.session() as s:
        pinned = s.scalars(
            select(DriftReference)
            .where(DriftReference.model_version == version)
            .order_by(DriftReference.id.desc())
            .limit(20)
        )
        info["pinned"] = [
            {
                "id": r.id,
                "created_at": r.created_at,
                "actor": r.actor,
                "reason": r.reason,
                "source": r.source,
                "rows": r.rows,
                "active": r.active,
            }
            for r in pinned
        ]
    return info
