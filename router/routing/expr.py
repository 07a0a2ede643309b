"""Safe evaluation of routing conditions, with pytest-style explanations of why a condition failed.

A condition is one Python *expression* written by an admin, e.g. ``prediction.confidence < 0.5 and not
ticket.tags``. Conditions are hostile input: they are parsed with :func:`ast.parse` and checked against a
whitelist (:func:`compile_condition`, here), then run by a small interpreter (:func:`evaluate`, in
``_interpreter.py``) that never calls
``eval``/``exec``, reads only declared record fields, calls only registered functions and enforces
:class:`Limits` (time budget, sizes, integer magnitude, regex timeouts). Lookups are null-safe: a missing
field, dict key or list index -- or any lookup on None -- gives None, because tickets are sparse.
"""

from __future__ import annotations

import ast
import io
import tokenize
import warnings
from collections.abc import Iterable
from typing import Any

from router.routing._condition import Condition, _Source, _source
from router.routing._interpreter import Outcome, evaluate
from router.routing._limits import (
    EvaluationError,
    ExpressionError,
    ExpressionSyntaxError,
    LimitExceeded,
    Limits,
    builtin_functions,
    current_limits,
    remaining_time,
)
from router.routing._records import (
    _DATETIME_FIELDS,
    _KNOWN_ATTRIBUTES,
    _LITERALS,
    CONDITION_NAMES,
    DATETIME,
    DEFAULT_LIMITS,
    NAME_TYPES,
    PLAIN,
    UNKNOWN,
    ListOf,
    Record,
    RecordType,
    prediction_record,
    ticket_record,
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
