"""The models a worker serves with, following the database without a restart.

One small query, at most every ``poll_s`` seconds, reads the slots (active, previous, canary,
shadow). A version that appears is loaded and warmed *beside* the ones in service, then a single
reference to the new slot map is swapped, so requests in flight finish on the model they started
with. The previously active version stays loaded, which makes a rollback a pointer swap.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ..db import Database, ModelSlot
from ..errors import ServiceUnavailable
from ..monitoring import metrics
from . import thresholds
from .store import ModelStore

log = logging.getLogger(__name__)
SLOTS = ("active", "previous", "canary", "shadow")
RETRY_FAILED_S = 60.0


@dataclass(frozen=True)
class Loaded:
    version: str
    model: Any


@dataclass(frozen=True)
class Serving:
    """What this worker serves with right now."""

    active: Loaded | None = None
    canary: Loaded | None = None
    canary_percent: float = 0.0
    shadow: Loaded | None = None
    versions: dict[str, str] = field(default_factory=dict)


CANARY_MIN_PERCENT = 0.01  # one bucket of canary_bucket's 10,000
CANARY_MAX_PERCENT = 50.0  # beyond half of the tickets the canary is the main model: activate it instead


def canary_bucket(key: str) -> float:
    """A stable number in [0, 100) for a ticket, so a retried webhook gets the same model."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 / 100


class ModelRuntime:
    def __init__(self, db: Database, store: ModelStore, poll_s: float = 1.0) -> None:
        self.db = db
        self.store = store
        self.poll_s = poll_s
        self._serving = Serving()
        self._models: dict[str, Any] = {}
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self._failed: dict[str, float] = {}  # version -> when loading it last failed
        self._revisions: dict[str, int] = {}  # version -> threshold revision applied to its loaded model
        # ``router serve`` sets this in its workers: a loaded model is ~200,000 objects the cyclic
        # garbage collector would otherwise walk on every full collection (a pause of 0.1-0.2 s in the
        # middle of a request); frozen, they are left to reference counting, which frees a replaced
        # model all the same.
        self.freeze_gc = False
        # ``router serve`` sets this too: a worker with one request thread would otherwise stall its
        # requests while the request that noticed a new version loads it (about a second). A change
        # this process made (``invalidate``) and a worker with no model yet still read at once.
        self.refresh_in_background = False

    def serving(self) -> Serving:
        # Another thread may be loading a new version: keep serving with the current one, and
        # wait for the lock only when there is nothing to serve with yet.
        stale = time.monotonic() - self._checked_at >= self.poll_s
        if not stale:
            return self._serving
        if self.refresh_in_background and self._serving.active is not None and self._checked_at != float("-inf"):
            self._refresh_soon()
        elif self._lock.acquire(blocking=self._serving.active is None):
            try:
                self._refresh_locked()
            finally:
                self._lock.release()
        return self._serving

    def _refresh_soon(self) -> None:
        """Read the slots (and load what changed) in a thread of its own; this request goes on with
        the models in service. One refresh at a time: the lock passes to the thread, which frees it."""
        if not self._lock.acquire(blocking=False):
            return

        def run() -> None:
            try:
                self._refresh_locked()
            finally:
                self._lock.release()

        try:
            threading.Thread(target=run, name="model-refresh", daemon=True).start()
        except BaseException:
            self._lock.release()
            raise

    def current(self) -> Loaded:
        """The active model; raises ``ServiceUnavailable`` when none is registered or loadable."""
        active = self.serving().active
        if active is None:
            raise ServiceUnavailable("no active model: train one with `router train --activate`")
        return active

    def for_ticket(self, key: str) -> Loaded:
        """The canary for its share of tickets (chosen by hashing ``key``), else the active model."""
        serving = self.serving()
        if serving.canary is not None and canary_bucket(key) < serving.canary_percent:
            return serving.canary
        return self.current()

    def invalidate(self) -> None:
        """Read the slots on the next call (this process just changed them)."""
        self._checked_at = float("-inf")

    def refresh(self) -> Serving:
        """Read the slots now and swap in what changed."""
        with self._lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> Serving:
        try:
            with self.db.session() as s:
                rows = {r.slot: (r.version, r.percent) for r in s.scalars(select(ModelSlot))}
                revisions = thresholds.latest_ids(s, (v for v, _ in rows.values()))
        except Exception:  # the database blipped: keep serving with what we have
            log.exception("could not read the model slots; keeping the models in service")
            self._checked_at = time.monotonic()
            return self._serving
        versions = {slot: v for slot, (v, _) in rows.items()}
        if (
            versions == self._serving.versions
            and (rows.get("canary", (None, None))[1] or 0.0) == self._serving.canary_percent
            and all(self._revisions.get(v) == rev for v, rev in revisions.items())
        ):
            self._checked_at = time.monotonic()
            return self._serving
        for version in dict.fromkeys(versions.values()):
            if version not in self._models:
                model = self._load(version)
                if model is not None:
                    self._models[version] = model
                    self._revisions.pop(version, None)
                    if self.freeze_gc:
                        gc.freeze()
            if version in self._models and version in revisions and self._revisions.get(version) != revisions[version]:
                self._retarget(version, revisions[version])

        def loaded(slot: str) -> Loaded | None:
            version = versions.get(slot)
            if version is None or version not in self._models:
                return None
            return Loaded(version, self._models[version])

        old_active = self._serving.active
        active = loaded("active") or old_active
        serving = Serving(
            active=active,
            canary=loaded("canary"),
            canary_percent=float(rows.get("canary", (None, 0.0))[1] or 0.0),
            shadow=loaded("shadow"),
            versions=versions,
        )
        self._serving = serving  # the one swap every request sees
        self._checked_at = time.monotonic()
        keep = {v for v in versions.values()} | ({active.version} if active else set())
        for version in list(self._models):
            if version not in keep:
                del self._models[version]
                self._revisions.pop(version, None)
        if active is not None and (old_active is None or old_active.version != active.version):
            if old_active is not None:
                metrics.ACTIVE_MODEL.labels(version=old_active.version).set(0)
            metrics.ACTIVE_MODEL.labels(version=active.version).set(1)
            log.info("model %s is active in this worker", active.version)
        return serving

    def _retarget(self, version: str, revision_id: int) -> None:
        """Swap in the version's newest thresholds (an admin re-chose them for another target precision)."""
        try:
            with self.db.session() as s:
                revision = s.get(thresholds.ThresholdRevision, revision_id)
                if revision is None:
                    return
                self._models[version] = thresholds.apply(self._models[version], revision)
        except Exception:  # keep routing with the thresholds in service; retried on the next poll
            log.exception("threshold revision %s of %s could not be applied", revision_id, version)
            return
        self._revisions[version] = revision_id
        log.info("model %s routes with threshold revision %s", version, revision_id)

    def _load(self, version: str) -> Any:
        failed_at = self._failed.get(version)
        if failed_at is not None and time.monotonic() - failed_at < RETRY_FAILED_S:
            return None
        try:
            model = self.store.load(version)
            model.predict("warm up the model before it serves")
        except Exception:
            log.exception("model %s could not be loaded; keeping the versions in service", version)
            self._failed[version] = time.monotonic()
            return None
        self._failed.pop(version, None)
        log.info("model %s loaded", version)
        return model
