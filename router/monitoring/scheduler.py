"""APScheduler in every worker, a database lease per job run: one process of the cluster runs it.

Jobs (``jobs.JOBS``) run on interval triggers aligned to the epoch, so every process schedules the
same instants and agrees on each run's slot number; :mod:`lease` lets exactly one process take
each slot. ``coalesce`` (a backlog of missed runs is one run), ``max_instances=1`` and a misfire
grace of minutes are set for every job; a listener counts and logs missed and failed runs. Each
run has a timeout: the job runs in its own thread, and a run that outlives it is recorded as
``timeout`` and its lease lapses so the next run is not blocked.

The scheduler is started by ``router serve`` in gunicorn's ``post_worker_init`` (never at import
time, never in a reloader's parent) and shut down from ``worker_exit`` when the worker stops
(SIGTERM).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from ..db.monitoring import JobRun
from . import lease, metrics
from .jobs import JOBS, JobSpec

log = logging.getLogger(__name__)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class JobTimeout(RuntimeError):
    pass


def slot_of(now: datetime, interval_s: float) -> int:
    """The run ``now`` belongs to, as the seconds from EPOCH to its scheduled start (grows with time
    whatever the interval, so changing an interval never stalls a job)."""
    return int(((now - EPOCH).total_seconds() // interval_s) * interval_s)


def _finish(ctx: Any, run_id: int, status: str, result: dict[str, Any] | None = None, error: str = "") -> None:
    with ctx.db.session() as s:
        row = s.get(JobRun, run_id)
        if row is not None:
            row.status, row.finished_at, row.error = status, datetime.now(UTC), error[-4000:]
            row.result = result


def run_job(ctx: Any, spec: JobSpec, now: datetime | None = None) -> dict[str, Any] | None:
    """Run ``spec`` for the current slot if this process wins the lease; None when another one has it."""
    interval = float(getattr(ctx.settings, spec.interval_setting))
    timeout = float(ctx.settings.job_timeout_s)
    now = now or datetime.now(UTC)
    slot = slot_of(now, interval)
    holder = lease.holder_id()
    if not lease.acquire(ctx.db, spec.id, slot, ttl_s=timeout + 5, holder=holder, now=now):
        return None
    with ctx.db.session() as s:
        run = JobRun(job_id=spec.id, slot=slot, holder=holder, started_at=now, status="running")
        s.add(run)
        s.flush()
        run_id = run.id
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = spec.func(ctx)
        except BaseException as exc:
            box["error"] = exc
            box["trace"] = traceback.format_exc()

    worker = threading.Thread(target=target, name=f"job-{spec.id}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        _finish(ctx, run_id, "timeout", error=f"still running after {timeout:g} s")
        metrics.JOB_RUNS.labels(job=spec.id, status="timeout").inc()
        raise JobTimeout(f"job {spec.id} slot {slot} timed out after {timeout:g} s")
    lease.release(ctx.db, spec.id, holder)
    if "error" in box:
        _finish(ctx, run_id, "failed", error=box["trace"])
        metrics.JOB_RUNS.labels(job=spec.id, status="failed").inc()
        raise box["error"]
    result = box.get("result") or {}
    _finish(ctx, run_id, "ok", result=_json_safe(result))
    metrics.JOB_RUNS.labels(job=spec.id, status="ok").inc()
    return result


def _json_safe(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


class MonitoringScheduler:
    """A BackgroundScheduler with the monitoring jobs; ``start()`` and ``shutdown()`` are idempotent."""

    def __init__(self, ctx: Any, jobs: Sequence[JobSpec] = JOBS) -> None:
        self.ctx, self.jobs = ctx, tuple(jobs)
        self._scheduler: Any = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> MonitoringScheduler:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        with self._lock:
            if self.running:
                return self
            st = self.ctx.settings
            scheduler = BackgroundScheduler(
                timezone=UTC,
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(st.job_misfire_grace_s)},
            )
            for spec in self.jobs:
                interval = float(getattr(st, spec.interval_setting))
                scheduler.add_job(
                    run_job,
                    IntervalTrigger(seconds=interval, start_date=EPOCH, timezone=UTC),
                    args=(self.ctx, spec),
                    id=spec.id,
                    name=spec.description,
                    replace_existing=True,
                )
            scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
            scheduler.start()
            self._scheduler = scheduler
            log.info("monitoring scheduler started with %s", ", ".join(s.id for s in self.jobs))
        return self

    def _on_event(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED

        kind = (
            "missed"
            if event.code == EVENT_JOB_MISSED
            else "error"
            if event.code == EVENT_JOB_ERROR
            else "max_instances"
        )
        metrics.JOB_EVENTS.labels(job=event.job_id, event=kind).inc()
        if kind == "error":
            log.error("scheduled job %s failed: %s", event.job_id, event.exception)
        else:
            log.warning(
                "scheduled job %s: %s run at %s", event.job_id, kind, getattr(event, "scheduled_run_time", None)
            )

    def shutdown(self, wait: bool = False) -> None:
        """Stop scheduling; running jobs finish in their threads (their leases lapse by themselves)."""
        with self._lock:
            if self._scheduler is not None and self._scheduler.running:
                self._scheduler.shutdown(wait=wait)
                log.info("monitoring scheduler stopped")
            self._scheduler = None


def job_status(ctx: Any, limit: int = 20) -> list[dict[str, Any]]:
    """Each declared job with its period and its latest runs across the cluster."""
    out = []
    with ctx.db.session() as s:
        for spec in JOBS:
            runs = s.scalars(select(JobRun).where(JobRun.job_id == spec.id).order_by(JobRun.id.desc()).limit(limit))
            out.append(
                {
                    "id": spec.id,
                    "description": spec.description,
                    "interval_s": float(getattr(ctx.settings, spec.interval_setting)),
                    "runs": [
                        {
                            "slot": r.slot,
                            "holder": r.holder,
                            "started_at": r.started_at,
                            "finished_at": r.finished_at,
                            "status": r.status,
                            "error": r.error[-500:],
                            "result": r.result,
                        }
                        for r in runs
                    ],
                }
            )
    return out
