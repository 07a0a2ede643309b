"""``router tokens list`` and ``router tokens revoke`` (attached to ``router tokens`` in cli.py)."""

from __future__ import annotations

from datetime import datetime

import click

from .cli import _context, _emit, handles_errors, tokens


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at else "never"


@tokens.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@handles_errors
def tokens_list(include_revoked: bool, as_json: bool) -> None:
    """Every token's name, role, when it was created and last used; never the token itself."""
    from .auth import list_tokens

    rows = list_tokens(_context().db, include_revoked=include_revoked)
    if as_json:
        _emit(rows)
        return
    if not rows:
        click.echo("no tokens; create one with `router tokens create --role admin`")
        return
    click.echo(f"{'id':>4}  {'name':<24} {'role':<9} {'created':<16}  {'last used':<16}  revoked")
    for r in rows:
        click.echo(
            f"{r['id']:>4}  {r['name']:<24} {r['role']:<9} {_when(r['created_at']):<16}  "
            f"{_when(r['last_used_at']):<16}  {_when(r['revoked_at']) if r['revoked_at'] else '-'}"
        )


@tokens.command("revoke")
@click.argument("name")
@handles_errors
def tokens_revoke(name: str) -> None:
    """Revoke every live token named NAME; its admin sessions end too (in every worker within 5 s)."""
    from .auth import revoke_tokens

    _emit(revoke_tokens(_context().db, name))
