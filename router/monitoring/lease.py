"""A lease per scheduled job in the database: one process of the whole cluster runs each job run.

Every worker of every instance schedules the same jobs at the same wall-clock times (intervals
aligned to the epoch), so each run has a number, its *slot*. A process runs slot ``n`` only if one
conditional UPDATE moves the lease to ``n`` — ``WHERE slot < n AND (expired OR mine)`` — and sees
a row count of 1; the first process to take a job inserts the row and the others' INSERTs fail on
the primary key. Both statements are atomic on SQLite (one writer at a time) and on PostgreSQL
(the UPDATE re-checks its WHERE after the row lock), so no advisory locks are needed. The lease
expires after the job's timeout, so a crashed holder never blocks the job for long.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from ..db.monitoring import JobLease


def holder_id() -> str:
    """This process, as the lease records it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def acquire(
    db: Any, job_id: str, slot: int, ttl_s: float, holder: str | None = None, now: datetime | None = None
) -> bool:
    """Take the lease of ``job_id`` for run ``slot``; True when this process must run it."""
    holder = holder or holder_id()
    now = now or datetime.now(UTC)
    expires = now + timedelta(seconds=ttl_s)
    with db.session() as s:
        taken = s.execute(
            update(JobLease)
            .where(
                JobLease.job_id == job_id,
                JobLease.slot < slot,
                or_(JobLease.expires_at < now, JobLease.holder == holder),
            )
            .values(slot=slot, holder=holder, expires_at=expires)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:
            return True
        if s.get(JobLease, job_id) is not None:
            return False
    try:
        with db.session() as s:
            s.add(JobLease(job_id=job_id, slot=slot, holder=holder, expires_at=expires))
    except IntegrityError:  # another process inserted it first and runs this slot
        return False
    return True


def release(db: Any, job_id: str, holder: str | None = None) -> None:
    """Let the lease go early (the run finished); the slot stays claimed."""
    holder = holder or holder_id()
    with db.session() as s:
        s.execute(
            update(JobLease)
            .where(JobLease.job_id == job_id, JobLease.holder == holder)
            .values(expires_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        )
