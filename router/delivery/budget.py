"""Each connector's write-back budget, shared by every process and instance on the database.

A helpdesk's rate limit belongs to the account, not to a process: Zendesk and Freshdesk count every
API request the account makes, from every integration. So the client-side token bucket
(``ROUTER_ZENDESK_RATE_PER_MIN`` and the like, bursting to a tenth of the rate) and the pause a 429
or 503 asks for (``Retry-After``) are one row per connector in ``connector_budgets``, changed in a
write transaction: however many workers and instances deliver, together they start at most the
configured number of deliveries a minute, and one worker's 429 holds every worker back until the
helpdesk's ``Retry-After`` has passed.

Times are wall-clock seconds, since the processes may run on different hosts. A clock behind the
one that last wrote the row refills nothing until it catches up: a skew slows the budget, never
raises it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Connection, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..db import Database
from ..db.delivery import ConnectorBudget

_T = cast(Table, ConnectorBudget.__table__)


def capacity(rate_per_min: float) -> float:
    """The burst: a tenth of a minute's budget, at least one delivery."""
    return max(1.0, rate_per_min / 10.0)


class SharedBudget:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def take(self, connector: str, rate_per_min: float, want: int = 1) -> tuple[int, float]:
        """Take up to ``want`` deliveries' tokens: ``(granted, 0)``, or ``(0, seconds)`` until a token
        will be free (or until the connector's pause ends) when none is."""
        rate = max(rate_per_min, 0.001) / 60.0
        burst = capacity(rate_per_min)
        with self.db.write() as conn:
            tokens, refilled_at, paused_until = self._locked(conn, connector, burst)
            now = self.clock()
            if paused_until > now:
                return 0, paused_until - now
            tokens = min(burst, tokens + max(0.0, now - refilled_at) * rate)
            granted = max(0, min(int(want), int(tokens)))
            conn.execute(
                update(_T)
                .where(_T.c.connector == connector)
                .values(tokens=tokens - granted, refilled_at=max(now, refilled_at))
            )
            return granted, 0.0 if granted else (1 - tokens) / rate

    def refund(self, connector: str, n: int, rate_per_min: float) -> None:
        """Give back tokens taken for deliveries that were not sent (another worker claimed them)."""
        if n <= 0:
            return
        burst = capacity(rate_per_min)
        with self.db.write() as conn:
            tokens, _, _ = self._locked(conn, connector, burst)
            conn.execute(update(_T).where(_T.c.connector == connector).values(tokens=min(burst, tokens + n)))

    def pause(self, connector: str, seconds: float, rate_per_min: float) -> None:
        """Hold every worker's deliveries to ``connector`` back for ``seconds`` (a 429's Retry-After)."""
        with self.db.write() as conn:
            _, _, paused_until = self._locked(conn, connector, capacity(rate_per_min))
            until = max(paused_until, self.clock() + max(0.0, seconds))
            conn.execute(update(_T).where(_T.c.connector == connector).values(paused_until=until))

    def heed(self, connector: Any) -> float | None:
        """Pause ``connector`` for every worker when its last answers showed the account's API budget
        for the minute nearly spent (see ``HttpClient.low_budget_pause``); returns the pause."""
        check = getattr(getattr(connector, "http", None), "low_budget_pause", None)
        seconds: float | None = check() if check is not None else None
        if seconds:
            self.pause(connector.name, seconds, float(connector.rate_per_min))
        return seconds

    def paused(self) -> dict[str, float]:
        """Connectors paused now, with the seconds left."""
        now = self.clock()
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(_T.c.connector, _T.c.paused_until).where(_T.c.paused_until > now))
            return {name: until - now for name, until in rows}

    @staticmethod
    def _locked(conn: Connection, connector: str, burst: float) -> tuple[float, float, float]:
        """The connector's row (created full on first use), locked until the transaction ends."""
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(_T)
            .values(connector=connector, tokens=burst, refilled_at=0.0, paused_until=0.0)
            .on_conflict_do_nothing()
        )
        row = conn.execute(
            select(_T.c.tokens, _T.c.refilled_at, _T.c.paused_until)
            .where(_T.c.connector == connector)
            .with_for_update()
        ).one()
        return float(row.tokens), float(row.refilled_at), float(row.paused_until)
