"""The model a worker serves with, following the database without a restart.

``current()`` costs one small query at most every ``poll_s`` seconds. When the active version
changes, the new model is loaded and warmed *beside* the old one and then a single reference is
swapped, so requests in flight finish on the model they started with. The version it replaced
stays loaded, which makes a rollback a pointer swap.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..db import Database
from ..errors import ServiceUnavailable
from ..monitoring import metrics
from .store import ModelStore
from .versions import active_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    version: str
    model: Any


class ModelRuntime:
    def __init__(self, db: Database, store: ModelStore, poll_s: float = 1.0, keep: int = 2) -> None:
        self.db = db
        self.store = store
        self.poll_s = poll_s
        self.keep = keep
        self._current: Loaded | None = None
        self._cache: dict[str, Any] = {}
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def current(self) -> Loaded:
        """The active model; raises ``ServiceUnavailable`` when none is registered or loadable."""
        loaded = self._current
        if loaded is None or time.monotonic() - self._checked_at >= self.poll_s:
            loaded = self.refresh()
        if loaded is None:
            raise ServiceUnavailable("no active model: train one with `router train --activate`")
        return loaded

    def refresh(self) -> Loaded | None:
        with self._lock:
            if self._current is not None and time.monotonic() - self._checked_at < self.poll_s:
                return self._current
            try:
                version = active_version(self.db)
            except Exception:  # the database blipped: keep serving with what we have
                log.exception(
                    "could not read the active model version; keeping %s",
                    self._current.version if self._current else None,
                )
                return self._current
            self._checked_at = time.monotonic()
            if version is None:
                return self._current
            if self._current is None or self._current.version != version:
                model = self._load(version)
                if model is not None:
                    if self._current is not None:
                        metrics.ACTIVE_MODEL.labels(version=self._current.version).set(0)
                    self._current = Loaded(version, model)
                    metrics.ACTIVE_MODEL.labels(version=version).set(1)
            return self._current

    def _load(self, version: str) -> Any:
        if version in self._cache:
            return self._cache[version]
        try:
            model = self.store.load(version)
            model.predict("warm up the model before it serves")
        except Exception:
            log.exception("model %s could not be loaded; keeping the version in service", version)
            return None
        self._cache[version] = model
        while len(self._cache) > self.keep:
            oldest = next(iter(self._cache))
            if self._current is not None and oldest == self._current.version:
                break
            self._cache.pop(oldest)
        log.info("model %s loaded and swapped in", version)
        return model
