"""Legal and churn risk: threats of legal action, chargebacks, regulator complaints, cancellation.

Phrases are matched as words in their inflections ("sue", "suing", "lawyers"), and a negation in
the same clause just before the phrase ("I'm *not* cancelling", "no intention of closing my
account") keeps the rule from firing. Clauses end at punctuation, so "not happy, I will cancel"
still counts as a cancellation.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from router.hooks import hookimpl
from router.routing.engine import raise_priority

CONFIG: dict[str, Any] = {"team": "retention-legal"}

RISKS: dict[str, re.Pattern[str]] = {
    "legal": re.compile(
        r"\b(sue|sues|suing|sued|lawsuits?|law ?suits?|lawyers?|attorneys?|solicitors?|legal action|legal"
        r" proceedings|take (you|this|it) to court|see you in court|small claims)\b"
    ),
    "chargeback": re.compile(
        r"\b(charge ?backs?|dispute (the|this|a|that) (charge|transaction|payment)|reverse the (charge|payment))\b"
    ),
    "regulator": re.compile(
        r"\b(regulators?|ombudsman|fca|cfpb|financial conduct authority|better business bureau|bbb|"
        r"report (you|this) to|(file|lodge|make) a (formal )?complaint with)\b"
    ),
    "churn": re.compile(
        r"\b(cancel+(ing|ed|s)?( my| the)? (account|card|membership|subscription)|"
        r"clos(e|ing) (my|the|our) accounts?|terminat(e|ing) (my|the) account|"
        r"switch(ing)? (banks?|to (another|a different) bank)|leav(e|ing) (your|this) bank|"
        r"take my (money|business) elsewhere|delete my account)\b"
    ),
}
_NEGATORS = {
    "not",
    "no",
    "never",
    "nor",
    "without",
    "dont",
    "don't",
    "wont",
    "won't",
    "isnt",
    "isn't",
    "arent",
    "aren't",
    "wasnt",
    "wasn't",
    "didnt",
    "didn't",
    "cannot",
    "can't",
    "cant",
    "neither",
}
_CLAUSE_END = re.compile(r"[.,;:!?\n]|\bbut\b")
_WINDOW = 5
_MAX_CHARS = 10_000


def _negated(text: str, start: int) -> bool:
    clause_start = 0
    for m in _CLAUSE_END.finditer(text, 0, start):
        clause_start = m.end()
    before = re.findall(r"[a-z']+", text[clause_start:start])[-_WINDOW:]
    return any(w in _NEGATORS or w.endswith("n't") for w in before)


@functools.lru_cache(maxsize=8)
def _any_risk(patterns: tuple[re.Pattern[str], ...]) -> re.Pattern[str]:
    """One pattern that matches where any of ``patterns`` does: most tickets hold no risk phrase at all,
    and one search answers that for about half the cost of searching with each pattern."""
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns))


def find_risks(text: str) -> dict[str, str]:
    """Each kind of risk found, with the phrase that showed it (negated phrases do not count)."""
    lowered = str(text or "")[:_MAX_CHARS].lower().replace("\u2019", "'")
    found: dict[str, str] = {}
    if _any_risk(tuple(RISKS.values())).search(lowered) is None:
        return found
    for kind, pattern in RISKS.items():
        for m in pattern.finditer(lowered):
            if not _negated(lowered, m.start()):
                found[kind] = m.group(0)
                break
    return found


@hookimpl
def router_configure(config: dict[str, Any]) -> None:
    CONFIG.update(config or {})


@hookimpl
def router_rule_functions() -> dict[str, Any]:
    return {
        "legal_risk": lambda text: bool({"legal", "chargeback", "regulator"} & set(find_risks(text))),
        "churn_risk": lambda text: "churn" in find_risks(text),
    }


@hookimpl
def router_adjust_decision(decision: dict[str, Any], ticket: dict[str, Any]) -> None:
    risks = find_risks(ticket.get("text", ""))
    if not risks:
        return
    for kind in risks:
        tag = f"{kind}_risk"
        if tag not in decision["tags"]:
            decision["tags"].append(tag)
    reason = "; ".join(f"{kind}: {phrase!r}" for kind, phrase in risks.items())
    legal = {"legal", "chargeback", "regulator"} & set(risks)
    if decision.get("escalation") is None:
        decision["escalation"] = {
            "level": 2 if legal else 1,
            "team": CONFIG["team"],
            "reason": reason,
            "plugin": "legal_churn",
        }
    decision["priority"] = raise_priority(decision["priority"], "urgent" if legal else "high")
    decision["explanation"].setdefault("plugins", []).append({"plugin": "legal_churn", "why": reason})
