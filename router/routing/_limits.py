"""Errors, limits and bounded primitives for routing-condition expressions.

Conditions are hostile input, so every primitive here checks sizes *before* it allocates (``"a" * 10**9``,
``2 ** 10**10``, catastrophic regular expressions) and every failure is an :class:`ExpressionError`.
The public names are re-exported by :mod:`router.routing.expr`; import them from there.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import regex


class ExpressionError(Exception):
    """Base error; ``line`` and ``column`` are 1-based positions in the condition source, or None."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        column = f", column {self.column}" if self.column is not None else ""
        return f"{self.message} (line {self.line}{column})"

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.message, self.line, self.column)


class ExpressionSyntaxError(ExpressionError):
    """The condition does not parse, or uses something the sandbox refuses."""


class EvaluationError(ExpressionError):
    """Evaluating a valid condition failed (type error, missing function, failing plugin...)."""


class LimitExceeded(EvaluationError):
    """Evaluation would exceed a time, size or magnitude limit."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one condition: source size and nesting at compile time, time and sizes at run time."""

    max_length: int = 2000
    max_depth: int = 32
    time_budget_s: float = 0.05
    max_sequence: int = 100_000
    max_int_bits: int = 4096
    regex_timeout_s: float = 0.05


@dataclass(frozen=True)
class _Budget:
    limits: Limits
    deadline: float


_BUDGET: ContextVar[_Budget | None] = ContextVar("router_expr_budget", default=None)


class budget:  # lower case: used as ``with budget(limits) as current:``, like the function it was
    """Start the clock for one evaluation and make its limits visible to the functions it calls.

    A class rather than a ``@contextmanager`` generator: it is entered for every condition of every
    ticket, and a generator-based context manager costs several times as much.
    """

    __slots__ = ("_current", "_token")

    def __init__(self, limits: Limits) -> None:
        self._current = _Budget(limits, time.monotonic() + limits.time_budget_s)

    def __enter__(self) -> _Budget:
        self._token = _BUDGET.set(self._current)
        return self._current

    def __exit__(self, *exc_info: object) -> None:
        _BUDGET.reset(self._token)


def current_limits() -> Limits:
    """The limits of the evaluation in progress (defaults outside one); plugins use it to bound work."""
    current = _BUDGET.get()
    return current.limits if current is not None else Limits()


def remaining_time() -> float:
    """Seconds left in the current evaluation's time budget (the full default budget outside one)."""
    current = _BUDGET.get()
    if current is None:
        return Limits().time_budget_s
    return max(0.0, current.deadline - time.monotonic())


# --- sizes -----------------------------------------------------------------------------------------------

_SEQUENCES = (str, bytes, list, tuple)
_TEXT = (str, bytes)
_COLLECTIONS = (list, tuple, set, frozenset)


def weight(value: Any, cap: int) -> int:
    """Characters plus items reachable from ``value`` (nested), counting stops soon after ``cap``.

    Bounding the weight of everything an expression builds also bounds what comparisons and ``in`` cost.
    """
    kind = type(value)  # most values are plain strings and numbers: answer them without the stack
    if kind is str:
        return len(value) if cap >= 0 else 0
    if kind is bool or kind is int or kind is float or value is None:
        return 0
    total, stack = 0, [value]
    while stack and total <= cap:
        item = stack.pop()
        if isinstance(item, _TEXT):
            total += len(item)
        elif isinstance(item, _COLLECTIONS):
            total += len(item)
            if total <= cap:
                stack.extend(item)
        elif isinstance(item, dict):
            total += len(item)
            if total <= cap:
                stack.extend(item.keys())
                stack.extend(item.values())
    return total


def check_size(value: Any, limits: Limits, what: str = "result") -> None:
    """Refuse values whose weight exceeds ``max_sequence``; refuse integers wider than ``max_int_bits``."""
    if isinstance(value, int) and value.bit_length() > limits.max_int_bits:
        raise LimitExceeded(f"{what} is an integer of more than {limits.max_int_bits} bits")
    if weight(value, limits.max_sequence) > limits.max_sequence:
        raise LimitExceeded(f"{what} is larger than {limits.max_sequence} items/characters")


# --- bounded arithmetic ----------------------------------------------------------------------------------

_OPERATORS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def binary(op: ast.operator, left: Any, right: Any, limits: Limits) -> Any:
    """``left <op> right`` after checking the result cannot exceed the limits (checked before computing)."""
    function = _OPERATORS.get(type(op))
    if function is None:
        raise EvaluationError(f"operator {type(op).__name__} is not allowed")
    cap, bits = limits.max_sequence, limits.max_int_bits
    both_int = isinstance(left, int) and isinstance(right, int)
    if isinstance(op, ast.Mult):
        if both_int and left.bit_length() + right.bit_length() > bits + 1:
            raise LimitExceeded(f"integer product would exceed {bits} bits")
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, _SEQUENCES) and isinstance(count, int) and weight(seq, cap) * count > cap:
                raise LimitExceeded(f"repetition would be larger than {cap} items/characters")
    elif isinstance(op, ast.Add) and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        if weight(left, cap) + weight(right, cap) > cap:
            raise LimitExceeded(f"concatenation would be larger than {cap} items/characters")
    elif isinstance(op, ast.Mod) and isinstance(left, str | bytes):
        raise EvaluationError("string formatting with % is not supported")
    elif isinstance(op, ast.Pow) and both_int and right > 0 and right * math.log2(abs(left) or 1) > bits:
        raise LimitExceeded(f"power would exceed {bits} bits")
    result = function(left, right)
    if isinstance(result, int) and result.bit_length() > bits:
        raise LimitExceeded(f"integer result would exceed {bits} bits")
    return result


# --- built-in helper functions ---------------------------------------------------------------------------

MAX_PATTERN_COST = 10_000
"""Upper bound on the repeat-unrolled size of a regular expression; ``regex`` compiles ``a{n}`` in O(n)."""

_FLAGS = {
    "i": regex.IGNORECASE,
    "m": regex.MULTILINE,
    "s": regex.DOTALL,
    "x": regex.VERBOSE,
    "a": regex.ASCII,
}
_QUANTIFIER = regex.compile(r"\{(\d*)(?:,(\d*))?\}")
_CONTAINERS = (list, tuple, set, frozenset, dict)


def _named(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a helper its condition-level name, so argument errors read ``len() takes ...``."""

    def rename(function: Callable[..., Any]) -> Callable[..., Any]:
        function.__name__ = function.__qualname__ = name
        return function

    return rename


def _class_end(pattern: str, start: int) -> int | None:
    """Index of the ``]`` closing the character class opened at ``start`` (None if it never closes)."""
    i = start + 1
    i += pattern[i : i + 1] == "^"
    i += pattern[i : i + 1] == "]"
    while i < len(pattern):
        if pattern[i] == "]":
            return i
        i += 2 if pattern[i] == "\\" else 1
    return None


@functools.lru_cache(maxsize=1024)
def pattern_cost(pattern: str) -> int:
    """Conservative size of ``pattern`` once counted repeats are unrolled (nested bounds multiply).

    It may over-count (e.g. ``\\x{41}`` counts as a repeat) but never skips a real quantifier.
    """
    levels, last, i, unclosed = [0], 1, 0, False
    while i < len(pattern):
        char, step, atom = pattern[i], 1, 1
        if char == "\\":
            step = 2
        elif char == "[" and not unclosed:
            end = _class_end(pattern, i)
            unclosed = end is None
            step = 1 if end is None else end + 1 - i
        elif char == "(":
            levels.append(0)
            atom = 0
        elif char == ")" and len(levels) > 1:
            atom = max(levels.pop(), 1)
        elif char == "{" and (match := _QUANTIFIER.match(pattern, i)) and any(match.groups()):
            count = max(int(group) for group in match.groups() if group)
            levels[-1] += last * (count - 1) if count else 0
            last, atom, step = last * max(count, 1), 0, match.end() - i
        if atom:
            levels[-1] += atom
            last = atom
        i += step
    return sum(levels)


@functools.lru_cache(maxsize=256)
def _flag_bits(flags: str) -> int | str:
    """The ``regex`` flags a string of ``imsxa`` stands for, or the unknown letters (sorted) as a string."""
    unknown = set(flags) - set(_FLAGS)
    if unknown:
        return "".join(sorted(unknown))
    return functools.reduce(operator.or_, (_FLAGS[f] for f in flags), 0)


@functools.lru_cache(maxsize=256)
def _compile_pattern(pattern: str, flags: int) -> Any:
    return regex.compile(pattern, flags)


@_named("matches")
def matches(text: Any, pattern: Any, flags: Any = "") -> bool:
    """``regex.search`` with a timeout; ``flags`` is a string of ``imsxa``; a missing text never matches."""
    if text is None:
        return False
    if not isinstance(text, str) or not isinstance(pattern, str) or not isinstance(flags, str):
        raise EvaluationError("matches(text, pattern, flags='') expects strings")
    limits = current_limits()
    if len(pattern) > limits.max_length or pattern_cost(pattern) > MAX_PATTERN_COST:
        raise LimitExceeded("regular expression is too large (length or counted repeats)")
    bits = _flag_bits(flags)
    if isinstance(bits, str):
        raise EvaluationError(f"unknown regex flag(s) {bits!r}; use letters from 'imsxa'")
    try:
        compiled = _compile_pattern(pattern, bits)
    except regex.error as exc:
        raise EvaluationError(f"invalid regular expression: {exc}") from None
    timeout = min(limits.regex_timeout_s, remaining_time())
    if timeout <= 0:
        raise LimitExceeded("time budget exhausted before matching")
    try:
        # concurrent=False: the regex module would release the GIL for every search of a str, and a
        # request thread then waits up to the interpreter's switch interval (5 ms) to get it back
        # while another thread runs; the search itself takes microseconds, and the timeout bounds it.
        return compiled.search(text, timeout=timeout, concurrent=False) is not None
    except TimeoutError:
        raise LimitExceeded(f"regular expression timed out after {timeout * 1000:.0f} ms") from None


@_named("len")
def length(value: Any) -> int:
    """Length of a string or collection; a missing value has length 0."""
    if value is None:
        return 0
    if not isinstance(value, (str, bytes, *_CONTAINERS)):
        raise EvaluationError(f"len() needs a string or collection, not {type(value).__name__}")
    return len(value)


def _text(function: str, value: Any) -> str:
    if not isinstance(value, str):
        raise EvaluationError(f"{function}() needs a string, not {type(value).__name__}")
    return value


@_named("lower")
def lower(value: Any) -> str | None:
    """Lower-case a string (None stays None)."""
    return None if value is None else _text("lower", value).lower()


@_named("upper")
def upper(value: Any) -> str | None:
    """Upper-case a string (None stays None)."""
    return None if value is None else _text("upper", value).upper()


@_named("contains")
def contains(value: Any, item: Any) -> bool:
    """Substring test for strings, membership test for collections; a missing value contains nothing."""
    if value is None:
        return False
    if isinstance(value, str):
        return _text("contains", item) in value
    if not isinstance(value, _CONTAINERS):
        raise EvaluationError(f"contains() needs a string or collection, not {type(value).__name__}")
    return item in value


def _affix(function: str, value: Any, affix: Any) -> tuple[str, tuple[str, ...]]:
    options = tuple(affix) if isinstance(affix, list | tuple) else (affix,)
    return _text(function, value), tuple(_text(function, option) for option in options)


@_named("startswith")
def startswith(value: Any, prefix: Any) -> bool:
    """``value`` starts with ``prefix`` (or any of a list of prefixes); a missing value does not."""
    if value is None:
        return False
    text, options = _affix("startswith", value, prefix)
    return text.startswith(options)


@_named("endswith")
def endswith(value: Any, suffix: Any) -> bool:
    """``value`` ends with ``suffix`` (or any of a list of suffixes); a missing value does not."""
    if value is None:
        return False
    text, options = _affix("endswith", value, suffix)
    return text.endswith(options)


@_named("any_of")
def any_of(value: Any, options: Any) -> bool:
    """``value`` is one of ``options``; for a list value (e.g. tags), any of its items is."""
    if not isinstance(options, _CONTAINERS):
        raise EvaluationError(f"any_of() needs a collection of options, not {type(options).__name__}")
    if value is None:
        return False
    if isinstance(value, list | tuple | set | frozenset):
        return any(item in options for item in value)
    return value in options


def builtin_functions() -> dict[str, Callable[..., Any]]:
    """The safe helpers every condition may call; plugins add their own functions to a copy."""
    helpers: list[Callable[..., Any]] = [
        length,
        lower,
        upper,
        contains,
        startswith,
        endswith,
        any_of,
        matches,
    ]
    return {helper.__name__: helper for helper in helpers}
