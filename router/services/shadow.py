"""Shadow scoring: the shadow version scores every ticket too, off the request's critical path.

A single background thread per worker takes the work from a bounded queue; when the queue is full
the shadow score is dropped (and counted), never the ticket.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from ..db.lifecycle import ShadowResult
from ..monitoring import metrics

log = logging.getLogger(__name__)
_QUEUE: queue.Queue[tuple[Any, dict[str, Any], dict[str, Any]]] = queue.Queue(maxsize=1000)
_STARTED = threading.Event()
_LOCK = threading.Lock()


def submit(ctx: Any, ticket: dict[str, Any], decision: dict[str, Any], decision_id: int | None) -> None:
    """Queue the shadow version's opinion on a committed decision (returns at once)."""
    shadow = ctx.runtime.serving().shadow
    if shadow is None or shadow.version == decision["model_version"]:
        return
    _ensure_worker()
    try:
        _QUEUE.put_nowait((ctx, {"text": ticket["text"], "shadow": shadow}, {**decision, "decision_id": decision_id}))
    except queue.Full:
        metrics.SHADOW_DROPPED.inc()


def _ensure_worker() -> None:
    if _STARTED.is_set():
        return
    with _LOCK:
        if not _STARTED.is_set():
            threading.Thread(target=_work, name="router-shadow", daemon=True).start()
            _STARTED.set()


def _work() -> None:
    while True:
        ctx, item, decision = _QUEUE.get()
        try:
            score(ctx, item["shadow"], item["text"], decision)
        except Exception:
            log.exception("shadow scoring failed")
        finally:
            _QUEUE.task_done()


def score(ctx: Any, shadow: Any, text: str, decision: dict[str, Any]) -> None:
    start = time.perf_counter()
    prediction = shadow.model.predict(text)
    ms = (time.perf_counter() - start) * 1000
    with ctx.db.session() as s:
        s.add(
            ShadowResult(
                version=shadow.version,
                active_version=decision["model_version"],
                decision_id=decision.get("decision_id"),
                intent=prediction.intent,
                active_intent=decision["intent"],
                confidence=prediction.confidence,
                needs_review=prediction.needs_review,
                agrees=prediction.intent == decision["intent"],
                ms=ms,
            )
        )


def drain(timeout: float = 10.0) -> None:
    """Wait until queued shadow scores are stored (tests and shutdown)."""
    deadline = time.monotonic() + timeout
    while _QUEUE.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.01)
