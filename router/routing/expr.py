"""Safe evaluation of routing conditions, with pytest-style explanations of why a condition failed.

A condition is one Python *expression* written by an admin, e.g. ``prediction.confidence < 0.5 and not
ticket.tags``. Conditions are hostile input: they are parsed with :func:`ast.parse` and checked against a
whitelist (:func:`compile_condition`), then run by a small interpreter (:func:`evaluate`) that never calls
``eval``/``exec``, reads only declared record fields, calls only registered functions and enforces
:class:`Limits` (time budget, sizes, integer magnitude, regex timeouts). Lookups are null-safe: a missing
field, dict key or list index -- or any lookup on None -- gives None, because tickets are sparse.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import re
import reprlib
import time
import tokenize
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from router.routing._limits import (
    EvaluationError,
    ExpressionError,
    ExpressionSyntaxError,
    LimitExceeded,
    Limits,
    binary,
    budget,
    builtin_functions,
    check_size,
    current_limits,
    remaining_time,
    weight,
)

__all__ = [
    "CONDITION_NAMES",
    "DEFAULT_LIMITS",
    "Condition",
    "EvaluationError",
    "ExpressionError",
    "ExpressionSyntaxError",
    "LimitExceeded",
    "Limits",
    "Outcome",
    "Record",
    "RecordType",
    "builtin_functions",
    "compile_condition",
    "current_limits",
    "evaluate",
    "prediction_record",
    "remaining_time",
    "ticket_record",
]

# --- data model ------------------------------------------------------------------------------------------

PLAIN, DATETIME, UNKNOWN = "plain", "datetime", "unknown"  # static types of fields and sub-expressions


@dataclass(frozen=True, eq=False)
class RecordType:
    """The declared fields of a record: each is PLAIN, DATETIME, a nested RecordType or ``ListOf``."""

    name: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, eq=False)
class ListOf:
    """A field holding a list of records of type ``item``."""

    item: RecordType


REQUESTER = RecordType("requester", dict.fromkeys(("email", "name", "tier"), PLAIN))
ALTERNATIVE = RecordType("alternative", dict.fromkeys(("intent", "confidence"), PLAIN))
TICKET = RecordType(
    "ticket",
    {
        **dict.fromkeys(("subject", "body", "text", "channel", "tags", "language", "metadata"), PLAIN),
        "requester": REQUESTER,
        "created_at": DATETIME,
    },
)
PREDICTION = RecordType(
    "prediction",
    {**dict.fromkeys(("intent", "confidence", "novelty"), PLAIN), "alternatives": ListOf(ALTERNATIVE)},
)
NAME_TYPES: Mapping[str, Any] = {"ticket": TICKET, "prediction": PREDICTION, "now": DATETIME}
CONDITION_NAMES = frozenset(NAME_TYPES)
DEFAULT_LIMITS = Limits()

# Read-only fields of time values (computed, so no method is ever reachable).
_DATE_FIELDS: dict[str, Callable[[Any], Any]] = {
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "day": lambda d: d.day,
    "weekday": lambda d: d.weekday(),
}
_TIME_FIELDS: dict[str, Callable[[Any], Any]] = {
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "second": lambda d: d.second,
}
_DELTA_FIELDS: dict[str, Callable[[Any], Any]] = {
    "days": lambda t: t.days,
    "seconds": lambda t: t.seconds,
    "total_seconds": lambda t: t.total_seconds(),
}
_DATETIME_FIELDS = {**_DATE_FIELDS, **_TIME_FIELDS}
_VALUE_FIELDS: tuple[tuple[type, dict[str, Callable[[Any], Any]]], ...] = (
    (datetime, _DATETIME_FIELDS),
    (date, _DATE_FIELDS),
    (timedelta, _DELTA_FIELDS),
)
_KNOWN_ATTRIBUTES = frozenset(
    [f for t in (TICKET, REQUESTER, PREDICTION, ALTERNATIVE) for f in t.fields]
    + [f for _, fields in _VALUE_FIELDS for f in fields]
)

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlevel = 3


class Record:
    """Read-only view over a mapping that exposes only the fields its :class:`RecordType` declares."""

    __slots__ = ("_data", "_type")
    _type: RecordType
    _data: Mapping[str, Any]

    def __init__(self, record_type: RecordType, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_type", record_type)
        object.__setattr__(self, "_data", data)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("records are read-only")

    @property
    def type_name(self) -> str:
        return self._type.name

    def field(self, name: str) -> Any:
        """The value of a declared field (None when missing); nested records and record lists are wrapped."""
        kind = self._type.fields.get(name)
        if kind is None:
            raise EvaluationError(f"{self._type.name} has no field {name!r}")
        value = self._data.get(name)
        if isinstance(kind, RecordType) and isinstance(value, Mapping):
            return Record(kind, value)
        if isinstance(kind, ListOf) and isinstance(value, list | tuple):
            return tuple(Record(kind.item, v) if isinstance(v, Mapping) else v for v in value)
        return value

    def __repr__(self) -> str:
        present = [name for name in self._type.fields if self._data.get(name) is not None]
        shown = (f"{name}={_REPR.repr(self._data[name])}" for name in present)
        return f"<{self._type.name} {', '.join(shown)}>"


def ticket_record(data: Mapping[str, Any]) -> Record:
    """Wrap a ticket dict; ``text`` defaults to subject + body; ISO ``created_at`` strings are parsed."""
    if isinstance(data, Record):
        return data
    values = dict(data)
    if values.get("text") is None:
        parts = [p for p in (values.get("subject"), values.get("body")) if isinstance(p, str) and p]
        values["text"] = "\n".join(parts) if parts else None
    if isinstance(values.get("created_at"), str):
        with contextlib.suppress(ValueError):
            values["created_at"] = datetime.fromisoformat(values["created_at"])
    return Record(TICKET, values)


def prediction_record(data: Mapping[str, Any]) -> Record:
    """Wrap a prediction dict (intent, confidence, alternatives [{intent, confidence}], novelty)."""
    return data if isinstance(data, Record) else Record(PREDICTION, dict(data))


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


# --- compilation ------------------------------------------------------------------------------------------


@dataclass
class Condition:
    """A parsed and validated condition; build it with :func:`compile_condition`."""

    source: str
    tree: ast.Expression


_REFUSED: dict[type[ast.AST], str] = {
    ast.Lambda: "lambda expressions are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Starred: "star-unpacking (*) is not allowed",
    ast.JoinedStr: "f-strings are not allowed; use plain strings",
    ast.FormattedValue: "f-strings are not allowed; use plain strings",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
}
_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_UNARY = (ast.Not, ast.USub, ast.UAdd)
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot)
_LITERALS = (str, int, float, bool, type(None))
_OPERATOR_NODES = (ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop)


def compile_condition(
    source: str,
    function_names: Iterable[str],
    limits: Limits = DEFAULT_LIMITS,
) -> Condition:
    """Parse and validate ``source``; raises ExpressionSyntaxError (with line and column) if it is refused."""
    if not isinstance(source, str):
        raise ExpressionSyntaxError(f"a condition must be a string, not {type(source).__name__}")
    if len(source) > limits.max_length:
        message = f"condition is {len(source)} characters long; the limit is {limits.max_length}"
        raise ExpressionSyntaxError(message)
    if "\0" in source:
        index = source.index("\0")
        line, column = source.count("\n", 0, index) + 1, index - source.rfind("\n", 0, index)
        raise ExpressionSyntaxError("condition contains a null byte", line, column)
    text = _Source(source)
    if not text.body.strip():
        raise ExpressionSyntaxError("condition is empty")
    try:
        with warnings.catch_warnings():  # e.g. "invalid escape sequence" in a pattern is not an error here
            warnings.simplefilter("ignore")
            tree = ast.parse(text.body, mode="eval")
    except SyntaxError as exc:
        raise ExpressionSyntaxError(_syntax_message(exc.msg), *text.syntax_position(exc)) from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionSyntaxError("condition is nested too deeply or too complex") from None
    _check_brackets(text, limits)
    _Validator(text, frozenset(function_names), limits).check(tree)
    return Condition(source, tree)


def _syntax_message(message: str) -> str:
    if message == "invalid syntax":
        return "invalid syntax (a condition is one expression: no statements, imports or assignments)"
    return f"invalid syntax: {message}"


def _check_brackets(text: _Source, limits: Limits) -> None:
    """Refuse bracket nesting deeper than ``max_depth`` (parentheses leave no trace in the tree)."""
    depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text.body).readline):
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
                if depth > limits.max_depth:
                    raise ExpressionSyntaxError(
                        f"brackets are nested more than {limits.max_depth} levels deep",
                        *text.position(token.start[0], token.start[1] + 1),
                    )
            elif token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
    except (tokenize.TokenError, SyntaxError, ValueError):  # pragma: no cover - ast.parse accepted it
        pass


class _Validator:
    """Whitelist check of a parsed condition; also infers record types to reject unknown fields early."""

    def __init__(self, text: _Source, functions: frozenset[str], limits: Limits) -> None:
        self.text, self.functions, self.limits = text, functions, limits

    def fail(self, node: ast.AST, message: str) -> ExpressionSyntaxError:
        return ExpressionSyntaxError(message, *self.text.of(node))

    def check(self, tree: ast.Expression) -> None:
        stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
        while stack:  # iterative, so the depth check itself cannot recurse too deeply
            node, depth = stack.pop()
            if depth > self.limits.max_depth:
                raise self.fail(node, f"expression is nested more than {self.limits.max_depth} levels deep")
            children = [c for c in ast.iter_child_nodes(node) if not isinstance(c, _OPERATOR_NODES)]
            stack.extend((child, depth + 1) for child in reversed(children))
        self.visit(tree.body)

    def visit(self, node: ast.AST) -> Any:
        """Validate ``node`` and return its static type (a RecordType, ListOf, PLAIN, DATETIME or UNKNOWN)."""
        if type(node) in _REFUSED:
            raise self.fail(node, _REFUSED[type(node)])
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise self.fail(node, f"{type(node).__name__} expressions are not allowed")
        return method(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        if not isinstance(node.value, _LITERALS):
            raise self.fail(node, f"{type(node.value).__name__} literals are not allowed")
        if isinstance(node.value, int) and node.value.bit_length() > self.limits.max_int_bits:
            raise self.fail(node, f"integer literal is larger than {self.limits.max_int_bits} bits")
        return PLAIN

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in NAME_TYPES:
            return NAME_TYPES[node.id]
        if node.id in self.functions:
            raise self.fail(node, f"function {node.id!r} must be called, e.g. {node.id}(...)")
        raise self.fail(node, f"unknown name {node.id!r}; conditions can use {', '.join(sorted(NAME_TYPES))}")

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        base, attr, where = self.visit(node.value), node.attr, _source(node.value)
        if attr.startswith("_"):
            raise self.fail(node, f"attribute names starting with '_' are not allowed ({attr!r})")
        if isinstance(base, RecordType):
            if attr not in base.fields:
                raise self.fail(node, f"{where} has no field {attr!r}; fields: {', '.join(base.fields)}")
            return base.fields[attr]
        if isinstance(base, ListOf):
            raise self.fail(node, f"{where} is a list; index it first, e.g. {where}[0].{attr}")
        if base == DATETIME and attr not in _DATETIME_FIELDS:
            raise self.fail(node, f"{where} is a date-time; its fields are {', '.join(_DATETIME_FIELDS)}")
        if base == PLAIN:
            hint = "only record fields can be read (no methods); use x['key'] for dict keys"
            raise self.fail(node, f"{where} has no attributes; {hint}")
        if base == UNKNOWN and attr not in _KNOWN_ATTRIBUTES:
            raise self.fail(node, f"unknown attribute {attr!r}; only record fields can be read (no methods)")
        return PLAIN if base == DATETIME else UNKNOWN

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        base = self.visit(node.value)
        self.visit(node.slice)
        if isinstance(base, ListOf):
            return base if isinstance(node.slice, ast.Slice) else base.item
        return UNKNOWN

    def visit_Slice(self, node: ast.Slice) -> Any:
        for part in (node.lower, node.upper, node.step):
            if part is not None:
                self.visit(part)
        return PLAIN

    def visit_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, f"only registered functions can be called, not {_source(node.func)}")
        name = node.func.id
        if name not in self.functions or name.startswith("_"):
            known = ", ".join(sorted(self.functions)) or "none"
            raise self.fail(node, f"unknown function {name!r}; available functions: {known}")
        for argument in node.args:
            self.visit(argument)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.fail(keyword, "keyword unpacking (**) is not allowed")
            self.visit(keyword.value)
        return UNKNOWN

    def visit_Compare(self, node: ast.Compare) -> Any:
        self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if not isinstance(op, _COMPARE):
                raise self.fail(node, f"comparison {type(op).__name__} is not allowed")
            if isinstance(op, ast.Is | ast.IsNot) and not (
                isinstance(comparator, ast.Constant) and comparator.value is None
            ):
                raise self.fail(comparator, "'is' is only allowed as 'is None' or 'is not None'; use ==")
            self.visit(comparator)
        return PLAIN

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        for value in node.values:
            self.visit(value)
        return UNKNOWN

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        if not isinstance(node.op, _UNARY):
            raise self.fail(node, "bitwise operators are not allowed")
        self.visit(node.operand)
        return PLAIN

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        if not isinstance(node.op, _BINARY):
            raise self.fail(node, "bitwise and matrix operators are not allowed")
        self.visit(node.left)
        self.visit(node.right)
        return UNKNOWN  # e.g. now - ticket.created_at is a timedelta

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        for part in (node.test, node.body, node.orelse):
            self.visit(part)
        return UNKNOWN

    def visit_List(self, node: ast.List | ast.Tuple | ast.Set) -> Any:
        for element in node.elts:
            self.visit(element)
        return PLAIN

    visit_Tuple = visit_Set = visit_List

    def visit_Dict(self, node: ast.Dict) -> Any:
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise self.fail(value, "dict unpacking (**) is not allowed")
            self.visit(key)
            self.visit(value)
        return PLAIN


@functools.lru_cache(maxsize=8192)
def _source(node: ast.AST, limit: int = 200) -> str:
    """Source text of a sub-expression, for messages (shortened; cached: trees never change once compiled)."""
    try:
        text = ast.unparse(node)
    except Exception:  # a hand-built tree that cannot be unparsed
        text = f"<{type(node).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_repr(value: Any, limit: int = 80) -> str:
    try:
        text = _REPR.repr(value)
    except Exception:  # a plugin's value whose repr fails, an integer too long to print...
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- evaluation -------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """Result of one evaluation; ``explanation`` (pytest-style) is set when the condition did not pass."""

    value: Any
    passed: bool
    explanation: str | None


def evaluate(
    condition: Condition,
    names: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]],
    limits: Limits = DEFAULT_LIMITS,
) -> Outcome:
    """Evaluate a compiled condition; raises EvaluationError (LimitExceeded for limits), nothing else.

    Registered functions run inside the evaluation's budget: they can read it with ``current_limits()``
    and ``remaining_time()`` to bound their own work (``matches`` does).
    """
    if not isinstance(condition, Condition) or not isinstance(condition.tree, ast.Expression):
        raise EvaluationError("evaluate() needs a Condition from compile_condition()")
    with budget(limits) as current:
        try:
            interpreter = _Interpreter(condition, names, functions, limits, current.deadline)
            value = interpreter.eval(condition.tree.body)
            passed = interpreter.truth(value)
        except EvaluationError:
            raise
        except ExpressionError as exc:  # e.g. a plugin raised ExpressionSyntaxError
            raise EvaluationError(exc.message, exc.line, exc.column) from exc
        except Exception as exc:  # pragma: no cover - defence in depth; eval() wraps everything
            raise EvaluationError(f"evaluation failed: {_describe(exc)}") from exc
    return Outcome(value, passed, None if passed else interpreter.explain())


_RECORDED = (ast.Name, ast.Attribute, ast.Subscript, ast.Call)  # their values appear in explanations
_CHAIN = (ast.Name, ast.Attribute, ast.Subscript)  # in ticket.requester.tier only the whole is listed
_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: lambda a, b: a is None,  # the validator only allows 'is None' / 'is not None'
    ast.IsNot: lambda a, b: a is not None,
}


class _Interpreter:
    """Walks a validated tree; checks the deadline at every node and records values for explanations."""

    def __init__(
        self,
        condition: Condition,
        names: Mapping[str, Any],
        functions: Mapping[str, Callable[..., Any]],
        limits: Limits,
        deadline: float,
    ) -> None:
        self.condition, self.names, self.functions, self.limits = condition, names, functions, limits
        self.deadline, self.depth, self.text = deadline, 0, _Source(condition.source)
        self.values: dict[ast.AST, Any] = {}  # Name/Attribute/Subscript/Call -> value
        self.path: dict[ast.AST, int] = {}  # BoolOp -> operands evaluated; IfExp -> branch taken
        self.decided: set[ast.AST] = set()  # BoolOps whose last evaluated operand decided the result

    def eval(self, node: ast.AST) -> Any:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"evaluation took longer than {self.limits.time_budget_s * 1000:g} ms")
        handler = _HANDLERS.get(type(node))
        self.depth += 1
        try:
            if handler is None:
                raise EvaluationError(f"{type(node).__name__} expressions are not allowed")
            if self.depth > self.limits.max_depth:
                raise LimitExceeded(f"expression is nested more than {self.limits.max_depth} levels deep")
            value = handler(self, node)
        except ExpressionError as exc:
            if exc.line is None:
                exc.line, exc.column = self.text.of(node)
            raise
        except (RecursionError, MemoryError) as exc:
            raise LimitExceeded(f"{type(exc).__name__} in `{_source(node)}`", *self.text.of(node)) from None
        except Exception as exc:
            raise EvaluationError(f"{_describe(exc)} in `{_source(node)}`", *self.text.of(node)) from exc
        finally:
            self.depth -= 1
        if isinstance(node, _RECORDED):
            self.values[node] = value
        return value

    def truth(self, value: Any) -> bool:
        try:
            return bool(value)
        except Exception as exc:
            raise EvaluationError(f"{type(value).__name__} value cannot be used as true/false") from exc

    def _constant(self, node: ast.Constant) -> Any:
        if not isinstance(node.value, _LITERALS):
            raise EvaluationError(f"{type(node.value).__name__} literals are not allowed")
        return node.value

    def _name(self, node: ast.Name) -> Any:
        if node.id.startswith("_") or node.id not in self.names:
            raise EvaluationError(f"name {node.id!r} is not available")
        return self.names[node.id]

    def _attribute(self, node: ast.Attribute) -> Any:
        base, attr = self.eval(node.value), node.attr
        if attr.startswith("_"):
            raise EvaluationError(f"attribute names starting with '_' are not allowed ({attr!r})")
        if base is None:
            return None
        if isinstance(base, Record):
            return base.field(attr)
        for kind, fields in _VALUE_FIELDS:
            if isinstance(base, kind) and attr in fields:
                return fields[attr](base)
        raise EvaluationError(f"{type(base).__name__} value has no field {attr!r}")

    def _subscript(self, node: ast.Subscript) -> Any:
        base = self.eval(node.value)
        if isinstance(node.slice, ast.Slice):
            parts = (node.slice.lower, node.slice.upper, node.slice.step)
            bounds = [None if part is None else self.eval(part) for part in parts]
            if not all(b is None or isinstance(b, int) for b in bounds):
                raise EvaluationError("slice bounds must be integers")
            if base is None:
                return None
            if not isinstance(base, str | list | tuple):
                raise EvaluationError(f"{type(base).__name__} value cannot be sliced")
            return base[slice(*bounds)]
        key = self.eval(node.slice)
        if base is None:
            return None
        if isinstance(base, Mapping):
            return base.get(key)
        if not isinstance(base, str | list | tuple):
            raise EvaluationError(f"{type(base).__name__} value cannot be indexed")
        if not isinstance(key, int):
            raise EvaluationError(f"an index must be an integer, not {type(key).__name__}")
        return base[key] if -len(base) <= key < len(base) else None

    def _call(self, node: ast.Call) -> Any:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        function = self.functions.get(name) if name and not name.startswith("_") else None
        if function is None:
            raise EvaluationError(f"unknown function {name or _source(node.func)!r}")
        args = self._values(node.args, f"arguments of {name}()")
        values = self._values([k.value for k in node.keywords], f"arguments of {name}()")
        keywords: dict[str, Any] = {}
        for keyword, value in zip(node.keywords, values, strict=True):
            if keyword.arg is None:
                raise EvaluationError("keyword unpacking (**) is not allowed")
            keywords[keyword.arg] = value
        try:
            result = function(*args, **keywords)
        except ExpressionError:
            raise
        except TimeoutError:
            raise LimitExceeded(f"{name}() timed out") from None
        except Exception as exc:
            raise EvaluationError(f"{name}() failed: {_describe(exc)}") from exc
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"{name}() used up the {self.limits.time_budget_s * 1000:g} ms time budget")
        check_size(result, self.limits, f"the result of {name}()")
        return result

    def _values(self, nodes: list[ast.expr], what: str) -> list[Any]:
        """Evaluate ``nodes``, refusing as soon as their combined size exceeds ``max_sequence``."""
        values, total, cap = [], len(nodes), self.limits.max_sequence
        for node in nodes:
            values.append(self.eval(node))
            total += weight(values[-1], cap)
            if total > cap:
                raise LimitExceeded(f"{what} are larger than {cap} items/characters in total")
        return values

    def _compare(self, node: ast.Compare) -> Any:
        left, result = self.eval(node.left), True
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.eval(comparator)
            if isinstance(op, ast.Is | ast.IsNot) and right is not None:
                raise EvaluationError("'is' is only allowed as 'is None' or 'is not None'")
            result = _COMPARISONS[type(op)](left, right)
            if not self.truth(result):
                return result
            left = right
        return result

    def _boolop(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for count, operand in enumerate(node.values, 1):
            value = self.eval(operand)
            self.path[node] = count
            if self.truth(value) == isinstance(node.op, ast.Or):  # and: stop at falsy; or: stop at truthy
                self.decided.add(node)
                break
        return value

    def _unaryop(self, node: ast.UnaryOp) -> Any:
        operand = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not self.truth(operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return +operand
        raise EvaluationError("bitwise operators are not allowed")

    def _binop(self, node: ast.BinOp) -> Any:
        return binary(node.op, self.eval(node.left), self.eval(node.right), self.limits)

    def _ifexp(self, node: ast.IfExp) -> Any:
        branch = self.truth(self.eval(node.test))
        self.path[node] = int(branch)
        return self.eval(node.body if branch else node.orelse)

    def _list(self, node: ast.List) -> list[Any]:
        return self._values(node.elts, "list items")

    def _tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self._values(node.elts, "tuple items"))

    def _set(self, node: ast.Set) -> set[Any]:
        return set(self._values(node.elts, "set items"))

    def _dict(self, node: ast.Dict) -> dict[Any, Any]:
        parts: list[ast.expr] = []
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise EvaluationError("dict unpacking (**) is not allowed")
            parts += [key, value]
        items = self._values(parts, "dict items")
        return dict(zip(items[::2], items[1::2], strict=True))

    # --- explanations -------------------------------------------------------------------------------------

    def explain(self) -> str:
        """pytest-style text: the assertion, then ``where``/``and`` lines with sub-expression values."""
        try:
            return self._explain(self.condition.tree.body)
        except Exception:  # pragma: no cover - an explanation must never turn a result into an error
            return f"assert {self.condition.source.strip()}"

    def _explain(self, body: ast.expr) -> str:
        header = _source(body, 10_000)
        if isinstance(body, ast.BoolOp | ast.IfExp):
            header = f"({header})"
        pairs: dict[str, str] = {}
        for node in self._focus(body):
            self._collect(node, pairs)
        lines = [f"assert {header}"]
        for i, (src, value) in enumerate(pairs.items()):
            lines.append(f" {'where' if i == 0 else 'and'} {src} = {value}")
        return "\n".join(lines)

    def _focus(self, node: ast.AST) -> list[ast.AST]:
        """The parts that decided ``node``'s value: the operand an and/or stopped at, the branch taken..."""
        if isinstance(node, ast.BoolOp) and node in self.path:
            evaluated = node.values[: self.path[node]]
            if node in self.decided:
                evaluated = evaluated[-1:]
            return [part for operand in evaluated for part in self._focus(operand)]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self._focus(node.operand)
        if isinstance(node, ast.IfExp) and node in self.path:
            return [node.test, *self._focus(node.body if self.path[node] else node.orelse)]
        return [node]

    def _collect(self, node: ast.AST, pairs: dict[str, str]) -> None:
        """Add ``source = value`` for evaluated names, fields, subscripts and calls, outermost first."""
        negation = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        if negation or isinstance(node, ast.BoolOp | ast.IfExp):
            focus = self._focus(node)
            if focus != [node]:
                for part in focus:
                    self._collect(part, pairs)
                return
        children: list[ast.AST] = list(ast.iter_child_nodes(node))
        if isinstance(node, _RECORDED):
            if node not in self.values:
                return
            pairs.setdefault(_source(node), _short_repr(self.values[node]))
            if isinstance(node, ast.Attribute | ast.Subscript) and isinstance(node.value, _CHAIN):
                children.remove(node.value)  # ticket.requester.tier: do not list ticket.requester too
            if isinstance(node, ast.Call):
                children.remove(node.func)
        for child in children:
            self._collect(child, pairs)


def _describe(exc: Exception) -> str:
    """A short message for a Python error raised while evaluating."""
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError):
        return "number too large"
    text = str(exc)[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_HANDLERS: dict[type[ast.AST], Callable[[_Interpreter, Any], Any]] = {
    ast.Constant: _Interpreter._constant,
    ast.Name: _Interpreter._name,
    ast.Attribute: _Interpreter._attribute,
    ast.Subscript: _Interpreter._subscript,
    ast.Call: _Interpreter._call,
    ast.Compare: _Interpreter._compare,
    ast.BoolOp: _Interpreter._boolop,
    ast.UnaryOp: _Interpreter._unaryop,
    ast.BinOp: _Interpreter._binop,
    ast.IfExp: _Interpreter._ifexp,
    ast.List: _Interpreter._list,
    ast.Tuple: _Interpreter._tuple,
    ast.Set: _Interpreter._set,
    ast.Dict: _Interpreter._dict,
}
