"""The delivery worker: a thread in every service process that drains the outbox.

It wakes right after its own process commits a delivery (``wake()``), and polls every
``ROUTER_DELIVERY_POLL_S`` for rows other processes committed, retries that came due and leases
that expired. Each connector has a client-side rate limit and is paused after a 429 or 503 until
``Retry-After`` has passed, both shared by every process on the database (see ``budget``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from ..helpdesks.base import DeliveryFailed, Job
from ..monitoring import metrics
from . import outbox
from .budget import SharedBudget

log = logging.getLogger(__name__)


def mapping_for(ruleset: Any, connector: str) -> Mapping[str, Any]:
    groups = getattr(ruleset, "helpdesk_groups", None) or {}
    found: Mapping[str, Any] = groups.get(connector, {})
    return found


class DeliveryWorker:
    """Claims due deliveries and hands each to its connector; see the module docstring."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.budget = SharedBudget(ctx.db)
        self._no_token_until: dict[str, float] = {}  # monotonic: no need to ask the budget before then

    @property
    def connectors(self) -> dict[str, Any]:
        found: dict[str, Any] = self.ctx.plugins.connectors(self.settings)
        return found

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> DeliveryWorker:
        if self._thread is None and self.connectors:
            self._thread = threading.Thread(target=self._run, name="router-delivery", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for connector in self.connectors.values():
            close = getattr(connector, "close", None)
            if close is not None:
                close()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the thread must survive a database hiccup; the next poll retries
                log.exception("delivery pass failed")
                busy = 0
            if busy:
                continue
            self._wake.wait(self.settings.delivery_poll_s)
            self._wake.clear()

    # -- one pass ------------------------------------------------------------------------------

    def run_once(self, limit: int = 20) -> int:
        """Claim and deliver what is due now, as far as each connector's budget goes; returns how
        many rows were attempted.

        Tokens are taken before rows are claimed, for as many rows as are due: a rate-limited backlog
        stays where it is, instead of being claimed and handed back row by row on every pass.
        """
        connectors = self._by_name()
        paused = self.budget.paused() if connectors else {}
        attempted = 0
        for name, connector in connectors.items():
            if name in paused or self._stop.is_set() or self._no_token_until.get(name, 0.0) > time.monotonic():
                continue
            wanted = outbox.due(self.ctx.db, name, limit)
            if not wanted:
                continue
            rate = float(connector.rate_per_min)
            granted, wait = self.budget.take(name, rate, wanted)
            if not granted:
                self._no_token_until[name] = time.monotonic() + wait
                continue
            rows = outbox.claim(self.ctx.db, self.owner, [name], limit=granted, lease_s=self.settings.delivery_lease_s)
            unsent = granted - len(rows)  # another worker claimed them first
            held = 0.0  # the helpdesk's budget ran low mid-batch: the rest wait, their tokens go back
            for row in rows:
                if self._stop.is_set() or held:
                    outbox.release(self.ctx.db, row["id"], self.owner, held)
                    unsent += 1
                    continue
                held = self._deliver(row, connector) or 0.0
                attempted += 1
            self.budget.refund(name, unsent, rate)
        return attempted

    def _by_name(self) -> dict[str, Any]:
        return {c.name: c for c in self.connectors.values()}

    def _deliver(self, row: Mapping[str, Any], connector: Any) -> float | None:
        """Send one row; the pause the helpdesk's answers called for, if any."""
        try:
            self._send(row, connector)
        finally:
            held = self.budget.heed(connector)
        return held

    def _send(self, row: Mapping[str, Any], connector: Any) -> None:
        try:
            job = self._job(row)
            result = connector.deliver(job)
        except DeliveryFailed as exc:
            self._failed(row, connector, exc)
            return
        except Exception as exc:  # a connector bug must not kill the thread; retried with backoff
            log.exception("connector %s raised on delivery %s", connector.name, row["id"])
            self._failed(row, connector, DeliveryFailed(f"{type(exc).__name__}: {exc}"))
            return
        if not outbox.finish(self.ctx.db, row["id"], self.owner, result):
            log.warning("delivery %s finished after its lease passed to another worker", row["id"])
        outcome = str(result.get("outcome", "delivered"))
        metrics.DELIVERIES.labels(connector=connector.name, outcome=outcome).inc()
        lag = time.time() - row["created_at"].timestamp()
        metrics.DELIVERY_LATENCY.labels(connector=connector.name).observe(max(0.0, lag))
        log.info(
            "delivery %s to %s: %s",
            row["id"],
            connector.name,
            outcome,
            extra={"delivery_id": row["id"], "connector": connector.name, "outcome": outcome},
        )

    def _failed(self, row: Mapping[str, Any], connector: Any, exc: DeliveryFailed) -> None:
        name = connector.name
        if exc.retry_after is not None:
            self.budget.pause(name, exc.retry_after, float(connector.rate_per_min))
        status = outbox.fail(
            self.ctx.db,
            row,
            self.owner,
            error=exc.message,
            status_code=exc.status,
            response=exc.response,
            permanent=exc.permanent,
            retry_after=exc.retry_after,
            max_attempts=self.settings.delivery_max_attempts,
            base_s=self.settings.delivery_backoff_base_s,
            cap_s=self.settings.delivery_backoff_cap_s,
        )
        outcome = "dead" if status == "dead" else "retry"
        metrics.DELIVERIES.labels(connector=name, outcome=outcome).inc()
        log.warning(
            "delivery %s to %s failed (%s): %s",
            row["id"],
            name,
            outcome,
            exc.message,
            extra={"delivery_id": row["id"], "connector": name, "status": exc.status},
        )

    def _job(self, row: Mapping[str, Any]) -> Job:
        decision, ticket, earlier = outbox.job_inputs(self.ctx.db, row)
        payload = row["payload"] or {}
        correction = payload.get("correction")
        delivered_here = [e for e in earlier if e["connector"] == row["connector"]]
        if correction is None:
            correction = held_correction(delivered_here, decision)
        if correction:
            decision = {**decision, "intent": correction["intent"], "queue": correction["queue"]}
        mine = [e["result"] or {} for e in delivered_here]
        previous = None
        if mine:
            previous = {
                "wrote": outbox.written(mine),
                "tags": mine[-1].get("tags") or [],
                "agent_moved": any(r.get("outcome") == "agent_changed" for r in mine),
            }
        baseline = dict((ticket["metadata"] or {}).get(row["source"]) or {})
        return Job(
            delivery_id=int(row["id"]),
            kind=row["kind"],
            mode=row["mode"],
            attempt=int(row["attempts"]),
            decision=decision,
            ticket=ticket,
            previous=previous,
            baseline={k: baseline[k] for k in ("group_id", "group", "priority") if k in baseline},
            groups=mapping_for(self.ctx.ruleset(), row["connector"]),
            correction=correction,
        )


def held_correction(delivered: list[Mapping[str, Any]], decision: Mapping[str, Any]) -> dict[str, Any] | None:
    """A reviewer's routing of the ticket, delivered earlier, which a later revision's decision keeps.

    A reviewer who corrects a ticket is a person routing it, as an agent who moves it is: a later
    customer reply is decided again (stored, explained, open to review) but does not move the ticket
    away from where the reviewer sent it; only another correction does. ``router`` is what the
    router itself read in this revision, for the note.
    """
    for row in reversed(delivered):
        correction = (row.get("payload") or {}).get("correction") if row.get("kind") == "correction" else None
        if correction:
            return {**correction, "held": True, "router": {"intent": decision["intent"], "queue": decision["queue"]}}
    return None
