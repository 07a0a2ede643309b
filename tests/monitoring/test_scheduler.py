"""Exactly one process of the cluster runs each scheduled job run: the lease, then real servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from router.config import load_settings
from router.context import build_context
from router.db import upgrade
from router.monitoring import lease
from router.monitoring.jobs import JOBS, JobSpec
from router.monitoring.scheduler import MonitoringScheduler, run_job, slot_of

from ..conftest import make_env, prepare_home
from .conftest import free_port

ROUTER = str(Path(sys.executable).parent / "router")


def test_the_lease_lets_one_of_many_racing_processes_run_each_slot(tmp_path: Path, database_url: str) -> None:
    settings = load_settings(make_env(tmp_path, database_url))
    upgrade(settings.database_url)
    ctx = build_context(settings)
    now = datetime.now(UTC)
    winners: list[tuple[int, str]] = []
    barrier = threading.Barrier(8)

    def contender(name: str, slot: int) -> None:
        barrier.wait()
        if lease.acquire(ctx.db, "job.x", slot, ttl_s=60, holder=name, now=now):
            winners.append((slot, name))

    for slot in (100, 200):
        threads = [threading.Thread(target=contender, args=(f"p{i}", slot)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        lease.release(ctx.db, "job.x", winners[-1][1])
    assert Counter(slot for slot, _ in winners) == {100: 1, 200: 1}
    # a holder that died: nobody else takes its slot's successor until the lease expires
    assert lease.acquire(ctx.db, "job.y", 1, ttl_s=60, holder="dead", now=now)
    assert not lease.acquire(ctx.db, "job.y", 2, ttl_s=60, holder="alive", now=now + timedelta(seconds=30))
    assert lease.acquire(ctx.db, "job.y", 2, ttl_s=60, holder="alive", now=now + timedelta(seconds=61))
    ctx.db.dispose()


def test_a_job_run_is_recorded_and_a_slow_one_times_out(tmp_path: Path, trained) -> None:
    ctx = prepare_home(tmp_path / "h", trained, ROUTER_JOB_TIMEOUT_S="0.5")
    ok = JobSpec("test.ok", lambda c: {"answer": 42}, "drift_interval_s", "test")
    slow = JobSpec("test.slow", lambda c: time.sleep(3) or {}, "drift_interval_s", "test")
    now = datetime.now(UTC)
    assert run_job(ctx, ok, now=now) == {"answer": 42}
    assert run_job(ctx, ok, now=now) is None  # the same slot never runs twice
    with pytest.raises(RuntimeError, match="timed out"):
        run_job(ctx, slow, now=now)
    with ctx.db.session() as s:
        rows = dict(s.execute(text("SELECT job_id, status FROM job_runs")).tuples().all())
    assert rows == {"test.ok": "ok", "test.slow": "timeout"}
    assert slot_of(now, 900) % 900 == 0
    ctx.db.dispose()


def test_the_scheduler_declares_every_job_with_safe_defaults(tmp_path: Path, trained) -> None:
    ctx = prepare_home(tmp_path / "h", trained)
    sched = MonitoringScheduler(ctx).start()
    try:
        jobs = {j.id: j for j in sched._scheduler.get_jobs()}
        assert (
            set(jobs)
            == {s.id for s in JOBS}
            == {
                "monitoring.drift",
                "monitoring.calibration",
                "monitoring.review_backlog",
                "monitoring.outcomes",
                "delivery.lag",
                "models.watch",
            }
        )
        for job in jobs.values():
            assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time >= 60
        assert jobs["monitoring.drift"].trigger.interval == timedelta(minutes=15)
    finally:
        sched.shutdown()
    assert not sched.running
    ctx.db.dispose()


def _serve(home: Path, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [ROUTER, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.mark.server
def test_two_instances_with_two_workers_run_each_job_run_once(tmp_path: Path, trained, database_url: str) -> None:
    home = tmp_path / "home"
    ctx = prepare_home(home, trained, database_url)
    ctx.db.dispose()
    intervals = {
        "ROUTER_DRIFT_INTERVAL_S": "2",
        "ROUTER_CALIBRATION_INTERVAL_S": "2",
        "ROUTER_BACKLOG_INTERVAL_S": "2",
        "ROUTER_WATCH_INTERVAL_S": "1",
    }
    env = {**os.environ, **make_env(home, database_url, **intervals)}
    procs, ports = [], [free_port(), free_port()]
    try:
        for i, port in enumerate(ports):
            procs.append(_serve(home, port, env, tmp_path / f"serve{i}.log"))
        deadline = time.time() + 60
        for port in ports:
            while time.time() < deadline:
                try:
                    if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.2)
            else:
                pytest.fail("router serve did not become ready:\n" + (tmp_path / "serve0.log").read_text()[-3000:])
        time.sleep(9)
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT job_id, slot, holder, status FROM job_runs")).all()
    engine.dispose()
    per_slot = Counter((r.job_id, r.slot) for r in runs)
    assert per_slot and max(per_slot.values()) == 1
    by_job = Counter(r.job_id for r in runs)
    assert by_job["models.watch"] >= 6 and by_job["monitoring.drift"] >= 3, by_job
    assert {r.status for r in runs} <= {"ok", "running"}, [r for r in runs if r.status not in ("ok", "running")]
    holders = {r.holder for r in runs}
    assert len(holders) >= 2  # several of the four processes won runs: they really competed
    logs = "".join((tmp_path / f"serve{i}.log").read_text() for i in range(2))
    assert "IntegrityError" not in logs and "Traceback" not in logs, logs[-3000:]
