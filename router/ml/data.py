"""Loading and validating labelled training data from CSV.

Validation collects *every* problem before raising one :class:`~router.errors.TrainingDataError`
so a user can fix the file in one go.  Texts are normalised with
:func:`router.ml.normalize.normalize_text` on load, exactly as tickets are at prediction time.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.errors import TrainingDataError
from router.ml.normalize import normalize_text

#: Cap on how many row numbers / conflicts are listed per problem (the count is always given).
MAX_LISTED = 50


@dataclass(frozen=True)
class TrainingData:
    """Validated, normalised training rows plus an identity fingerprint."""

    texts: list[str]
    labels: list[str]
    fingerprint: str
    n_rows: int
    label_counts: dict[str, int] = field(default_factory=dict)


def fingerprint_rows(texts: Sequence[str], labels: Sequence[str]) -> str:
    """SHA-256 over normalised ``(text, label)`` rows in sorted order (row order does not matter)."""
    if len(texts) != len(labels):
        raise ValueError("texts and labels must have the same length")
    rows = sorted(
        json.dumps([normalize_text(t), str(lab).strip()], ensure_ascii=False)
        for t, lab in zip(texts, labels, strict=True)
    )
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _read_rows(path: Path, text_column: str, label_column: str) -> list[tuple[int, str, str]]:
    """``(line_number, raw_text, raw_label)`` per data row; raises for unreadable files/headers."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise TrainingDataError(
            f"training file not found: {path}", errors=[{"problem": "file_missing", "path": str(path)}]
        ) from exc
    except OSError as exc:
        raise TrainingDataError(
            f"cannot read training file {path}: {exc.strerror or exc}",
            errors=[{"problem": "file_unreadable", "path": str(path), "detail": str(exc)}],
        ) from exc
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in (text_column, label_column) if c not in header]
            if missing:
                raise TrainingDataError(
                    f"training file {path.name} lacks column(s) {', '.join(missing)}; "
                    f"it has: {', '.join(header) if header else '(no header row)'}",
                    errors=[{"problem": "missing_columns", "missing": missing, "found": list(header)}],
                )
            return [(reader.line_num, row.get(text_column) or "", row.get(label_column) or "") for row in reader]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise TrainingDataError(
                f"training file {path.name} is not valid UTF-8 CSV: {exc}",
                errors=[{"problem": "file_unreadable", "path": str(path), "detail": str(exc)}],
            ) from exc


def validate_rows(
    lines: Sequence[int], texts: Sequence[str], labels: Sequence[str], min_examples: int = 5
) -> list[dict[str, Any]]:
    """All problems in already-normalised rows (empty list: the data is usable)."""
    problems: list[dict[str, Any]] = []
    empty_text = [ln for ln, t in zip(lines, texts, strict=True) if not t]
    if empty_text:
        problems.append(
            {
                "problem": "empty_text",
                "message": f"{len(empty_text)} row(s) have an empty text (after normalisation)",
                "lines": empty_text[:MAX_LISTED],
                "count": len(empty_text),
            }
        )
    empty_label = [ln for ln, lab in zip(lines, labels, strict=True) if not lab]
    if empty_label:
        problems.append(
            {
                "problem": "empty_label",
                "message": f"{len(empty_label)} row(s) have an empty label",
                "lines": empty_label[:MAX_LISTED],
                "count": len(empty_label),
            }
        )
    counts = Counter(lab for lab in labels if lab)
    rare = {lab: n for lab, n in sorted(counts.items()) if n < min_examples}
    if rare:
        problems.append(
            {
                "problem": "too_few_examples",
                "message": f"{len(rare)} label(s) have fewer than {min_examples} examples: "
                + ", ".join(f"{lab} ({n})" for lab, n in rare.items()),
                "labels": rare,
                "min_examples": min_examples,
            }
        )
    if len(counts) == 1:
        problems.append({"problem": "single_label", "message": "need at least two different labels"})
    by_text: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for ln, t, lab in zip(lines, texts, labels, strict=True):
        if t and lab:
            by_text[t.casefold()][lab].append(ln)
    conflicts = [
        {"text": key, "labels": {lab: lns for lab, lns in sorted(labs.items())}}
        for key, labs in by_text.items()
        if len(labs) > 1
    ]
    if conflicts:
        problems.append(
            {
                "problem": "conflicting_labels",
                "message": f"{len(conflicts)} identical text(s) carry different labels, e.g. "
                + repr(conflicts[0]["text"])
                + " -> "
                + ", ".join(conflicts[0]["labels"]),
                "conflicts": conflicts[:MAX_LISTED],
                "count": len(conflicts),
            }
        )
    return problems


def load_training_csv(
    path: str | Path, text_column: str = "text", label_column: str = "category", min_examples: int = 5
) -> TrainingData:
    """Read, normalise and validate a ``text,label`` CSV; raises :class:`TrainingDataError`.

    Line numbers in problems are file line numbers (the header is line 1).  Identical texts
    are compared after normalisation and case-folding, since the model lower-cases anyway.
    """
    path = Path(path)
    rows = _read_rows(path, text_column, label_column)
    lines = [ln for ln, _, _ in rows]
    texts = [normalize_text(t) for _, t, _ in rows]
    labels = [lab.strip() for _, _, lab in rows]
    problems = validate_rows(lines, texts, labels, min_examples)
    if not rows:
        problems.insert(0, {"problem": "no_rows", "message": f"{path.name} has a header but no data rows"})
    if problems:
        summary = "; ".join(p["message"] for p in problems)
        raise TrainingDataError(f"training data in {path.name} is invalid: {summary}", errors=problems)
    return TrainingData(
        texts=texts,
        labels=labels,
        fingerprint=fingerprint_rows(texts, labels),
        n_rows=len(texts),
        label_counts=dict(sorted(Counter(labels).items())),
    )
