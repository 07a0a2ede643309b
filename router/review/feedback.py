"""Reviewer labels as training data: merged with the base data, conflicts reported, never held out.

The rule, applied to texts compared the way training data is (normalised, case-folded):

- reviewers disagree on a text (same ticket or identical texts of different tickets): every
  label of that text is left out and listed as a ``reviewers`` conflict;
- the reviewers' intent is not an intent of the base data: left out, listed as ``unknown_label``
  (one example cannot teach a new intent, and the hold-out could not measure it);
- the base data has the same text with another label: the feedback row is left out and listed as
  a ``base_data`` conflict; the base data is the reference until someone fixes it;
- otherwise the text becomes one training row (agreeing reviewers count once).

Every reviewed text, used or left out, trains only: base rows with a reviewed text are moved out
of the rows the stratified hold-out is drawn from, so no reviewed ticket is evaluated on.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..context import Context
from ..ml.data import MAX_LISTED, fingerprint_rows
from ..ml.normalize import normalize_text
from .export import label_rows

RULE = (
    "conflicting or unknown-intent feedback is left out and listed; "
    "base rows whose text was reviewed train but are never held out"
)


@dataclass(frozen=True)
class FeedbackLabel:
    text: str
    intent: str
    reviewer: str
    ticket: str  # "source/id", to name it in reports


@dataclass(frozen=True)
class FeedbackSet:
    """Every reviewer label, as read from the database."""

    labels: list[FeedbackLabel] = field(default_factory=list)


@dataclass
class Merged:
    split_texts: list[str]  # base rows the hold-out may be drawn from
    split_labels: list[str]
    train_only_texts: list[str]  # accepted feedback and base rows with a reviewed text
    train_only_labels: list[str]
    summary: dict[str, Any]  # the model card's ``feedback`` section
    conflicts: list[dict[str, Any]]


def collect(ctx: Context) -> FeedbackSet:
    return FeedbackSet(
        [
            FeedbackLabel(r["text"], r["intent"], r["reviewer"], f"{r['source']}/{r['ticket_id']}")
            for r in label_rows(ctx)
        ]
    )


def merge(feedback: FeedbackSet, base_texts: Sequence[str], base_labels: Sequence[str]) -> Merged:
    """Apply the module's rule to ``feedback`` over the (normalised) base rows."""
    reviewed: dict[str, list[FeedbackLabel]] = defaultdict(list)
    shown: dict[str, str] = {}
    for lab in feedback.labels:
        text = normalize_text(lab.text)
        if text:
            reviewed[text.casefold()].append(lab)
            shown.setdefault(text.casefold(), text)
    base_by_key: dict[str, set[str]] = defaultdict(set)
    split_texts, split_labels, train_texts, train_labels = [], [], [], []
    moved = 0
    for text, label in zip(base_texts, base_labels, strict=True):
        key = text.casefold()
        base_by_key[key].add(label)
        if key in reviewed:
            train_texts.append(text)
            train_labels.append(label)
            moved += 1
        else:
            split_texts.append(text)
            split_labels.append(label)
    known = set(base_labels)
    accepted_texts, accepted_labels, conflicts = [], [], []
    left_out = 0
    for key, labels in reviewed.items():
        text, intents = shown[key], {lab.intent for lab in labels}
        tickets = sorted({lab.ticket for lab in labels})
        if len(intents) > 1:
            by_intent: dict[str, list[str]] = defaultdict(list)
            for lab in labels:
                by_intent[lab.intent].append(f"{lab.reviewer} on {lab.ticket}")
            conflicts.append({"kind": "reviewers", "text": text, "labels": dict(sorted(by_intent.items()))})
            left_out += len(labels)
            continue
        intent = intents.pop()
        if intent not in known:
            conflicts.append({"kind": "unknown_label", "text": text, "intent": intent, "tickets": tickets})
            left_out += len(labels)
        elif base_by_key.get(key, {intent}) != {intent}:
            base = sorted(base_by_key[key])
            conflicts.append({"kind": "base_data", "text": text, "feedback": intent, "base": base, "tickets": tickets})
            left_out += len(labels)
        elif key not in base_by_key:  # an identical base row already trains with this label
            accepted_texts.append(text)
            accepted_labels.append(intent)
    train_texts += accepted_texts
    train_labels += accepted_labels
    summary = {
        "fingerprint": fingerprint_rows(accepted_texts, accepted_labels),
        "rows": len(accepted_texts),
        "labels_read": len(feedback.labels),
        "texts": len(reviewed),
        "reviewers": len({lab.reviewer for lab in feedback.labels}),
        "label_counts": dict(sorted(Counter(accepted_labels).items())),
        "left_out": left_out,
        "base_rows_kept_out_of_holdout": moved,
        "conflict_count": len(conflicts),
        "conflicts": conflicts[:MAX_LISTED],
        "rule": RULE,
    }
    return Merged(split_texts, split_labels, train_texts, train_labels, summary, conflicts)


def describe(conflict: dict[str, Any]) -> str:
    """One line for a person reading the command's output."""
    text = conflict["text"] if len(conflict["text"]) <= 80 else conflict["text"][:77] + "..."
    if conflict["kind"] == "reviewers":
        said = "; ".join(f"{intent} by {', '.join(who)}" for intent, who in conflict["labels"].items())
        return f"reviewers disagree on {text!r}: {said} (left out)"
    if conflict["kind"] == "unknown_label":
        return f"{text!r} labelled {conflict['intent']}, an intent the base data lacks (left out)"
    return (
        f"{text!r} labelled {conflict['feedback']} by review but {', '.join(conflict['base'])} in the base data "
        "(feedback left out)"
    )
