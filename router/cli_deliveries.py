"""``router deliveries``: write-back from the command line (attached to ``router`` in cli.py)."""

from __future__ import annotations

import click

from .cli import _context, _emit, handles_errors, main
from .delivery import outbox


@main.group()
def deliveries() -> None:
    """Write-back to the helpdesks: what was sent, dead letters, retries."""


@deliveries.command("list")
@click.option("--status", type=click.Choice(outbox.STATUSES), default=None, help="Only deliveries in this state.")
@click.option("--source", default=None, help="Only tickets from this helpdesk (zendesk, freshdesk, generic).")
@click.option("--ticket", default=None, help="Only this ticket (the helpdesk's id).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 200), help="How many, newest first.")
@handles_errors
def deliveries_list(status: str | None, source: str | None, ticket: str | None, limit: int) -> None:
    """Deliveries, newest first: one line each with status, outcome and the last error."""
    page = outbox.list_deliveries(_context().db, status=status, source=source, ticket=ticket, page_size=limit)
    for d in page["items"]:
        what = d["outcome"] or d["status"]
        error = f"  {d['last_status'] or ''} {d['last_error'][:80]}".rstrip() if d["last_error"] else ""
        click.echo(
            f"{d['id']:>7}  {d['status']:<10} {d['connector']:<9} ticket {d['ticket_id']:<10} "
            f"decision {d['decision_id']:<7} {d['mode']:<7} {what:<14} attempts {d['attempts']}{error}"
        )
    backlog = outbox.backlog(_context().db)
    click.echo(
        f"{page['total']} shown of this filter · {backlog['pending']} open, oldest {backlog['oldest_age_s']:.0f} s"
        f" · {backlog['dead']} dead"
        + "".join(f" · {name} paused {left:.0f} s more" for name, left in backlog["paused"].items())
    )


@deliveries.command("show")
@click.argument("delivery_id", type=click.IntRange(1, 2**62))
@handles_errors
def deliveries_show(delivery_id: int) -> None:
    """One delivery as JSON: attempts, the helpdesk's last answer, what was written."""
    _emit(outbox.get_delivery(_context().db, delivery_id))


@deliveries.command("retry")
@click.argument("delivery_ids", nargs=-1, type=click.IntRange(1, 2**62))
@click.option("--all", "everything", is_flag=True, help="Retry every dead letter.")
@handles_errors
def deliveries_retry(delivery_ids: tuple[int, ...], everything: bool) -> None:
    """Send dead letters again (the running service picks them up within its poll interval)."""
    if not delivery_ids and not everything:
        raise click.UsageError("name the deliveries to retry, or pass --all")
    _emit(outbox.retry(_context().db, None if everything else list(delivery_ids)))
