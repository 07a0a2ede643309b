"""The ``router`` command."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .config import apply_env_file, load_settings
from .db import upgrade
from .errors import ConfigError, RouterError

if TYPE_CHECKING:
    from .context import Context

F = TypeVar("F", bound=Callable[..., Any])


def _context() -> Context:
    # Imported here: `router serve` must not load prometheus_client before it sets up
    # multi-process metrics for the workers.
    from .context import build_context

    settings = load_settings()
    upgrade(settings.database_url)
    return build_context(settings)


def _emit(obj: Any) -> None:
    click.echo(json.dumps(obj, default=str, sort_keys=False))


def _progress(message: str) -> None:
    click.echo(f"… {message}", err=True)


def handles_errors(fn: F) -> F:
    """Print a RouterError as a readable message and exit non-zero, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RouterError as exc:
            click.echo(f"error: {exc.message}", err=True)
            if exc.errors:
                click.echo(json.dumps(exc.errors, indent=2, default=str), err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


@click.group()
def main() -> None:
    """Ticket Router: routes support tickets with an explained, versioned intent model."""
    # Settings may also come from an env file (ROUTER_ENV_FILE, else $ROUTER_HOME/router.env);
    # applied to the process environment so `router serve`'s workers see them too.
    try:
        apply_env_file(os.environ)
    except ConfigError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes.")
@handles_errors
def serve(host: str, port: int, workers: int) -> None:
    """Run the service under gunicorn with several workers."""
    from .serve import run

    settings = load_settings()
    settings.check_production()
    upgrade(settings.database_url)
    run(settings, host=host, port=port, workers=workers)


@main.command()
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Training CSV (default: the BANKING77 fixture).",
)
@click.option("--text-column", default="text", show_default=True, help="Column holding the ticket text.")
@click.option("--label-column", default="category", show_default=True, help="Column holding the intent.")
@click.option("--activate", is_flag=True, help="Make the new version active.")
@click.option("--if-empty", is_flag=True, help="Do nothing when a model is already active.")
@click.option("--from-feedback", is_flag=True, help="Add reviewed labels (never held out); report conflicts.")
@click.option(
    "--with-outcomes", is_flag=True, help="With --from-feedback: also add agents' intent labels (never held out)."
)
@handles_errors
def train(
    data_path: Path | None,
    text_column: str,
    label_column: str,
    activate: bool,
    if_empty: bool,
    from_feedback: bool,
    with_outcomes: bool,
) -> None:
    """Validate training data, fit a model and register it as a new version."""
    from .registry.versions import active_version
    from .review.feedback import collect
    from .services.outcomes import outcome_labels
    from .services.training import train as train_service

    if with_outcomes and not from_feedback:
        raise click.UsageError("--with-outcomes adds to --from-feedback: pass both")

    ctx = _context()
    if if_empty and active_version(ctx.db):
        _emit({"version": active_version(ctx.db), "skipped": "a model is already active"})
        return
    result = train_service(
        ctx,
        data_path or ctx.settings.training_data,
        text_column=text_column,
        label_column=label_column,
        activate=activate,
        progress=_progress,
        feedback=collect(ctx) if from_feedback else None,
        outcomes=outcome_labels(ctx) if with_outcomes else None,
    )
    _emit(result)


@main.command()
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path), help="Labelled CSV.")
@click.option("--model", "version", default=None, help="Model version (default: the active one).")
@click.option("--text-column", default="text", show_default=True, help="Column holding the ticket text.")
@click.option("--label-column", default="category", show_default=True, help="Column holding the intent.")
@handles_errors
def evaluate(data_path: Path, version: str | None, text_column: str, label_column: str) -> None:
    """Accuracy, macro-F1, ECE, coverage at precision, per-intent figures and the precision/share curve, as JSON."""
    from .services.training import evaluate_file

    _emit(evaluate_file(_context(), data_path, version=version, text_column=text_column, label_column=label_column))


@main.command()
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path), help="CSV of texts.")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path), help="CSV to write.")
@click.option("--model", "version", default=None, help="Model version (default: the active one).")
@click.option("--text-column", default="text", show_default=True, help="Column holding the ticket text.")
@handles_errors
def predict(data_path: Path, out_path: Path, version: str | None, text_column: str) -> None:
    """Decide every row of a CSV and write intent, confidence, review and queue per row."""
    from .services.training import predict_file

    _emit(predict_file(_context(), data_path, out_path, version=version, text_column=text_column))


@main.group()
def models() -> None:
    """Model versions in the registry."""


@models.command("list")
@handles_errors
def models_list() -> None:
    """Versions with their held-out metrics and state; the active one is marked."""
    from .registry.versions import list_versions

    rows = list_versions(_context().db)
    if not rows:
        click.echo("no model versions; train one with `router train --activate`")
    for r in rows:
        m = r["metrics"]
        mark = "*" if r["state"] == "active" else " "
        click.echo(
            f"{mark} {r['version']}  {r['state']:<9}  accuracy={_figure(m.get('accuracy'))}  "
            f"macro_f1={_figure(m.get('macro_f1'))}  ece={_figure(m.get('ece'))}  rows={r['rows']}"
        )


def _figure(value: Any) -> str:
    """A metric as people read it: four decimals (``0.9114``), or ``-`` when the card has none."""
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def _promote(version: str, target: str, reason: str, force: bool, percent: float | None = None) -> None:
    from .services.lifecycle import promote

    result = promote(_context(), version, target, actor="cli", reason=reason, percent=percent, force=force)
    for gate in result["gate_report"]["gates"]:
        click.echo(f"{'PASS' if gate['passed'] else 'FAIL'} {gate['name']:<10} {gate['summary']}", err=True)
    _emit({k: result[k] for k in ("version", "state", "slots")})


_reason = click.option("--reason", default="", help="Why, for the audit log (required with --force).")
_force = click.option("--force", is_flag=True, help="Override failing gates; audited.")


@models.command("shadow")
@click.argument("version")
@_reason
@_force
@handles_errors
def models_shadow(version: str, reason: str, force: bool) -> None:
    """Gate VERSION, then let it score every ticket beside the active model."""
    _promote(version, "shadow", reason, force)


@models.command("canary")
@click.argument("version")
@click.option("--percent", required=True, type=float, help="Share of tickets it decides (0.01-50).")
@_reason
@_force
@handles_errors
def models_canary(version: str, percent: float, reason: str, force: bool) -> None:
    """Gate VERSION, then let it decide PERCENT % of tickets (by ticket id hash)."""
    _promote(version, "canary", reason, force, percent)


@models.command("activate")
@click.argument("version")
@_reason
@_force
@handles_errors
def models_activate(version: str, reason: str, force: bool) -> None:
    """Gate VERSION, then make it active (every worker follows within 2 s)."""
    _promote(version, "active", reason, force)


@models.command("rollback")
@_reason
@handles_errors
def models_rollback(reason: str) -> None:
    """Back to the version that was active before."""
    from .services.lifecycle import rollback

    _emit(rollback(_context(), actor="cli", reason=reason))


@models.command("retire")
@click.argument("version")
@_reason
@handles_errors
def models_retire(version: str, reason: str) -> None:
    """Take a shadow or canary version out of service."""
    from .services.lifecycle import retire

    _emit(retire(_context(), version, actor="cli", reason=reason))


@models.command("threshold")
@click.argument("version")
@click.option("--precision", type=float, default=None, help="New target precision (0.5-0.999); omit to show.")
@_reason
@handles_errors
def models_threshold(version: str, precision: float | None, reason: str) -> None:
    """Re-choose VERSION's thresholds for a target precision without retraining (every worker follows
    within 2 s, audited); without --precision, its operating point, curve and revisions."""
    from .services import thresholds

    if precision is None:
        _emit(thresholds.status(_context(), version))
    else:
        _emit(thresholds.retarget(_context(), version, precision, actor="cli", reason=reason))


@models.command("show")
@click.argument("version")
@handles_errors
def models_show(version: str) -> None:
    """A version's state, live statistics and latest gate report, as JSON."""
    from .services.model_info import describe, gate_reports

    ctx = _context()
    info = describe(ctx, version)
    info.pop("card")
    _emit({**info, "gate_reports": gate_reports(ctx, version)[:1]})


@models.command("audit")
@click.option("--limit", default=50, show_default=True, type=int, help="How many entries.")
@handles_errors
def models_audit(limit: int) -> None:
    """Model changes, newest first: time, actor, action, version, reason."""
    from .services.model_info import audit_log

    for e in audit_log(_context(), limit):
        click.echo(f"{e['at']:%Y-%m-%d %H:%M:%S}  {e['actor']:<10} {e['action']:<22} {e['target']}  {e['reason']}")


@models.command("lineage")
@click.argument("version")
@handles_errors
def models_lineage(version: str) -> None:
    """The chain of parents of VERSION with data fingerprints, code versions and gates."""
    from .services.model_info import lineage

    for step in lineage(_context(), version):
        gates = (
            ", ".join(
                f"{g['target']}:{'pass' if g['passed'] else 'FORCED' if g['forced'] else 'fail'}" for g in step["gates"]
            )
            or "no gates run"
        )
        click.echo(
            f"{step['version']}  data={str(step['training_data'])[:12]}  holdout={str(step['holdout'])[:12]}"
            f"  feedback={str(step['feedback'])[:12]}  code={str(step['code_version'])[:10]}  {gates}"
        )


@models.command("watch")
@handles_errors
def models_watch() -> None:
    """Check the guardrails of versions in their watch window now; roll back on a breach."""
    from .services.model_watch import watch

    _emit({"breaches": watch(_context())})


@models.command("upload")
@click.option("--artefact", required=True, type=click.Path(path_type=Path), help="model.joblib")
@click.option("--card", required=True, type=click.Path(path_type=Path), help="card.json")
@handles_errors
def models_upload(artefact: Path, card: Path) -> None:
    """Register an artefact produced elsewhere as a candidate, after it loads in a separate process."""
    from .services.lifecycle import upload

    with artefact.open("rb") as fh:
        _emit(upload(_context(), fh, json.loads(card.read_text()), actor="cli"))


@main.group()
def tokens() -> None:
    """API tokens."""


@tokens.command("create")
@click.option(
    "--role", required=True, type=click.Choice(["admin", "reviewer", "viewer", "ingest"]), help="What the token may do."
)
@click.option("--name", default="", help="Who or what holds it.")
@handles_errors
def tokens_create(role: str, name: str) -> None:
    """Create a bearer token; it is printed once and only its hash is stored."""
    from .auth import create_token

    click.echo(create_token(_context().db, role, name))


@main.group()
def db() -> None:
    """The database."""


@db.command("upgrade")
@handles_errors
def db_upgrade() -> None:
    """Apply the Alembic migrations (run by every command anyway)."""
    settings = load_settings()
    upgrade(settings.database_url)
    click.echo(f"database at {settings.database_url.split('@')[-1]} is up to date")


@main.group()
def rules() -> None:
    """Routing rule sets."""


def _read(path: Path) -> str:
    if not path.is_file():
        raise RouterError(f"no such file: {path}")
    return path.read_text()


@rules.command("validate")
@click.argument("file", type=click.Path(path_type=Path))
@handles_errors
def rules_validate(file: Path) -> None:
    """Check a rule set file completely: shape, expressions, queues and every example."""
    from .services.rules import validate_text

    ctx = _context()
    ruleset = validate_text(_read(file), ctx.rule_functions, ctx.predictor())
    examples = sum(len(r.examples) for r in ruleset.rules)
    _emit({"valid": True, "version": ruleset.version, "rules": len(ruleset.rules), "examples": examples})


@rules.command("dry-run")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--limit", default=1000, show_default=True, type=int, help="How many recent tickets to replay.")
@handles_errors
def rules_dry_run(file: Path, limit: int) -> None:
    """Replay recent stored tickets through FILE and report the decisions that would change."""
    from .routing.ruleset import parse_ruleset
    from .services.rules import dry_run

    ctx = _context()
    proposed = parse_ruleset(_read(file), functions=ctx.rule_functions)
    _emit(dry_run(ctx, ctx.ruleset(), proposed, limit))


@rules.command("test", context_settings={"ignore_unknown_options": True})
@click.option("--router-model", default=None, help="Model version to test (default: the active one).")
@click.option(
    "--router-rules",
    type=click.Path(path_type=Path),
    default=None,
    help="Rule set file to test (default: rules/default.yaml).",
)
@click.option(
    "--contracts",
    type=click.Path(path_type=Path),
    default=None,
    help="Contract tests directory (default: fixtures/contracts).",
)
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def rules_test(
    router_model: str | None, router_rules: Path | None, contracts: Path | None, pytest_args: tuple[str, ...]
) -> None:
    """Run the rules' examples and the contract suite; prints a JSON summary, exits non-zero on failure."""
    from .config import REPO_ROOT
    from .testing.run import run_contracts

    rules_file = router_rules or load_settings().rules_file
    summary = run_contracts(
        rules_file=Path(rules_file),
        contracts=contracts or REPO_ROOT / "fixtures" / "contracts",
        model=router_model,
        extra_args=list(pytest_args),
    )
    _emit(summary)
    sys.exit(0 if summary["ok"] else 1)


@main.group()
def plugins() -> None:
    """Plugins."""


@plugins.command("list")
@handles_errors
def plugins_list() -> None:
    """Every plugin loaded, where from, with which hooks (and why one failed to load)."""
    ctx = _context()
    for info in ctx.plugins.infos:
        status = f"FAILED: {info.error}" if info.error else ", ".join(info.hooks) or "no hooks"
        click.echo(f"{info.name:<22} {info.origin}\n{'':<22} {status}")


from . import (  # noqa: E402 - these modules attach their command groups to `main`
    cli_deliveries,  # noqa: F401 - `router deliveries`
    cli_monitoring,  # noqa: F401 - `router drift`, `router jobs`
    cli_outcomes,  # noqa: F401 - `router outcomes`
    cli_review,  # noqa: F401 - `router review`
    cli_tokens,  # noqa: F401 - `router tokens list`, `router tokens revoke`
)
