"""Alerts with a stable key, a cooldown and a recovery notice, agreed on through the database.

:func:`fire` sends an alert through every ``router_alert`` implementation when its key is new, was
cleared, or its cooldown has passed; :func:`clear` sends one recovery notice (``recovered: True``)
when an active key clears. Both decide with one conditional UPDATE (or a primary-key INSERT)
checked by its row count, so several workers and instances seeing the same problem send it once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from ..db.monitoring import AlertState

log = logging.getLogger(__name__)
SEVERITIES = ("info", "warning", "critical")


def _now() -> datetime:
    return datetime.now(UTC)


def _send(ctx: Any, alert: dict[str, Any]) -> None:
    ctx.plugins.call_each("router_alert", alert=alert)


def fire(
    ctx: Any,
    key: str,
    severity: str,
    title: str,
    message: str,
    figures: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Record the problem ``key``; notify unless it was already notified within the cooldown. True if sent."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
    now = now or _now()
    cutoff = now - timedelta(seconds=ctx.settings.alert_cooldown_s)
    fields = {"severity": severity, "title": title, "message": message, "figures": figures, "last_seen_at": now}
    try:
        with ctx.db.session() as s:
            if s.get(AlertState, key) is None:
                s.add(AlertState(key=key, active=True, first_at=now, last_sent_at=now, sent_count=1, **fields))
                s.flush()
                send = True
            else:
                claimed = s.execute(
                    update(AlertState)
                    .where(
                        AlertState.key == key,
                        or_(
                            AlertState.active.is_(False),
                            AlertState.last_sent_at.is_(None),
                            AlertState.last_sent_at < cutoff,
                        ),
                    )
                    .values(
                        active=True, last_sent_at=now, sent_count=AlertState.sent_count + 1, cleared_at=None, **fields
                    )
                    .execution_options(synchronize_session=False)
                )
                send = claimed.rowcount == 1
                if not send:
                    s.execute(
                        update(AlertState)
                        .where(AlertState.key == key)
                        .values(**fields)
                        .execution_options(synchronize_session=False)
                    )
    except IntegrityError:  # another process inserted the key first: it sends
        return False
    if send:
        _send(
            ctx,
            {
                "key": key,
                "severity": severity,
                "title": title,
                "message": message,
                "figures": figures or {},
                "recovered": False,
                "at": now.isoformat(),
            },
        )
    return send


def clear(
    ctx: Any, key: str, message: str = "", figures: dict[str, Any] | None = None, now: datetime | None = None
) -> bool:
    """The problem ``key`` is gone: send one recovery notice if it was active. True if sent."""
    now = now or _now()
    with ctx.db.session() as s:
        done = s.execute(
            update(AlertState)
            .where(AlertState.key == key, AlertState.active.is_(True))
            .values(active=False, cleared_at=now)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:
            return False
        row = s.get(AlertState, key)
        title = row.title if row else key
    _send(
        ctx,
        {
            "key": key,
            "severity": "info",
            "title": f"Recovered: {title}",
            "message": message or "the condition has cleared",
            "figures": figures or {},
            "recovered": True,
            "at": now.isoformat(),
        },
    )
    return True


def states(ctx: Any, active_only: bool = False) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        stmt = select(AlertState).order_by(AlertState.last_seen_at.desc())
        if active_only:
            stmt = stmt.where(AlertState.active.is_(True))
        return [
            {
                "key": r.key,
                "severity": r.severity,
                "title": r.title,
                "message": r.message,
                "active": r.active,
                "first_at": r.first_at,
                "last_seen_at": r.last_seen_at,
                "last_sent_at": r.last_sent_at,
                "cleared_at": r.cleared_at,
                "sent_count": r.sent_count,
                "figures": r.figures,
            }
            for r in s.scalars(stmt)
        ]
