"""Reviewer labels as CSV, one row per label, for other tools and for training.

``text`` is the ticket text the reviewer saw (normalised, that revision's); ``intent`` and
``queue`` are the reviewer's; ``model_*`` are what the decision said. Labels of items still
waiting for more reviewers are included: each row is one reviewer's judgement.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..context import Context
from ..db import Ticket
from ..db.review import ReviewItem, ReviewLabel

COLUMNS = (
    "text",
    "intent",
    "queue",
    "model_intent",
    "model_queue",
    "model_version",
    "overridden",
    "source",
    "ticket_id",
    "revision",
    "item_id",
    "decision_id",
    "reviewer",
    "note",
    "resolved_at",
)


def label_rows(ctx: Context) -> list[dict[str, Any]]:
    """Every label with its text and ticket, oldest first."""
    query = (
        select(ReviewLabel, ReviewItem.text, ReviewItem.revision, Ticket.source, Ticket.external_id)
        .join(ReviewItem, ReviewItem.id == ReviewLabel.item_id)
        .join(Ticket, Ticket.id == ReviewLabel.ticket_id)
        .order_by(ReviewLabel.id)
    )
    with ctx.db.session() as s:
        return [
            {
                "text": text,
                "intent": label.intent,
                "queue": label.queue,
                "model_intent": label.model_intent,
                "model_queue": label.model_queue,
                "model_version": label.model_version,
                "overridden": str(label.overridden).lower(),
                "source": source,
                "ticket_id": external_id,
                "revision": revision,
                "item_id": label.item_id,
                "decision_id": label.decision_id,
                "reviewer": label.reviewer,
                "note": label.note,
                "resolved_at": label.created_at.isoformat(),
            }
            for label, text, revision, source, external_id in s.execute(query)
        ]


def _write(rows: list[dict[str, Any]], fh: Any) -> None:
    writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def export_csv(ctx: Context) -> str:
    """The labels as one CSV text (UTF-8, header row first)."""
    buffer = io.StringIO()
    _write(label_rows(ctx), buffer)
    return buffer.getvalue()


def export_file(ctx: Context, out: Path) -> dict[str, Any]:
    """Write the CSV next to ``out`` and rename it into place, so a reader never sees half a file."""
    rows = label_rows(ctx)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        _write(rows, fh)
    tmp.replace(out)
    return {"rows": len(rows), "out": str(out)}
