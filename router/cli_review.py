"""``router review``: the review queue from the command line (attached to ``router`` in cli.py)."""

from __future__ import annotations

from pathlib import Path

import click

from .cli import _context, _emit, handles_errors, main


@main.group()
def review() -> None:
    """The human review queue."""


@review.command("export")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path), help="CSV to write.")
@handles_errors
def review_export(out_path: Path) -> None:
    """Write every reviewer label as CSV (the same columns as GET /v1/review/export)."""
    from .review import export_file

    _emit(export_file(_context(), out_path))


@review.command("stats")
@handles_errors
def review_stats() -> None:
    """Backlog by reason, median waiting time, override rates and agreement, as JSON."""
    from .review import stats

    _emit(stats(_context()))
