"""A compiled condition, positions in its source text, and how sub-expressions and values are shown."""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from typing import Any

from router.routing._records import _REPR

# --- source positions ------------------------------------------------------------------------------------

_WHITESPACE = " \t\f\r\n"


class _Source:
    """Maps positions in the parsed (left-stripped) text back to 1-based line/column of the original."""

    def __init__(self, source: str) -> None:
        self.body = source.lstrip(_WHITESPACE)
        lead = source[: len(source) - len(self.body)]
        self.line_shift = len(re.findall(r"\r\n|\r|\n", lead))
        self.column_shift = len(lead) - max(lead.rfind("\n"), lead.rfind("\r")) - 1
        self.lines = re.split(r"\r\n|\r|\n", self.body)

    def position(self, line: int | None, column: int | None) -> tuple[int | None, int | None]:
        """``column`` is 1-based, in characters, as in SyntaxError and tokenize (+1)."""
        if line is None:
            return None, None
        shift = self.column_shift if line == 1 and column is not None else 0
        return line + self.line_shift, None if column is None else column + shift

    def syntax_position(self, exc: SyntaxError) -> tuple[int | None, int | None]:
        """Position of a SyntaxError; an offset of 0 (end of input) points just past the line's end."""
        line, offset = exc.lineno, exc.offset
        if not offset and line is not None and 0 < line <= len(self.lines):
            offset = len(self.lines[line - 1]) + 1
        return self.position(line, offset or None)

    def of(self, node: ast.AST) -> tuple[int | None, int | None]:
        """Position of ``node``; for ``a.b`` that of ``b``, which is what an attribute error is about."""
        line, offset = getattr(node, "lineno", None), getattr(node, "col_offset", None)
        end_line, end_offset = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
        if isinstance(node, ast.Attribute) and end_line is not None and end_offset is not None:
            line, offset = end_line, end_offset - len(node.attr.encode())
        if line is None or offset is None or not 0 < line <= len(self.lines):
            return self.position(line, None)
        prefix = self.lines[line - 1].encode()[:offset].decode("utf-8", "ignore")  # col_offset is in bytes
        return self.position(line, len(prefix) + 1)


@dataclass
class Condition:
    """A parsed and validated condition; build it with :func:`compile_condition`."""

    source: str
    tree: ast.Expression


@functools.lru_cache(maxsize=8192)
def _source(node: ast.AST, limit: int = 200) -> str:
    """Source text of a sub-expression, for messages (shortened; cached: trees never change once compiled)."""
    try:
        text = ast.unparse(node)
    except Exception:  # a hand-built tree that cannot be unparsed
        text = f"<{type(node).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_repr(value: Any, limit: int = 80) -> str:
    # Short strings and numbers, nearly every value an explanation shows, come out of reprlib as
    # plain repr(); answer those directly (same text) and leave the rest to reprlib.
    kind = type(value)
    if kind is str:
        if len(value) <= _REPR.maxstring:
            text = repr(value)
            if len(text) <= _REPR.maxstring and len(text) <= limit:
                return text
    elif kind is int:
        text = repr(value) if value.bit_length() < 256 else ""
        if text and len(text) <= _REPR.maxlong and len(text) <= limit:
            return text
    elif kind is bool or kind is float or value is None:
        text = repr(value)
        if len(text) <= _REPR.maxother and len(text) <= limit:
            return text
    try:
        text = _REPR.repr(value)
    except Exception:  # a plugin's value whose repr fails, an integer too long to print...
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
