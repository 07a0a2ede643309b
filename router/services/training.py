"""Train, evaluate and batch-predict: the work behind ``router train|evaluate|predict``."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..context import Context
from ..errors import NotFound, TrainingDataError, ValidationError
from ..ml.data import load_training_csv
from ..ml.evaluate import evaluate
from ..ml.normalize import normalize_text
from ..ml.thresholds import CURVE_TARGETS, OutOfFold, label_indices, precision_curve
from ..ml.train import train_model
from ..registry import thresholds as threshold_revisions
from ..registry import versions
from ..registry.runtime import Loaded
from ..registry.store import code_version, new_version_id
from ..review.feedback import FeedbackSet, describe, merge
from .decide import decide_batch

Progress = Callable[[str], None]


def train(
    ctx: Context,
    data_path: Path,
    *,
    text_column: str = "text",
    label_column: str = "category",
    activate: bool = False,
    actor: str = "cli",
    progress: Progress | None = None,
    feedback: FeedbackSet | None = None,
    outcomes: FeedbackSet | None = None,
) -> dict[str, Any]:
    """Validate the data, fit, register a new version (and make it active when asked).

    ``feedback`` (reviewer labels) is merged by :func:`router.review.feedback.merge`: its rows
    train but are never held out, and its conflicts are reported through ``progress``, in the
    result and in the card's ``feedback`` section (with the feedback set's own fingerprint).
    """
    say = progress or (lambda _msg: None)
    say(f"reading {data_path}")
    data = load_training_csv(data_path, text_column=text_column, label_column=label_column)
    texts, labels, train_only, merged = data.texts, data.labels, None, None
    if feedback is not None:
        merged = merge(feedback, data.texts, data.labels)
        texts, labels = merged.split_texts, merged.split_labels
        train_only = (merged.train_only_texts, merged.train_only_labels)
        say(f"feedback: {merged.summary['rows']} reviewed rows added, {merged.summary['left_out']} labels left out")
        for conflict in merged.conflicts:
            say(f"feedback conflict: {describe(conflict)}")
    from_agents = None
    if outcomes is not None:
        # agents' labels never override a reviewer's: texts reviewers labelled are dropped first
        reviewed = {normalize_text(lab.text).casefold() for lab in (feedback.labels if feedback else [])}
        kept = FeedbackSet([lab for lab in outcomes.labels if normalize_text(lab.text).casefold() not in reviewed])
        from_agents = merge(kept, texts, labels)
        from_agents.summary["source"] = "agent"
        from_agents.summary["skipped_reviewed"] = len(outcomes.labels) - len(kept.labels)
        texts, labels = from_agents.split_texts, from_agents.split_labels
        before = train_only or ([], [])
        train_only = (before[0] + from_agents.train_only_texts, before[1] + from_agents.train_only_labels)
        say(
            f"outcomes: {from_agents.summary['rows']} agent-labelled rows added, "
            f"{from_agents.summary['left_out']} left out, {from_agents.summary['skipped_reviewed']} reviewed"
        )
        for conflict in from_agents.conflicts:
            say(f"outcome conflict: {describe(conflict)}")
    say(f"{data.n_rows} rows, {len(data.label_counts)} intents; training")
    result = train_model(
        texts,
        labels,
        target_precision=ctx.settings.target_precision,
        intent_floor=ctx.settings.intent_precision_floor,
        progress=say,
        train_only=train_only,
    )
    parent = versions.active_version(ctx.db)
    identity = data.fingerprint
    if merged is not None:
        identity = hashlib.sha256(f"{data.fingerprint}:{merged.summary['fingerprint']}".encode()).hexdigest()
    if from_agents is not None:
        identity = hashlib.sha256(f"{identity}:{from_agents.summary['fingerprint']}".encode()).hexdigest()
    version = new_version_id(identity)
    card = {
        "created_at": datetime.now(UTC).isoformat(),
        "training_data": {
            "path": str(data_path),
            "fingerprint": data.fingerprint,
            "rows": data.n_rows,
            "label_counts": data.label_counts,
        },
        "holdout": {"fingerprint": result.holdout_fingerprint, "rows": len(result.holdout_texts)},
        "labels": sorted(data.label_counts),
        "params": result.params,
        "metrics": result.metrics,
        "thresholds": result.model.thresholds,
        "target_precision": ctx.settings.target_precision,
        "intent_precision_floor": ctx.settings.intent_precision_floor,
        "threshold_choice": result.threshold_choice,
        "precision_curve": result.precision_curve,
        "train_seconds": round(result.train_seconds, 2),
        "parent": parent,
        "code_version": code_version(),
    }
    if merged is not None:
        card["feedback"] = merged.summary
    if from_agents is not None:
        card["outcomes"] = from_agents.summary
    say(f"saving model version {version}")
    card = ctx.store.save(
        version, result.model, card, holdout=(result.holdout_texts, result.holdout_labels), reference=result.reference
    )
    versions.register(ctx.db, card, actor=actor)
    if activate:
        from .lifecycle import activate_ungated, promote

        if parent is None:  # a new installation: nothing to compare with or protect
            activate_ungated(ctx.db, version, actor=actor, reason="first model, trained with --activate")
        else:
            promote(ctx, version, "active", actor=actor, reason="trained with --activate")
    out: dict[str, Any] = {"version": version, "active": activate, "metrics": _headline(result.metrics)}
    if merged is not None:
        summary = {k: merged.summary[k] for k in ("fingerprint", "rows", "left_out", "conflict_count")}
        out["feedback"] = {**summary, "conflicts": merged.conflicts}
    if from_agents is not None:
        summary = {k: from_agents.summary[k] for k in ("fingerprint", "rows", "left_out", "conflict_count")}
        out["outcomes"] = {**summary, "conflicts": from_agents.conflicts}
    return out


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "per_intent"}


def _model(ctx: Context, version: str | None) -> tuple[str, Any]:
    version = version or versions.active_version(ctx.db)
    if version is None:
        raise NotFound("no active model; train one with `router train --activate` or pass --model")
    model = ctx.store.load(version)
    with ctx.db.session() as s:  # the thresholds the workers route with (an admin may have changed them)
        return version, threshold_revisions.as_served(s, version, model)


def _read_rows(path: Path, text_column: str, label_column: str | None) -> list[dict[str, str]]:
    if not Path(path).is_file():
        raise TrainingDataError(f"no such file: {path}", errors=[f"{path} does not exist"])
    with Path(path).open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        needed = [text_column] + ([label_column] if label_column else [])
        missing = [c for c in needed if c not in columns]
        if missing:
            raise TrainingDataError(
                f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(columns) or 'none'}",
                errors=[{"missing_columns": missing, "found": columns}],
            )
        return list(reader)


def _tickets(rows: list[dict[str, str]], text_column: str) -> list[dict[str, Any] | None]:
    """Each row as the service would take it from ``{"id": row number, "body": text}``; None when no words."""
    from .intake import _normalised

    out: list[dict[str, Any] | None] = []
    for i, row in enumerate(rows, start=1):
        try:
            out.append(_normalised("csv", {"id": str(i), "body": row[text_column] or ""}))
        except ValidationError:
            out.append(None)
    return out


def _decisions(
    ctx: Context, version: str, model: Any, tickets: list[dict[str, Any] | None], explain: bool = True
) -> list[dict[str, Any] | None]:
    """The service's decision for each ticket (model, rule set in force, rule functions, plugins)."""
    present = [t for t in tickets if t is not None]
    decided = iter(decide_batch(ctx, present, Loaded(version, model), explain=explain))
    return [next(decided) if t is not None else None for t in tickets]


def routing_figures(decisions: list[dict[str, Any] | None]) -> dict[str, Any]:
    """How the decided rows would be routed: review share and reasons, queues, escalations."""
    decided = [d for d in decisions if d is not None]
    reasons: Counter[str] = Counter(r for d in decided for r in d["review_reasons"])
    return {
        "decided": len(decided),
        "no_text": len(decisions) - len(decided),
        "needs_review": sum(d["needs_review"] for d in decided),
        "review_reasons": dict(reasons.most_common()),
        "escalated": sum(d["escalation"] is not None for d in decided),
        "queues": dict(Counter(d["queue"] for d in decided).most_common()),
    }


def evaluate_file(
    ctx: Context,
    data_path: Path,
    *,
    version: str | None = None,
    text_column: str = "text",
    label_column: str = "category",
) -> dict[str, Any]:
    version, model = _model(ctx, version)
    rows = _read_rows(data_path, text_column, label_column)
    texts = [normalize_text(r[text_column] or "") for r in rows]
    labels = [r[label_column] for r in rows]
    proba = model.predict_proba(texts)
    report = evaluate(labels, proba, model.classes, thresholds=model.thresholds)
    decisions = _decisions(ctx, version, model, _tickets(rows, text_column), explain=False)
    return {
        "model_version": version,
        "rows": len(texts),
        **report,
        **_curve(model, labels, proba),
        "routing": routing_figures(decisions),
    }


def _curve(model: Any, labels: list[str], proba: Any) -> dict[str, Any]:
    """The trade-off an admin chooses from: for each target precision, the thresholds the version's
    out-of-fold predictions give, their expected auto-routed share, and what they do on these rows."""
    oof = getattr(model, "out_of_fold", None)
    if oof is None:  # artefacts trained before thresholds were chosen out of fold
        return {"precision_curve": None}
    held = OutOfFold.from_proba(label_indices(labels, model.classes), proba)
    return {
        "operating_point": {"target_precision": model.target_precision, "intent_floor": model.intent_floor},
        "precision_curve": precision_curve(oof, model.classes, CURVE_TARGETS, model.intent_floor, evaluation=held),
    }


PREDICT_COLUMNS = (
    "text",
    "intent",
    "confidence",
    "needs_review",
    "review_reasons",
    "queue",
    "priority",
    "escalation",
    "tags",
)


def predict_file(
    ctx: Context, data_path: Path, out_path: Path, *, version: str | None = None, text_column: str = "text"
) -> dict[str, Any]:
    """Decide every row as the service would decide ``{"body": text}`` and write one CSV row each."""
    version, model = _model(ctx, version)
    rows = _read_rows(data_path, text_column, None)
    tickets = _tickets(rows, text_column)
    decisions = _decisions(ctx, version, model, tickets)
    tmp = Path(out_path).with_name(f".{Path(out_path).name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(PREDICT_COLUMNS)
        for ticket, d in zip(tickets, decisions, strict=True):
            if ticket is None or d is None:
                writer.writerow(["", "", "", "", "no_text", "", "", "", ""])
                continue
            writer.writerow(
                [
                    ticket["text"],
                    d["intent"],
                    f"{d['confidence']:.4f}",
                    str(d["needs_review"]).lower(),
                    ";".join(d["review_reasons"]),
                    d["queue"],
                    d["priority"],
                    (d["escalation"] or {}).get("team", ""),
                    ";".join(d["tags"]),
                ]
            )
    tmp.replace(out_path)
    figures = routing_figures(decisions)
    return {
        "model_version": version,
        "rows": len(rows),
        "needs_review": figures["needs_review"],
        "no_text": figures["no_text"],
        "out": str(out_path),
    }
