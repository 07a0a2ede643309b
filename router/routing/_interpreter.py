"""The interpreter that runs a compiled condition and explains, pytest-style, why it did not hold."""

from __future__ import annotations

import ast
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from router.routing._condition import Condition, _short_repr, _Source, _source
from router.routing._limits import (
    EvaluationError,
    ExpressionError,
    LimitExceeded,
    Limits,
    binary,
    budget,
    check_size,
    weight,
)
from router.routing._records import _LITERALS, _VALUE_FIELDS, DEFAULT_LIMITS, Record


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
        children = list(_children(node))
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


@functools.lru_cache(maxsize=16384)
def _children(node: ast.AST) -> tuple[ast.AST, ...]:
    """A node's direct children (cached: trees never change once compiled)."""
    return tuple(ast.iter_child_nodes(node))


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
