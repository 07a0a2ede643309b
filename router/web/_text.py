"""Text shaping for the pages: explanation words marked in a ticket, rule problems placed on lines,
diffs split into lines. Pure functions; the templates escape everything they print."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

_WORD = re.compile(r"\w+(?:['\u2019]\w+)*")  # words, with inner apostrophes (straight or curly)
_LINE_COL = re.compile(r"line (\d+)")
_STEP = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")


def _weights(words: Iterable[Mapping[str, Any]] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for w in words or []:
        word = str(w.get("word", "")).casefold()
        if word:
            out.setdefault(word, float(w.get("weight") or 0.0))
    return out


def highlight(text: str, explanation: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """``text`` cut into segments; the words the model weighed are marked ``toward`` or ``against``.

    The explanation names words of the ticket (``explanation.words.toward/against``), compared
    here case-insensitively with each word of the text.
    """
    words = (explanation or {}).get("words") or {}
    toward, against = _weights(words.get("toward")), _weights(words.get("against"))
    segments: list[dict[str, Any]] = []
    last = 0
    for match in _WORD.finditer(text):
        key = match.group(0).casefold()
        kind = "toward" if key in toward else "against" if key in against else None
        if kind is None:
            continue
        if match.start() > last:
            segments.append({"text": text[last : match.start()], "kind": None})
        weight = toward.get(key, against.get(key, 0.0))
        segments.append({"text": match.group(0), "kind": kind, "weight": round(weight, 3)})
        last = match.end()
    if last < len(text):
        segments.append({"text": text[last:], "kind": None})
    return segments


def _path(where: str) -> list[str | int]:
    steps: list[str | int] = []
    for name, index in _STEP.findall(where):
        if name:
            steps.append(name)
        elif index.isdigit():
            steps.append(int(index))
        else:
            steps.append(index)
    return steps


def _node_line(root: yaml.Node | None, steps: Sequence[str | int]) -> int | None:
    """Line of the deepest node of ``steps`` that exists; ``rules[some-id]`` finds the rule by id."""
    node, line = root, None
    for step in steps:
        found = None
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            found = next((v for k, v in node.value if getattr(k, "value", None) == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            found = node.value[step]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, str):
            for child in node.value:
                if isinstance(child, yaml.MappingNode) and any(
                    getattr(k, "value", None) == "id" and getattr(v, "value", None) == step for k, v in child.value
                ):
                    found = child
                    break
        if found is None:
            break
        node, line = found, found.start_mark.line + 1
    return line


def place_problems(text: str, problems: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every problem with a ``line`` (from the validator, its ``where``, or the YAML path it names)."""
    try:
        root: yaml.Node | None = yaml.compose(text)
    except yaml.YAMLError:
        root = None
    placed = []
    for p in problems:
        item = dict(p) if isinstance(p, Mapping) else {"where": "", "message": str(p)}
        where = str(item.get("where") or "")
        if item.get("line") is None:
            found = _LINE_COL.match(where)
            item["line"] = int(found.group(1)) if found else _node_line(root, _path(where)) if where else None
        placed.append(item)
    return sorted(placed, key=lambda p: (p["line"] is None, p["line"] or 0))


def numbered_lines(text: str, problems: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per line of ``text`` with the problems on it (for the editor's gutter)."""
    by_line: dict[int, list[str]] = {}
    for p in problems:
        if p.get("line"):
            by_line.setdefault(int(p["line"]), []).append(str(p.get("message", "")))
    count = max(1, text.count("\n") + 1)
    return [{"n": n, "problems": by_line.get(n, [])} for n in range(1, count + 1)]


def diff_lines(diff: str | None) -> list[dict[str, str]]:
    out = []
    for line in (diff or "").splitlines():
        kind = (
            "meta"
            if line.startswith(("---", "+++", "@@"))
            else "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else "ctx"
        )
        out.append({"text": line, "kind": kind})
    return out
