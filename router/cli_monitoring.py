"""``router drift`` and ``router jobs``: monitoring from the command line (attached to ``router`` in cli.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import click

from .cli import _context, _emit, handles_errors, main
from .errors import TrainingDataError


def _texts(path: Path, column: str) -> list[str]:
    from .ml.normalize import normalize_text

    if not path.is_file():
        raise TrainingDataError(f"no such file: {path}", errors=[f"{path} does not exist"])
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if column not in (reader.fieldnames or []):
            raise TrainingDataError(
                f"{path}: no column {column!r}; found {', '.join(reader.fieldnames or [])}",
                errors=[{"missing_columns": [column]}],
            )
        return [normalize_text(r[column] or "") for r in reader]


@main.group()
def drift() -> None:
    """Drift checks, references and reports."""


@drift.command("check")
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    default=None,
    help="CSV window to check (default: the last ROUTER_DRIFT_WINDOW stored decisions).",
)
@click.option("--model", "version", default=None, help="Model version (default: the active one).")
@click.option("--text-column", default="text", show_default=True, help="Column holding the ticket text.")
@handles_errors
def drift_check(data_path: Path | None, version: str | None, text_column: str) -> None:
    """Run every drift detector now; prints one JSON object with is_drift and each detector's result."""
    from .monitoring import service

    ctx = _context()
    texts = _texts(data_path, text_column) if data_path else None
    source = f"file:{data_path.name}" if data_path else "decisions"
    _emit(service.check(ctx, texts, version=version, source=source))


@drift.command("history")
@click.option("--limit", default=20, show_default=True, type=int, help="How many checks.")
@handles_errors
def drift_history(limit: int) -> None:
    """Stored drift checks, newest first, one line each."""
    from .monitoring import service

    for r in service.history(_context(), limit):
        fired = [n for n, d in r["detectors"].items() if d["data"]["is_drift"]]
        acc = (r.get("estimate") or {}).get("expected_accuracy")
        cost = f"expected accuracy {100 * acc['window']:.1f} % ({acc['change_points']:+.1f})  " if acc else ""
        click.echo(
            f"{r['at']:%Y-%m-%d %H:%M:%S}  #{r['id']:<5} {r['model_version']}  window={r['window_size']:<5} "
            f"{r['severity']:<8}  {cost}{', '.join(fired)}"
        )


@drift.command("pin")
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    default=None,
    help="CSV window to pin (default: the last --last stored decisions).",
)
@click.option("--last", default=None, type=int, help="How many recent decisions (default ROUTER_DRIFT_WINDOW).")
@click.option("--model", "version", default=None, help="Model version (default: the active one).")
@click.option("--text-column", default="text", show_default=True, help="Column holding the ticket text.")
@click.option("--reason", default="", help="Why, for the record.")
@handles_errors
def drift_pin(data_path: Path | None, last: int | None, version: str | None, text_column: str, reason: str) -> None:
    """Pin a production window as the model's drift reference instead of its held-out sample."""
    from .monitoring import service

    ctx = _context()
    texts = _texts(data_path, text_column) if data_path else None
    _emit(
        service.pin_reference(
            ctx,
            actor="cli",
            reason=reason,
            texts=texts,
            version=version,
            last=last,
            source=f"file:{data_path.name}" if data_path else None,
        )
    )


@drift.command("unpin")
@click.option("--model", "version", default=None, help="Model version (default: the active one).")
@handles_errors
def drift_unpin(version: str | None) -> None:
    """Go back to the held-out sample kept with the model as the drift reference."""
    from .monitoring import service

    _emit(service.unpin_reference(_context(), version=version))


@drift.command("report")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path), help="HTML file to write.")
@click.option("--days", default=14, show_default=True, type=int, help="How far back.")
@handles_errors
def drift_report(out_path: Path, days: int) -> None:
    """Render drift history, intent mix and confidence histograms as one self-contained HTML page."""
    from .monitoring.report import write_report

    _emit(write_report(_context(), out_path, days=days))


@drift.command("calibration")
@click.option("--weeks", default=8, show_default=True, type=int, help="How far back.")
@handles_errors
def drift_calibration(weeks: int) -> None:
    """Accuracy and ECE from reviewed tickets per model version and week, and the expected accuracy."""
    from .monitoring import calibration

    _emit(calibration.report(_context(), weeks))


@main.group()
def jobs() -> None:
    """Scheduled monitoring jobs."""


@jobs.command("list")
@handles_errors
def jobs_list() -> None:
    """Declared jobs with their period and latest runs (which process ran them, how it went)."""
    from .monitoring.scheduler import job_status

    for job in job_status(_context(), limit=3):
        last = job["runs"][0] if job["runs"] else None
        status = (
            f"last {last['status']} at {last['started_at']:%Y-%m-%d %H:%M:%S} by {last['holder']}"
            if last
            else "never run"
        )
        click.echo(f"{job['id']:<26} every {job['interval_s']:>6g} s  {status}\n{'':<26} {job['description']}")


@jobs.command("run")
@click.argument("job_id")
@handles_errors
def jobs_run(job_id: str) -> None:
    """Run one job now (through the lease: it does nothing if another process holds this run)."""
    from .monitoring.jobs import by_id
    from .monitoring.scheduler import run_job

    try:
        spec = by_id(job_id)
    except KeyError:
        raise click.BadParameter(f"unknown job {job_id!r}", param_hint="JOB_ID") from None
    result = run_job(_context(), spec)
    _emit({"job": job_id, "ran": result is not None, "result": result})
