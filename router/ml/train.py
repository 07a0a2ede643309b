"""Training pipeline: split, fit, choose thresholds, evaluate — one call, one artefact.

The stratified hold-out split never touches the classifier or the thresholds: calibration and
threshold choice use the out-of-fold predictions of internal cross-validation
(:meth:`IntentClassifier.fit_oof`), so the hold-out gives honest metrics for the card and the
quality gate.  Tiny data sets without calibration folds choose their thresholds on the hold-out.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from router.errors import TrainingDataError
from router.ml.classifier import IntentClassifier
from router.ml.data import fingerprint_rows
from router.ml.evaluate import evaluate
from router.ml.model import RouterModel
from router.ml.novelty import NoveltyDetector, reference_arrays
from router.ml.thresholds import (
    CURVE_TARGETS,
    DEFAULT_AMBIGUITY_MARGIN,
    DEFAULT_INTENT_FLOOR,
    OutOfFold,
    ThresholdChoice,
    choose,
    precision_curve,
    reason_value,
)

Progress = Callable[[str], None]

#: share of the labelled rows held out for the card's metrics and the quality gate.  0.10 rather than
#: 0.15: the classifier and its out-of-fold thresholds get 6 % more rows (BANKING77: test share
#: auto-routed at 0.97 87.9 % -> 88.4 %, out-of-fold 85.0 % -> 86.5 %), and 1,000 held-out rows
#: still measure accuracy to about +-1.8 points (95 %).
DEFAULT_HOLDOUT_FRACTION = 0.10


@dataclass
class TrainResult:
    """What a training run produced, and how it scored on its own hold-out."""

    model: RouterModel
    metrics: dict[str, Any]  # evaluate() on the hold-out, with the chosen thresholds
    holdout_texts: list[str]
    holdout_labels: list[str]
    holdout_fingerprint: str
    params: dict[str, Any]  # the classifier's get_params(), JSON-safe
    train_seconds: float
    #: the drift checks' reference: held-out features (float32 arrays), see novelty.reference_arrays,
    #: plus ``label_prior``: the intents' shares of the labelled rows, in ``model.classes`` order
    reference: dict[str, np.ndarray] | None = None
    #: how the thresholds were chosen (:func:`threshold_summary`), JSON-safe, for the card
    threshold_choice: dict[str, Any] | None = None
    #: target precision against expected auto-routed share (:func:`thresholds.precision_curve`)
    precision_curve: list[dict[str, float]] | None = None


def json_safe_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``get_params()`` output with tuples as lists and numpy scalars as Python numbers."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def _split(
    texts: list[str], labels: list[str], holdout_fraction: float, random_state: int | None
) -> tuple[list[str], list[str], list[str], list[str]]:
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be between 0 and 1, got {holdout_fraction}")
    counts = Counter(labels)
    n_hold = int(np.ceil(holdout_fraction * len(labels)))
    problems: list[str] = []
    rare = sorted(lab for lab, n in counts.items() if n < 2)
    if rare:
        problems.append(f"intents with a single example cannot be split: {', '.join(rare[:20])}")
    if len(counts) < 2:
        problems.append("need at least two different intents")
    if n_hold < len(counts) or len(labels) - n_hold < len(counts):
        problems.append(
            f"{len(labels)} rows are too few for a stratified {holdout_fraction:.0%} hold-out "
            f"over {len(counts)} intents"
        )
    if problems:
        raise TrainingDataError("cannot make a hold-out split: " + "; ".join(problems), errors=problems)
    tr_x, ho_x, tr_y, ho_y = train_test_split(
        texts, labels, test_size=holdout_fraction, stratify=labels, random_state=random_state
    )
    return list(tr_x), list(ho_x), list(tr_y), list(ho_y)


def train_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    target_precision: float = 0.97,
    intent_floor: float = DEFAULT_INTENT_FLOOR,
    holdout_fraction: float = DEFAULT_HOLDOUT_FRACTION,
    random_state: int | None = 0,
    params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    ambiguity_margin: float = DEFAULT_AMBIGUITY_MARGIN,
    train_only: tuple[Sequence[str], Sequence[str]] | None = None,
) -> TrainResult:
    """Train a :class:`RouterModel` on normalised ``texts``/``labels``.

    Steps: stratified hold-out split, fit :class:`IntentClassifier` (``params`` override its
    defaults; ``random_state`` is used unless ``params`` sets one), choose per-intent thresholds
    on its out-of-fold predictions (overall ``target_precision``, ``intent_floor`` per intent),
    keep the ambiguity rule where it buys precision (the novel rule always), evaluate on the hold-out.
    ``progress`` receives step names.
    ``train_only`` rows (texts, labels) join the training part after the split and are never
    held out (reviewed tickets must not be evaluated on).
    """
    say = progress or (lambda _step: None)
    texts, labels = [str(t) for t in texts], [str(lab) for lab in labels]
    if len(texts) != len(labels):
        raise TrainingDataError(
            f"got {len(texts)} texts but {len(labels)} labels", errors=["texts and labels differ in length"]
        )
    start = time.perf_counter()
    say("splitting")
    tr_x, ho_x, tr_y, ho_y = _split(texts, labels, holdout_fraction, random_state)
    n_split_train = len(tr_x)
    if train_only is not None:
        extra_x, extra_y = [str(t) for t in train_only[0]], [str(lab) for lab in train_only[1]]
        if len(extra_x) != len(extra_y):
            raise TrainingDataError(
                f"got {len(extra_x)} train-only texts but {len(extra_y)} labels",
                errors=["train-only texts and labels differ in length"],
            )
        tr_x, tr_y = tr_x + extra_x, tr_y + extra_y

    clf_params = {"random_state": random_state, **dict(params or {})}
    try:
        clf = IntentClassifier(**clf_params)
    except TypeError as exc:
        raise TrainingDataError(f"invalid classifier parameters: {exc}", errors=[str(exc)]) from exc
    oof_proba = clf.fit_oof(tr_x, tr_y, progress=say)
    say("novelty")
    novelty = NoveltyDetector(clf).fit(tr_x).calibrate(ho_x)

    say("thresholds")
    proba = clf.predict_proba(ho_x)
    holdout = OutOfFold.from_proba(np.searchsorted(clf.classes_, ho_y), proba, novelty.score_proba(proba))
    if oof_proba is not None:
        # reviewed train-only rows are hard cases picked by people, not a sample of the traffic
        oof_proba = oof_proba[:n_split_train]
        y_idx = np.searchsorted(clf.classes_, tr_y[:n_split_train])
        evidence, source = OutOfFold.from_proba(y_idx, oof_proba, novelty.score_proba(oof_proba)), "out_of_fold"
    else:
        evidence, source = holdout, "holdout"
    choice = choose(evidence, clf.classes_, target_precision, intent_floor)
    rules = keep_reasons(evidence, clf.classes_, choice, ambiguity_margin, novelty.threshold)

    say("evaluating")
    metrics = evaluate(ho_y, proba, clf.classes_, thresholds=choice.thresholds, default_threshold=choice.default)
    model = RouterModel(
        clf,
        thresholds=choice.thresholds,
        default_threshold=choice.default,
        ambiguity_margin=ambiguity_margin if rules["ambiguous"]["kept"] else 0.0,
        target_precision=target_precision,
        novelty_detector=novelty,
        intent_floor=intent_floor,
        novel_review=bool(rules["novel"]["kept"]),
        out_of_fold=evidence,
    )
    return TrainResult(
        model=model,
        metrics=metrics,
        holdout_texts=ho_x,
        holdout_labels=ho_y,
        holdout_fingerprint=fingerprint_rows(ho_x, ho_y),
        params=json_safe_params(clf.get_params()),
        train_seconds=round(time.perf_counter() - start, 3),
        reference={**reference_arrays(model, ho_x), "label_prior": _label_prior(labels, clf.classes_)},
        threshold_choice=threshold_summary(choice, source, len(evidence), rules),
        precision_curve=precision_curve(evidence, clf.classes_, CURVE_TARGETS, intent_floor, evaluation=holdout),
    )


def keep_reasons(
    evidence: OutOfFold,
    classes: Sequence[str],
    choice: ThresholdChoice,
    ambiguity_margin: float,
    novelty_threshold: float,
) -> dict[str, dict[str, Any]]:
    """What ``ambiguous`` and ``novel`` add to ``low_confidence`` on ``evidence``, and whether each is kept.

    ``ambiguous`` is dropped when the tickets only it sends to review are at least as precise as
    the target: it would cost people's time without buying precision; flagging none of them, it
    costs nothing and stays.  ``novel`` always stays: it is there for intents the model was never
    taught, which no known-intent evidence can show (``bench/novelty.py`` measures it on intents
    held out of training); what it costs on known intents is reported beside it.
    """
    value = reason_value(evidence, choice.as_array(classes), ambiguity_margin, novelty_threshold)
    out: dict[str, dict[str, Any]] = {"low_confidence": value["low_confidence"]}
    for name in ("ambiguous", "novel"):
        entry = value.get(name, {"extra": 0, "extra_precision": 0.0})
        buys = name == "novel" or entry["extra"] == 0 or entry["extra_precision"] < choice.target_precision
        out[name] = {**entry, "kept": bool(buys)}
    return out


def threshold_summary(
    choice: ThresholdChoice, source: str, rows: int, rules: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The card's record of a threshold choice (JSON-safe)."""
    return {
        "method": "per-intent recalibrated confidence, one cutoff, per-intent floor",
        "source": source,
        "rows": int(rows),
        "target_precision": choice.target_precision,
        "intent_floor": choice.intent_floor,
        "default": round(choice.default, 6),
        "expected_share": round(choice.expected_share, 4),
        "expected_precision": round(choice.expected_precision, 4),
        "raised_by_floor": choice.raised,
        "reasons": {
            k: {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in v.items()} for k, v in rules.items()
        },
    }


def _label_prior(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Each intent's share of the labelled rows (train and hold-out; reviewed train-only rows lean
    low-confidence and are left out): the intent mix the drift checks expect."""
    counts = Counter(labels)
    prior = np.array([counts[c] for c in classes], dtype=np.float64)
    return (prior / max(1.0, prior.sum())).astype(np.float32)
