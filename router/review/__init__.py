"""The human review queue and the feedback it gives training.

``queue`` enqueues decisions that need a person (inside intake's transaction), lists them in
order and handles claims; ``resolve`` stores a reviewer's label and calls the
``router_on_review_outcome`` hook on corrections; ``stats`` and ``export`` report on labels;
``feedback`` turns labels into training rows.
"""

from __future__ import annotations

from .export import export_csv, export_file, label_rows
from .queue import QueueFilter, claim, get_item, list_items, record_decision, release
from .resolve import resolve
from .stats import counts, stats

__all__ = [
    "QueueFilter",
    "claim",
    "counts",
    "export_csv",
    "export_file",
    "get_item",
    "label_rows",
    "list_items",
    "record_decision",
    "release",
    "resolve",
    "stats",
]
