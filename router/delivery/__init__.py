"""Write-back: the transactional outbox and the worker that drains it.

It knows nothing about any helpdesk beyond the connector interface (``router.helpdesks.base``).
"""

from __future__ import annotations

from typing import Any

from . import outbox
from .worker import DeliveryWorker

__all__ = ["DeliveryWorker", "enqueue_decision", "outbox"]


def enqueue_decision(
    conn: Any,
    settings: Any,
    connectors: dict[str, Any],
    *,
    ticket_id: int,
    decision_id: int,
    source: str,
    kind: str = "decision",
    payload: dict[str, Any] | None = None,
    new_ticket: bool = False,
) -> int | None:
    """Queue a decision for its helpdesk in the caller's transaction; None when write-back is off
    for the ticket's source (or no connector serves it)."""
    mode = settings.writeback_mode(source)
    connector = connectors.get(source)
    if mode == "off" or connector is None:
        return None
    return outbox.enqueue(
        conn,
        ticket_id=ticket_id,
        decision_id=decision_id,
        source=source,
        connector=connector.name,
        mode=mode,
        kind=kind,
        payload=payload,
        new_ticket=new_ticket,
    )
