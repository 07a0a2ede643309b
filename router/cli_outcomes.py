"""``router outcomes``: the measured routing accuracy (attached to ``router`` in cli.py)."""

from __future__ import annotations

import click

from .cli import _context, _emit, handles_errors, main


@main.group()
def outcomes() -> None:
    """What agents did with routed tickets: the live model's measured accuracy."""


@outcomes.command("stats")
@click.option("--weeks", default=12, show_default=True, type=click.IntRange(1, 520), help="Weeks in by_week.")
@handles_errors
def outcomes_stats(weeks: int) -> None:
    """Routing accuracy of solved tickets per version, queue, intent and week, as JSON (as the API)."""
    from .services.outcomes import stats

    _emit(stats(_context(), weeks=weeks))
